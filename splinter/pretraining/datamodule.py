"""PretrainDataModule: text files → passages → masked rows (recurring spans or MLM) → padded batches.

`objective` picks the per-passage masking (`objectives.py`: "rss", `recurring_spans.mask_passages`, or
"mlm", `masked_lm.mask_passages_mlm`); everything else is the same for both. The two preprocessing
steps (`corpus.load_passages`, then the objective's masking) run through
`datasets.map` with `num_proc` workers and are cached by `datasets` (keyed on the files' size and
modification time and on every option), so a second run, or `setup()` after `prepare_data()`, reads
the cache. Passages without any question (MLM: without any masked piece) are dropped by default
(`drop_empty`): they carry no training signal (the original kept them with all question weights 0).

Streaming (`streaming=True`): nothing is cached; data-loader workers split the stream by file
(a single file feeds one worker); the masking seed of a passage is (seed, its index in the stream a
worker reads), so the masks are reproducible for a fixed file list and `num_workers`; rows are
shuffled in a buffer of `shuffle_buffer` rows, reseeded per epoch (`set_epoch`); the statistics
cover the first `statistics_rows` passages; the trainer needs `max_steps`.

Batches (`collate`): `input_ids`, `attention_mask`, `token_type_ids` (all 0: one segment) [B, L] padded
to the longest row (optionally a multiple of `pad_to_multiple_of`); `question_positions`,
`start_positions`, `end_positions` [B, Q] padded with 0 to the row with most questions (Q ≥ 1);
position 0 is `[CLS]`, never a question, and the model's loss ignores label 0. MLM batches have
`masked_positions` (padded with 0) and `masked_labels` (padded with -100, ignored) [B, P] instead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from splinter.errors import ConfigError
from splinter.pretraining.corpus import load_passages, resolve_sources
from splinter.pretraining.objectives import get_objective
from splinter.pretraining.recurring_spans import CLUSTER_ORDERS, save_statistics

log = logging.getLogger(__name__)

QUESTION_COLUMNS = ("question_positions", "start_positions", "end_positions")


def collate(
    rows: Sequence[dict],
    pad_id: int = 0,
    pad_to_multiple_of: int | None = None,
    label_padding: dict[str, int] | None = None,
) -> dict:
    """Pad a list of pretraining rows into a batch of tensors (see the module docstring).
    `label_padding`: the objective's label columns and their pad values (default: recurring spans')."""
    if label_padding is None:
        label_padding = dict.fromkeys(QUESTION_COLUMNS, 0)
    length = max(len(r["input_ids"]) for r in rows)
    if pad_to_multiple_of:
        length = -(-length // pad_to_multiple_of) * pad_to_multiple_of
    first = next(iter(label_padding))  # the label columns of a row all have its number of targets
    labelled = max(1, max(len(r[first]) for r in rows))
    batch_size = len(rows)
    input_ids = torch.full((batch_size, length), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((batch_size, length), dtype=torch.long)
    out = {name: torch.full((batch_size, labelled), pad, dtype=torch.long) for name, pad in label_padding.items()}
    for i, row in enumerate(rows):
        ids = torch.as_tensor(row["input_ids"], dtype=torch.long)
        input_ids[i, : len(ids)] = ids
        attention_mask[i, : len(ids)] = 1
        for name in label_padding:
            values = row[name]
            if len(values):
                out[name][i, : len(values)] = torch.as_tensor(values, dtype=torch.long)
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "token_type_ids": torch.zeros_like(input_ids),
        **out,
    }


class PretrainCollator:
    """Picklable collate function for data-loader workers."""

    def __init__(self, pad_id: int = 0, pad_to_multiple_of: int | None = None, label_padding=None):
        self.pad_id, self.pad_to_multiple_of, self.label_padding = pad_id, pad_to_multiple_of, label_padding

    def __call__(self, rows):
        return collate(rows, self.pad_id, self.pad_to_multiple_of, self.label_padding)


def _has_questions_batch(question_positions: list) -> list[bool]:
    return [len(q) > 0 for q in question_positions]


class PretrainDataModule(pl.LightningDataModule):
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
        """`tokenizer`: a `tokenizers.Tokenizer`, or a name for `splinter.tokenizer.load_tokenizer`
        (`"minilm"`, a checkpoint directory, a hub id). `files`: see `splinter.pretraining.corpus`.
        `statistics_rows`: how many rows of a streaming dataset the statistics look at.
        `objective`: "rss" or "mlm" (`splinter.pretraining.objectives`): the per-passage masking."""
        super().__init__()
        self.objective = get_objective(objective)
        if cluster_order not in CLUSTER_ORDERS:
            raise ConfigError("data.cluster_order", f"unknown value {cluster_order!r}", CLUSTER_ORDERS)
        if isinstance(files, str):
            files = [files]
        if not files:
            raise ConfigError("data.files", "no input files given")
        self.files = [str(f) for f in files]
        resolve_sources(self.files)  # missing files fail here, before any training is set up
        if isinstance(tokenizer, str):
            from splinter.tokenizer import load_tokenizer

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
        pad = tokenizer.token_to_id("[PAD]")
        self.pad_id = 0 if pad is None else pad
        self.dataset = None
        self.statistics: dict | None = None

    def build_dataset(self):
        """Passages → recurring-span rows (cached for map-style datasets); empty rows dropped."""
        passages = load_passages(
            self.files,
            self.tokenizer,
            max_seq_length=self.max_seq_length,
            one_doc_per_line=self.one_doc_per_line,
            pack_across_documents=self.pack_across_documents,
            streaming=self.streaming,
            num_proc=self.num_proc,
            cache_dir=self.cache_dir,
            text_field=self.text_field,
        )
        return self.objective.mask(passages, self)

    def prepare_data(self):
        if not self.streaming:
            self.build_dataset()  # fills the datasets cache once (rank 0 only under DDP)

    def setup(self, stage: str | None = None):
        if self.dataset is not None:
            return
        rows = self.build_dataset()
        stats_source = rows if not self.streaming else rows.take(self.statistics_rows)
        self.statistics = self.objective.statistics(stats_source, self)
        if self.trainer is None or self.trainer.is_global_zero:
            message = self.objective.format_statistics(self.statistics)
            if log.isEnabledFor(logging.INFO):  # train.py: into the run's log
                log.info(message)
            else:
                print(message)
            if self.statistics_path:
                self.save_statistics(self.statistics_path)
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
                if len(rows) == 0:
                    raise ConfigError(
                        "data.files", "no passage has a recurring span: the corpus is too small or too short"
                    )
        if self.streaming:
            if self.trainer is not None and self.trainer.world_size > 1:
                from datasets.distributed import split_dataset_by_node

                rows = split_dataset_by_node(rows, rank=self.trainer.global_rank, world_size=self.trainer.world_size)
            if self.shuffle:
                rows = rows.shuffle(seed=self.seed, buffer_size=self.shuffle_buffer)
        self.dataset = rows

    def save_statistics(self, path: str) -> None:
        if self.statistics is None:
            self.setup()
        save_statistics(self.statistics, path)

    def train_dataloader(self) -> DataLoader:
        if self.dataset is None:
            self.setup("fit")
        collator = PretrainCollator(self.pad_id, self.pad_to_multiple_of, self.objective.label_padding)
        common = dict(
            batch_size=self.batch_size,
            collate_fn=collator,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )
        if self.streaming:
            return DataLoader(self.dataset, **common)
        generator = torch.Generator().manual_seed(self.seed)
        return DataLoader(self.dataset, shuffle=self.shuffle, generator=generator, **common)

    def set_epoch(self, epoch: int) -> None:
        """Streaming: a different shuffle order per epoch (`IterableDataset.set_epoch`); called by
        `PretrainModule.on_train_epoch_start`. Map-style datasets reshuffle through their sampler."""
        if self.streaming and self.dataset is not None:
            self.dataset.set_epoch(epoch)
