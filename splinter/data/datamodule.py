"""QADataModule: few-shot training split + evaluation set → windows → batches, for Lightning.

Files. By default the training file is the released split `{root}/mrqa-few-shot/{dataset}/
{dataset}-train-seed-{seed}-num-examples-{shots}.jsonl` and the evaluation file that of `dataset`, or of
`eval_set` to score on another dataset (out-of-domain), by the rule of `splinter.data.splits`.
`root=None` is the default data root ($SPLINTER_DATA_ROOT, else ~/.cache/splinter). When the root has a
MANIFEST.json (`python -m splinter.download`), a file that differs from it is an error. `train_file` /
`eval_file` override them (any format `read_examples` accepts, hub names included); with
`sample_from_full=True` the training file is a full training set from which `shots` questions are drawn with `seed`
(`sample_few_shot`). `max_eval_examples=N` keeps the first N evaluation questions in file order (a
fixed, reproducible slice for CPU runs).

Windows. Training windows carry start/end labels; evaluation windows carry `example_id`, `offsets`,
`max_context` and a `window_index` column (its row number). Evaluation batches contain only the model
inputs plus `window_index`; `evaluation_set` (`splinter.data.evaluation_set.EvaluationSet`) holds the
windows' offsets and masks as tensors, indexed by that column, with the questions' contexts and references.

Order. The training loader shuffles with `EpochShuffleSampler` (order = f(shuffle_seed, epoch), and a
run resumed mid-epoch skips the batches it already saw); `shuffle_seed`
defaults to the seed given to `lightning.seed_everything` (env `PL_GLOBAL_SEED`), else to `seed`; so
the batch order is a function of that seed only. `group_by_length=True` uses `LengthGroupedSampler`,
which groups and skips the same way (splinter.data.samplers).
Evaluation loaders (val/test/predict) never shuffle.

Distributed. Under DDP the training sampler is wrapped in `RankShare`: each process loads its slice of
every global batch, so a step trains on the windows of a single-process step, and a resumed run skips
the same global batches on every process. Evaluation loaders get Lightning's `DistributedSampler`,
which pads the last rank's share by repeating windows, so the span metric de-duplicates gathered
results by `window_index` before decoding.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytorch_lightning as pl
import torch
from datasets import Dataset
from pytorch_lightning.utilities import rank_zero_only
from tokenizers import Tokenizer
from torch.utils.data import DataLoader

from splinter.data.evaluation_set import EvaluationSet
from splinter.data.examples import DataSummary
from splinter.data.formats.readers import file_sha256, read_examples
from splinter.data.release.manifest import check_installed
from splinter.data.samplers import EpochShuffleSampler, LengthGroupedSampler, RankShare
from splinter.data.splits import (
    default_data_root,
    eval_set_name,
    resolve_dev_file,
    resolve_train_file,
    sample_few_shot,
)
from splinter.errors import ConfigError
from splinter.hub import is_hub_id, local_path, looks_like_path, neither

logger = logging.getLogger(__name__)

MODEL_COLUMNS = ("input_ids", "token_type_ids", "attention_mask", "question_position")
WINDOW_INDEX = "window_index"


class QADataModule(pl.LightningDataModule):
    # What a resumed run may change (splinter.run.resume_check): where data are read and cached from
    # (moving the data to another machine), how many processes prepare them (same windows, same
    # order: batches are drawn in the main process's sampler), and the evaluation after training.
    RESUME_MAY_DIFFER = frozenset({"root", "cache_dir", "num_proc", "num_workers", "verbose", "eval_file",
                                   "eval_set", "max_eval_examples", "eval_batch_size"})

    def __init__(
        self,
        tokenizer: str | Tokenizer,
        dataset: str = "squad",
        root: str | None = None,
        shots: int = 16,
        seed: int = 42,
        train_file: str | None = None,
        eval_file: str | None = None,
        eval_set: str | None = None,
        sample_from_full: bool = False,
        max_eval_examples: int | None = None,
        max_seq_length: int = 384,
        doc_stride: int = 128,
        max_query_length: int = 64,
        zero_token_type_ids: bool = True,
        hide_sep: bool = True,
        batch_size: int = 12,
        eval_batch_size: int = 32,
        num_workers: int = 0,
        pad_to_multiple_of: int | None = 8,
        group_by_length: bool = False,
        num_proc: int | None = None,
        cache_dir: str | None = None,
        shuffle_seed: int | None = None,
        verbose: bool = True,
    ):
        super().__init__()
        if isinstance(tokenizer, os.PathLike):  # a path is a name like any other (a str in the hparams)
            tokenizer = os.fspath(tokenizer)
        self.save_hyperparameters(ignore=[] if isinstance(tokenizer, str) else ["tokenizer"])
        from splinter.data.windows import WindowSettings

        self._tokenizer_arg = tokenizer
        self._tokenizer: Tokenizer | None = None if isinstance(tokenizer, str) else tokenizer
        self.dataset = dataset
        self.root = str(default_data_root() if root is None else root)
        # the evaluation set's name for results.json: eval_set when given, else the training dataset's
        self.eval_dataset = eval_set_name(eval_set) if eval_set else str(dataset).lower()
        self.shots, self.seed = int(shots), int(seed)
        self.train_file_arg, self.eval_file_arg = train_file, eval_file
        self.sample_from_full = bool(sample_from_full)
        if max_eval_examples is not None and int(max_eval_examples) <= 0:
            raise ConfigError("data.max_eval_examples", f"must be positive or null, got {max_eval_examples}")
        self.max_eval_examples = None if max_eval_examples is None else int(max_eval_examples)
        self.settings = WindowSettings.from_keys(
            "data.",
            max_seq_length=max_seq_length,
            doc_stride=doc_stride,
            max_query_length=max_query_length,
            zero_token_type_ids=zero_token_type_ids,
            hide_sep=hide_sep,
        )
        if batch_size < 1 or eval_batch_size < 1:
            raise ConfigError("data.batch_size", f"batch sizes must be >= 1, got {batch_size}/{eval_batch_size}")
        self.batch_size, self.eval_batch_size = int(batch_size), int(eval_batch_size)
        self.num_workers, self.pad_to_multiple_of = int(num_workers), pad_to_multiple_of
        self.group_by_length, self.num_proc, self.cache_dir = bool(group_by_length), num_proc, cache_dir
        self.shuffle_seed_arg, self.verbose = shuffle_seed, verbose
        if self.sample_from_full and not train_file:
            raise ConfigError("data.train_file", "sample_from_full=true needs train_file: the full training set")

        self.summaries: list[DataSummary] = []
        self.train_examples: Dataset | None = None
        self.train_windows: Dataset | None = None
        self._eval_examples: Dataset | None = None
        self._eval_windows: Dataset | None = None
        self._evaluation_set: EvaluationSet | None = None
        self._train_path: Path | None = None
        self._eval_path: Path | str | None = None

    # ------------------------------------------------------------------ files

    @property
    def tokenizer(self) -> Tokenizer:
        if self._tokenizer is None:
            from splinter.tokenization.tokenizer import load_tokenizer

            self._tokenizer = load_tokenizer(self._tokenizer_arg)
        return self._tokenizer

    @property
    def train_path(self) -> Path | str:
        """The training file (or hub name) read: the released split unless train_file is given."""
        if self._train_path is None:
            if self.train_file_arg:
                self._train_path = _existing_or_name(self.train_file_arg, "data.train_file")
            else:
                self._train_path = resolve_train_file(self.root, self.dataset, self.shots, self.seed)
        return self._train_path

    @property
    def eval_path(self) -> Path | str:
        if self._eval_path is None:
            if self.eval_file_arg:
                self._eval_path = _existing_or_name(self.eval_file_arg, "data.eval_file")
            else:
                key = "data.eval_set" if self.eval_dataset != str(self.dataset).lower() else "data.dataset"
                self._eval_path = resolve_dev_file(self.root, self.eval_dataset, key)
        return self._eval_path

    @property
    def shuffle_seed(self) -> int:
        if self.shuffle_seed_arg is not None:
            return int(self.shuffle_seed_arg)
        return int(os.environ.get("PL_GLOBAL_SEED", self.seed))

    # ------------------------------------------------------------------ Lightning hooks

    def prepare_data(self) -> None:
        """Parse the files the trainer's stage needs and build their windows once (Lightning runs this on
        local rank 0 only), so that every rank's setup() loads them from the datasets cache. Assigns no
        state. Fitting (or no trainer) prepares both sets, since a run evaluates after training;
        validate/test/predict prepare only the evaluation set: evaluating a checkpoint never reads the
        training file nor builds training windows."""
        if _trainer_stage(self) in (None, "fit"):
            self._train_data(report=False)
        self._eval_windows_data(self._eval_examples_data(report=False), report=False)

    def setup(self, stage: str | None = None, windows: bool = True) -> None:
        """stage None/"fit": training examples + windows; None/"validate"/"test"/"predict": evaluation
        examples and (unless windows=False, e.g. to score a predictions file) evaluation windows."""
        if stage in (None, "fit"):
            self._setup_train()
        if stage in (None, "validate", "test", "predict"):
            if windows:
                self._setup_eval()
            else:
                self._setup_eval_examples()

    def _setup_train(self) -> None:
        if self.train_windows is None:
            self.train_examples, self.train_windows = self._train_data(report=True)

    def _setup_eval_examples(self) -> None:
        if self._eval_examples is None:
            self._eval_examples = self._eval_examples_data(report=True)

    def _setup_eval(self) -> None:
        if self._eval_windows is None:
            self._setup_eval_examples()
            windows = self._eval_windows_data(self._eval_examples, report=True)
            self._eval_windows = windows.add_column(WINDOW_INDEX, list(range(len(windows))))

    def _train_data(self, report: bool) -> tuple[Dataset, Dataset]:
        from splinter.data.windows import build_windows

        examples, summary = read_examples(self.train_path, training=True, cache_dir=self.cache_dir)
        check_installed(self.root, self.train_path, summary.sha256)
        say = self._say if report else _quiet
        if report:
            self._report(summary)
        if self.sample_from_full:
            examples = sample_few_shot(examples, self.shots, self.seed)
            say(f"{summary.name}: sampled {len(examples)} training questions with seed {self.seed}")
        windows = build_windows(examples, self.tokenizer, self.settings, training=True, num_proc=self.num_proc)
        say(f"training windows: {len(windows)} from {len(examples)} questions")
        return examples, windows

    def _eval_examples_data(self, report: bool) -> Dataset:
        examples, summary = read_examples(self.eval_path, training=False, cache_dir=self.cache_dir)
        check_installed(self.root, self.eval_path, summary.sha256)
        if report:
            self._report(summary)
        if self.max_eval_examples is not None and self.max_eval_examples < len(examples):
            examples = examples.select(range(self.max_eval_examples))
            if report:
                self._say(f"{summary.name}: evaluating on the first {len(examples)} questions (max_eval_examples)")
        return examples

    def _eval_windows_data(self, examples: Dataset, report: bool) -> Dataset:
        from splinter.data.windows import build_windows

        windows = build_windows(examples, self.tokenizer, self.settings, training=False, num_proc=self.num_proc)
        if report:
            self._say(f"evaluation windows: {len(windows)} from {len(examples)} questions")
        return windows

    # ------------------------------------------------------------------ loaders

    def _collate(self):
        from splinter.data.batches import Collator
        from splinter.tokenization.tokenizer import special_token_ids

        pad_id = special_token_ids(self.tokenizer).pad  # [PAD] (BERT) or <pad> (RoBERTa)
        return Collator(pad_to_multiple_of=self.pad_to_multiple_of, pad_token_id=pad_id)

    def check_batch_split(self, world_size: int) -> None:
        """Stop in one line, before any work, when the global batch cannot split over `world_size` processes."""
        if self.batch_size % world_size:
            raise ConfigError("data.batch_size", f"the global batch of {self.batch_size} windows does not split "
                              f"evenly over {world_size} processes (use a multiple of {world_size})")

    def process_batch_size(self, world_size: int) -> int:
        """Training windows per batch in each of `world_size` processes: `batch_size` is the global batch
        (the paper's 12), so an optimiser step sees the same windows on any number of devices."""
        self.check_batch_split(world_size)
        return self.batch_size // world_size

    def train_dataloader(self) -> DataLoader:
        self._setup_train()
        windows = self.train_windows
        world = self.trainer.world_size if self.trainer is not None else 1
        batch_size = self.process_batch_size(world)
        # Order = f(seed, epoch) only, in global batches of `self.batch_size`, and skippable: a run
        # resumed mid-epoch sees the same batches (splinter.data.samplers).
        if self.group_by_length:
            lengths = [len(ids) for ids in windows["input_ids"]]
            sampler = LengthGroupedSampler(lengths, self.batch_size, self.shuffle_seed, shuffle=True)
        else:
            sampler = EpochShuffleSampler(len(windows), self.shuffle_seed, self.batch_size)
        if world > 1:
            sampler = RankShare(sampler, world, self.trainer.global_rank)
        # A generator of its own: creating the iterator otherwise draws from the global torch RNG, which
        # would shift every later dropout mask of a run resumed from a checkpoint.
        return DataLoader(windows, batch_size=batch_size, sampler=sampler, collate_fn=self._collate(),
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
                          generator=torch.Generator().manual_seed(self.shuffle_seed))

    def _eval_loader(self) -> DataLoader:
        windows = self.eval_windows.select_columns([*MODEL_COLUMNS, WINDOW_INDEX])
        return DataLoader(windows, batch_size=self.eval_batch_size, shuffle=False, collate_fn=self._collate(),
                          num_workers=self.num_workers)

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader()

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader()

    def predict_dataloader(self) -> DataLoader:
        return self._eval_loader()

    # ------------------------------------------------------------------ what evaluation needs

    @property
    def eval_examples(self) -> Dataset:
        self._setup_eval_examples()
        return self._eval_examples

    @property
    def eval_windows(self) -> Dataset:
        self._setup_eval()
        return self._eval_windows

    @property
    def evaluation_set(self) -> EvaluationSet:
        """The evaluation windows' offsets and masks as tensors, with contexts and references (built once)."""
        if self._evaluation_set is None:
            self._evaluation_set = EvaluationSet.from_windows(self.eval_windows, self.contexts(), self.references())
        return self._evaluation_set

    def references(self) -> dict[str, list[str]]:
        """Question id → gold answers (EM/F1 references) of the evaluation questions."""
        examples = self.eval_examples
        return dict(zip(examples["id"], examples["gold_answers"], strict=True))

    def contexts(self) -> dict[str, str]:
        examples = self.eval_examples
        return dict(zip(examples["id"], examples["context"], strict=True))

    def training_split(self) -> tuple[str, int, int | None]:
        """What the run trained on, as results.json and the report record it: (kind, shots, split seed).

        "released": the release's `shots`-question split number `seed`; "sampled": `shots` questions
        drawn from a full train_file with `seed`; "file": a train_file read whole, whose size is its
        number of questions and which has no split seed (data.shots and data.seed chose nothing).
        """
        if not self.train_file_arg:
            return "released", self.shots, self.seed
        if self.sample_from_full:
            return "sampled", self.shots, self.seed
        if self.train_examples is None:
            raise RuntimeError("training_split() of a train_file needs setup('fit') first")
        return "file", len(self.train_examples), None

    def data_info(self) -> dict:
        """Files, hashes, counts, reader summaries and window settings, for results.json. The training
        file is listed only when it was read (an evaluation-only run never resolves it)."""
        info = {
            "dataset": self.dataset,
            "eval_dataset": self.eval_dataset,
            "root": self.root,
            "shots": self.shots,
            "seed": self.seed,
            "sample_from_full": self.sample_from_full,
            "max_eval_examples": self.max_eval_examples,
            "window_settings": dict(vars(self.settings)),
            "summaries": [s.to_dict() for s in self.summaries],
        }
        if self.train_examples is not None:
            info.update(train_file=str(self.train_path), train_sha256=_sha_or_empty(self.train_path),
                        train_questions=len(self.train_examples), train_windows=len(self.train_windows))
        if self._eval_examples is not None:
            info.update(eval_file=str(self.eval_path), eval_sha256=_sha_or_empty(self.eval_path),
                        eval_questions=len(self._eval_examples))
        if self._eval_windows is not None:
            info["eval_windows"] = len(self._eval_windows)
        return info

    def data_files(self) -> dict[str, dict[str, str]]:
        """Config key → {"path", "sha256"} of the local training and evaluation files, which the resume
        check compares with a checkpoint's (an edited file keeps its name): the hash of what was read
        (its reader summary) when read, else of the file now. A hub dataset has no file to hash."""
        read = {summary.split: summary for summary in self.summaries}
        files = {}
        for split, key, path in (("train", "data.train_file", self.train_path), ("eval", "data.eval_file", self.eval_path)):
            if not isinstance(path, Path):
                continue
            summary = read.get(split)
            sha = summary.sha256 if summary is not None and summary.sha256 else _sha_or_empty(path)
            files[key] = {"path": str(path), "sha256": sha}
        return files

    # ------------------------------------------------------------------ reporting

    def _report(self, summary: DataSummary) -> None:
        self.summaries.append(summary)
        self._say(str(summary))

    @rank_zero_only
    def _say(self, line: str) -> None:
        """Log the line; also print it when verbose and logging would not show it (no root handler,
        as outside Hydra), so that it appears once either way."""
        logger.info("%s", line)
        if self.verbose and not (logging.getLogger().handlers and logger.isEnabledFor(logging.INFO)):
            print(line, flush=True)


def _trainer_stage(datamodule: pl.LightningDataModule) -> str | None:
    """"fit", "validate", "test" or "predict": what the attached trainer is running; None without one."""
    trainer = datamodule.trainer
    return None if trainer is None or trainer.state.fn is None else str(trainer.state.fn.value)


def _quiet(line: str) -> None:
    del line


def _existing_or_name(value, key: str) -> Path | str:
    """A path that exists, or a datasets hub name (splinter.hub's rule)."""
    path = local_path(str(value))
    if path.is_file():
        return path
    if path.is_dir():
        raise ConfigError(key, f"{path} is a directory, not a data file")
    if looks_like_path(str(value)):
        raise ConfigError(key, f"file not found: {path}")
    if not is_hub_id(str(value), suffix=True):
        raise ConfigError(key, neither(str(value), suffix=True))
    return str(value)  # read_examples treats it as a datasets hub name


def _sha_or_empty(path) -> str:
    return file_sha256(path) if isinstance(path, Path) and path.is_file() else ""
