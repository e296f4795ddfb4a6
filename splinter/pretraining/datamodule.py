"""PretrainDataModule: text files → passages → masked rows (recurring spans or MLM) → padded batches.

`objective` picks the per-passage masking (`objectives.py`: "rss", `recurring_spans.mask_passages`, or
"mlm", `masked_lm.mask_passages_mlm`); everything else is the same for both. The two preprocessing
steps (`corpus.load_passages`, then the objective's masking) run through
`datasets.map` with `num_proc` workers and are cached by `datasets` (keyed on the files' size and
modification time and on every option), so a second run, or `setup()` after `prepare_data()`, reads
the cache. Passages without any question (MLM: without any masked piece) are dropped by default
(`drop_empty`): they carry no training signal (the original kept them with all question weights 0).
The statistics count the dropped passages and the records with blank text that were skipped; a corpus
that gives no training signal at all (RSS: no passage has a recurring span) is an error (there is
nothing to train on), the same one in both modes below.

Streaming (`streaming=True`): nothing is cached; data-loader workers split the stream by file
(one worker per file at most: more would idle); the masking seed of a passage is (seed, its index in
the stream a worker reads), so the masks are reproducible for a fixed file list and number of
workers; rows are shuffled in a buffer of `shuffle_buffer` rows, reseeded per epoch (`set_epoch`);
the statistics and counts cover the first `statistics_rows` passages (and records): that bounded
look-ahead is where a stream without any recurring span is detected; the trainer needs `max_steps`.
A `SplinterError` raised while a worker reads (a bad line late in a file) reaches the main process
as itself (`WorkerErrors`), not as a traceback of the worker.

Resuming mid-epoch (splinter.run.resume) is exact in both modes: map-style rows are drawn by an
`EpochShuffleSampler` (order = f(seed, epoch); `RankShare` under DDP), which skips the batches a
checkpoint already trained on; a stream's `SkippableStreamLoader` reads them again and drops them
(`resume_stream`). The masks need nothing restored: they are fixed per passage.

Batches (`collate_passages`): `input_ids`, `attention_mask`, `token_type_ids` (all 0: one segment) [B, L] padded
to the longest row (optionally a multiple of `pad_to_multiple_of`); `question_positions`,
`start_positions`, `end_positions` [B, Q] padded with 0 to the row with most questions (Q ≥ 1);
position 0 is `[CLS]`, never a question, and the model's loss ignores label 0. MLM batches have
`masked_positions` (padded with 0) and `masked_labels` (padded with -100, ignored) [B, P] instead.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from splinter.data.batches import pad_columns
from splinter.data.samplers import EpochShuffleSampler, RankShare, SkippableStreamLoader
from splinter.errors import ConfigError, SplinterError
from splinter.pretraining.corpus import count_empty_records, pack_documents, read_documents, resolve_sources
from splinter.pretraining.objectives import get_objective
from splinter.pretraining.recurring_spans import CLUSTER_ORDERS, save_statistics
from splinter.tokenization.tokenizer import load_tokenizer, special_token_ids

log = logging.getLogger(__name__)

QUESTION_COLUMNS = ("question_positions", "start_positions", "end_positions")


def collate_passages(
    rows: Sequence[dict],
    pad_id: int = 0,
    pad_to_multiple_of: int | None = None,
    label_padding: dict[str, int] | None = None,
) -> dict:
    """Pad a list of pretraining rows into a batch of tensors (see the module docstring) with the QA
    windows' padding rule (`splinter.data.batches.pad_columns`).
    `label_padding`: the objective's label columns and their pad values (default: recurring spans')."""
    if label_padding is None:
        label_padding = dict.fromkeys(QUESTION_COLUMNS, 0)
    batch = pad_columns(rows, {"input_ids": pad_id}, pad_to_multiple_of)
    input_ids = batch["input_ids"]
    lengths = torch.tensor([len(r["input_ids"]) for r in rows], dtype=torch.long)
    attention_mask = (torch.arange(input_ids.shape[1]) < lengths[:, None]).long()
    # the label columns of a row all have its number of targets; at least one column, all padding
    labels = pad_columns(rows, label_padding, min_length=1)
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "token_type_ids": torch.zeros_like(input_ids),
        **labels,
    }


class CarriedError:
    """A `SplinterError` raised in a data-loader worker, travelling as a row and then as the batch.

    torch re-raises a worker's exception as its type called with the worker's formatted traceback
    (or as a RuntimeError when that call fails), so the one-line message would be lost; this object
    is pickled with the error itself instead, and `PretrainDataModule.on_before_batch_transfer`
    raises it in the main process."""

    def __init__(self, error: SplinterError):
        self.error = error


class WorkerErrors(torch.utils.data.IterableDataset):
    """Wraps a streaming dataset: a `SplinterError` while iterating ends the stream with a `CarriedError`."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __iter__(self):
        try:
            yield from self.dataset
        except SplinterError as error:
            yield CarriedError(error)


class PretrainCollator:
    """Picklable collate function for data-loader workers."""

    def __init__(self, pad_id: int = 0, pad_to_multiple_of: int | None = None, label_padding=None):
        self.pad_id, self.pad_to_multiple_of, self.label_padding = pad_id, pad_to_multiple_of, label_padding

    def __call__(self, rows):
        carried = [row for row in rows if isinstance(row, CarriedError)]
        if carried:
            return carried[0]
        return collate_passages(rows, self.pad_id, self.pad_to_multiple_of, self.label_padding)


def _has_questions_batch(question_positions: list) -> list[bool]:
    return [len(q) > 0 for q in question_positions]


class PretrainDataModule(pl.LightningDataModule):
    # What a resumed run may change (splinter.run.resume_check): caches, preprocessing processes and
    # where the statistics go. Not num_workers: a stream's masks depend on the number of workers.
    RESUME_MAY_DIFFER = frozenset({"cache_dir", "num_proc", "statistics_path", "statistics_rows"})

    def __init__(
        self,
        files: str | Sequence[str],
        tokenizer="minilm",
        max_seq_length: int = 512,
        max_questions: int = 30,
        mask_ratio: float = 0.15,
        max_span_length: int = 10,
        cluster_order: str = "longest",
        seed: int = 42,
        batch_size: int = 32,
        num_workers: int = 0,
        num_proc: int | None = None,
        streaming: bool = False,
        one_doc_per_line: bool = False,
        pack_across_documents: bool = False,
        text_field: str = "text",
        drop_empty: bool = True,
        shuffle: bool = True,
        shuffle_buffer: int = 10_000,
        pad_to_multiple_of: int | None = None,
        cache_dir: str | None = None,
        statistics_path: str | None = None,
        statistics_rows: int = 10_000,
        debug: bool = False,
        objective: str = "rss",
    ):
        """`tokenizer`: a `tokenizers.Tokenizer`, or a name for `splinter.tokenization.tokenizer.load_tokenizer`
        (`"minilm"`, a checkpoint directory, a hub id). `files`: see `splinter.pretraining.corpus`.
        `statistics_rows`: how many rows of a streaming dataset the statistics look at.
        `objective`: "rss" or "mlm" (`splinter.pretraining.objectives`): the per-passage masking."""
        super().__init__()
        # Stored in checkpoints, for the check on resume; the tokenizer is checked by the module's setup().
        self.save_hyperparameters(ignore=["tokenizer", "files"])
        self.objective = get_objective(objective)
        if cluster_order not in CLUSTER_ORDERS:
            raise ConfigError("data.cluster_order", f"unknown value {cluster_order!r}", CLUSTER_ORDERS)
        if streaming and (statistics_rows is None or statistics_rows < 1):
            raise ConfigError("data.statistics_rows", f"streaming needs a positive look-ahead, got {statistics_rows}")
        if isinstance(files, str):
            files = [files]
        if not files:
            raise ConfigError("data.files", "no input files given")
        self.files = [str(f) for f in files]
        self.hparams["files"] = list(self.files)  # plain strings: the .ckpt loads with weights_only=True
        resolve_sources(self.files)  # missing files fail here, before any training is set up
        if isinstance(tokenizer, (str, os.PathLike)):
            tokenizer = load_tokenizer(tokenizer)
        self.tokenizer = tokenizer
        self.max_seq_length, self.max_questions = max_seq_length, max_questions
        self.mask_ratio, self.max_span_length, self.cluster_order = mask_ratio, max_span_length, cluster_order
        self.seed, self.batch_size, self.num_workers, self.num_proc = seed, batch_size, num_workers, num_proc
        self.streaming, self.one_doc_per_line = streaming, one_doc_per_line
        self.pack_across_documents, self.text_field = pack_across_documents, text_field
        self.drop_empty, self.shuffle, self.shuffle_buffer = drop_empty, shuffle, shuffle_buffer
        self.pad_to_multiple_of, self.cache_dir = pad_to_multiple_of, cache_dir
        self.statistics_path, self.statistics_rows, self.debug = statistics_path, statistics_rows, debug
        self.pad_id = special_token_ids(tokenizer).pad  # [PAD] (BERT) or <pad> (RoBERTa), as fine-tuning pads
        self.dataset = None
        self.statistics: dict | None = None

    def build_dataset(self):
        """(documents, recurring-span rows), both cached for map-style datasets; nothing dropped yet."""
        documents = read_documents(
            self.files, self.one_doc_per_line, self.streaming, self.cache_dir, self.text_field, self.num_proc
        )
        passages = pack_documents(
            documents, self.tokenizer, self.max_seq_length, self.pack_across_documents, self.num_proc
        )
        return documents, self.objective.mask(passages, self)

    def prepare_data(self):
        if not self.streaming:
            self.build_dataset()  # fills the datasets cache once (rank 0 only under DDP)

    def setup(self, stage: str | None = None):
        if self.dataset is not None:
            return
        documents, rows = self.build_dataset()
        self.statistics = self.count(documents, rows)
        if self.trainer is None or self.trainer.is_global_zero:
            for message in (self.objective.format_statistics(self.statistics), format_counts(self.statistics)):
                if log.isEnabledFor(logging.INFO):  # train.py: into the run's log
                    log.info(message)
                else:
                    print(message)
            if self.statistics_path:
                self.save_statistics(self.statistics_path)
        if _training_signal(self.statistics) == 0:
            raise ConfigError("data.files", no_recurring_span_message(self.statistics))
        if self.drop_empty:
            if self.streaming:
                rows = rows.filter(_has_questions_batch, input_columns=self.objective.labelled_column, batched=True)
            else:
                rows = rows.filter(
                    _has_questions_batch,
                    input_columns=self.objective.labelled_column,
                    batched=True,
                    num_proc=self.num_proc,
                    desc="Dropping passages without questions",
                )
        if self.streaming:
            if self.trainer is not None and self.trainer.world_size > 1:
                from datasets.distributed import split_dataset_by_node

                rows = split_dataset_by_node(rows, rank=self.trainer.global_rank, world_size=self.trainer.world_size)
            if self.shuffle:
                rows = rows.shuffle(seed=self.seed, buffer_size=self.shuffle_buffer)
        self.dataset = rows

    def count(self, documents, rows) -> dict:
        """`span_statistics` plus what is dropped: passages without a recurring span (when
        `drop_empty`) and records with blank text; streaming: over the first `statistics_rows`
        passages and records (`streaming_lookahead` says so when the stream is longer)."""
        lookahead = self.statistics_rows if self.streaming else None
        stats = self.objective.statistics(rows if lookahead is None else rows.take(lookahead), self)
        records, empty = count_empty_records(documents, lookahead)
        without = _passages_without_signal(stats)
        partial = lookahead is not None and (stats["passages"] >= lookahead or records >= lookahead)
        stats.update(
            records=records,
            empty_records_skipped=empty,
            passages_dropped=without if self.drop_empty else 0,
            streaming_lookahead=lookahead if partial else None,  # None: the counts cover the whole corpus
        )
        return stats

    def save_statistics(self, path: str) -> None:
        if self.statistics is None:
            self.setup()
        save_statistics(self.statistics, path)

    def train_dataloader(self) -> DataLoader:
        if self.dataset is None:
            self.setup("fit")
        collator = PretrainCollator(self.pad_id, self.pad_to_multiple_of, self.objective.label_padding)
        workers = self.stream_workers() if self.streaming else self.num_workers
        common = dict(
            batch_size=self.batch_size,
            collate_fn=collator,
            num_workers=workers,
            persistent_workers=workers > 0,
        )
        # A generator of its own: creating the iterator otherwise draws from the global torch RNG, which
        # would shift every later dropout mask of a run resumed from a checkpoint (splinter.run.resume).
        generator = torch.Generator().manual_seed(self.seed)
        if self.streaming:
            stream = WorkerErrors(self.dataset) if workers else self.dataset
            loader = SkippableStreamLoader(stream, generator=generator, **common)
            self.resume_stream(loader)
            return loader
        # Order = f(seed, epoch), skippable on resume; under DDP each process takes its `batch_size` slice
        # of every global batch (RankShare), rather than Lightning's DistributedSampler, which cannot skip.
        world = self.trainer.world_size if self.trainer is not None else 1
        sampler = EpochShuffleSampler(len(self.dataset), self.seed, self.batch_size * world, shuffle=self.shuffle)
        if world > 1:
            sampler = RankShare(sampler, world, self.trainer.global_rank)
        return DataLoader(self.dataset, sampler=sampler, generator=generator, **common)

    def resume_stream(self, loader: SkippableStreamLoader) -> None:
        """A resumed run: the stream's shuffle for the restored epoch and the skip of its consumed batches,
        set now, before Lightning builds the iterator (and starts the workers) and fetches a batch ahead.
        Lightning restored the checkpoint (the loops' progress, the module's `ResumeState`) before asking
        for this loader; the module's on_train_start comes too late for a stream. A checkpoint written
        at the last batch of an epoch (Lightning knew it was the last: it fetches one ahead) goes on with
        the next epoch from its first batch, and that is the epoch this iterator serves."""
        if self.trainer is None:
            return
        ended = bool(self.trainer.fit_loop.epoch_loop.batch_progress.is_last_batch)
        self.set_epoch(self.trainer.current_epoch + ended)
        resume = getattr(self.trainer.lightning_module, "resume", None)
        if resume is not None:
            if ended:
                resume.nothing_to_skip()
            resume.training_started(loader)

    def stream_workers(self) -> int:
        """`num_workers`, at most the stream's shards (files) of this process: `datasets` gives each
        worker whole shards, so extra workers would only idle (and warn at every epoch)."""
        shards = self.dataset.num_shards
        world = self.trainer.world_size if self.trainer is not None else 1
        if world > 1 and shards % world == 0:  # split_dataset_by_node hands out whole shards
            shards //= world
        workers = min(self.num_workers, shards)
        if workers < self.num_workers:
            log.info(
                "data.num_workers=%d, but the stream has %d shard%s (one per file) for this process: using %d",
                self.num_workers, shards, "" if shards == 1 else "s", workers,
            )
        return workers

    def on_before_batch_transfer(self, batch, dataloader_idx: int):
        if isinstance(batch, CarriedError):  # raised while a worker read the stream (see WorkerErrors)
            raise batch.error
        return batch

    def set_epoch(self, epoch: int) -> None:
        """Streaming: a different shuffle order per epoch (`IterableDataset.set_epoch`); called by
        `PretrainModule.on_train_epoch_start` and, for a resumed epoch (which Lightning does not start
        again), by `resume_stream`. Map-style datasets reshuffle through their sampler."""
        if self.streaming and self.dataset is not None:
            self.dataset.set_epoch(epoch)


def format_counts(stats: dict) -> str:
    """One log line: what was dropped or skipped, of how many (`PretrainDataModule.count`)."""
    passages, dropped = stats["passages"], stats["passages_dropped"]
    without = _passages_without_signal(stats)
    if dropped or not without:
        kept = f"kept {passages - dropped} of {passages} passages: {dropped} without a recurring span dropped"
    else:
        kept = f"kept all {passages} passages ({without} without a recurring span: data.drop_empty=false)"
    skipped = f"{stats['empty_records_skipped']} of {stats['records']} records skipped (blank text)"
    scope = "" if stats["streaming_lookahead"] is None else f" (the first {stats['streaming_lookahead']} of the stream)"
    return f"{kept}; {skipped}{scope}"


def no_recurring_span_message(stats: dict) -> str:
    """The one line for a corpus (or a stream's look-ahead) in which no passage has a recurring span."""
    passages, lookahead = stats["passages"], stats["streaming_lookahead"]
    if passages == 0:
        return "the corpus gives no passage (every record is blank), so there is nothing to train on"
    if lookahead is not None and passages >= lookahead:
        where = f"none of the first {passages} passages of the stream (the look-ahead, data.statistics_rows)"
    else:
        where = f"none of the {passages} passages"
    return (
        f"{where} has a recurring span (whole words that occur twice in a passage), so there is nothing to "
        "train on: the corpus is too small or its passages too short"
    )


def _passages_without_signal(stats: dict) -> int:
    """Passages with no question (RSS); MLM masks at least one piece of every passage."""
    return stats.get("questions_per_passage_hist", {}).get("0", 0)


def _training_signal(stats: dict) -> int:
    """Questions (RSS) or masked pieces (MLM) in the counted passages."""
    return stats["questions"] if "questions" in stats else stats["masked_tokens"]
