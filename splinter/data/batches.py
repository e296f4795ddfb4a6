"""Windows → batches: dynamic padding (`collate`, `Collator`) and a length-grouped sampler.

Padding to the longest window of the batch (rounded up to a multiple of 8 for tensor cores) instead of
to max_seq_length saves most of the compute on short SQuAD contexts; grouping windows of similar length
into the same batch (`LengthGroupedSampler`) keeps that padding small when training shuffles.
Both are plain module-level classes so that DataLoader workers and ddp_spawn can pickle them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler

# Model inputs padded along the sequence; the pad value of input_ids is the tokenizer's [PAD] id.
_PADDED = ("input_ids", "attention_mask", "token_type_ids")
# Per-window integers that go into the batch as [B] tensors when present.
_SCALARS = ("start_positions", "end_positions", "window_index")
# Window column name → batch name (the model takes plural label names, the windows store singular).
_RENAMES = {"start_position": "start_positions", "end_position": "end_positions"}


class Collator:
    """Callable collate_fn: `Collator(pad_to_multiple_of=8, pad_token_id=0)(features)`; picklable."""

    def __init__(self, pad_to_multiple_of: int | None = 8, pad_token_id: int = 0):
        if pad_to_multiple_of is not None and pad_to_multiple_of < 1:
            raise ValueError(f"pad_to_multiple_of must be >= 1 or None, got {pad_to_multiple_of}")
        self.pad_to_multiple_of = pad_to_multiple_of
        self.pad_token_id = pad_token_id

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        return collate(features, self.pad_to_multiple_of, self.pad_token_id)

    def __repr__(self) -> str:
        return f"Collator(pad_to_multiple_of={self.pad_to_multiple_of}, pad_token_id={self.pad_token_id})"


def collate(
    features: list[dict], pad_to_multiple_of: int | None = 8, pad_token_id: int = 0
) -> dict[str, torch.Tensor]:
    """Pad a list of windows into model tensors.

    Returns input_ids, attention_mask, token_type_ids [B, L] (long; L = longest window rounded up to
    `pad_to_multiple_of`; padding: pad_token_id / 0 / 0), question_positions [B, 1], and, when the
    windows carry them, start_positions / end_positions [B] and window_index [B]. Other columns
    (example_id, offsets, max_context) stay outside the batch: decoding looks them up by window_index.
    """
    if not features:
        raise ValueError("cannot collate an empty list of windows")
    lengths = [len(f["input_ids"]) for f in features]
    length = max(lengths)
    if pad_to_multiple_of:
        length = math.ceil(length / pad_to_multiple_of) * pad_to_multiple_of
    batch: dict[str, torch.Tensor] = {}
    for name in _PADDED:
        pad = pad_token_id if name == "input_ids" else 0
        batch[name] = _pad([f[name] for f in features], length, pad)
    batch["question_positions"] = torch.tensor([[f["question_position"]] for f in features], dtype=torch.long)
    first = features[0]
    for column in first:
        name = _RENAMES.get(column, column)
        if name in _SCALARS:
            batch[name] = torch.tensor([f[column] for f in features], dtype=torch.long)
    return batch


def _pad(rows: list[Sequence[int]], length: int, value: int) -> torch.Tensor:
    out = torch.full((len(rows), length), value, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.as_tensor(row, dtype=torch.long)
    return out


class LengthGroupedSampler(Sampler[int]):
    """Indices ordered so that consecutive `batch_size` chunks hold windows of similar length.

    Per epoch: permute the indices (seeded by seed + epoch), cut the permutation into mega-batches of
    `mega_batch_factor × batch_size`, sort each by length (longest first) and cut it into batches,
    then shuffle the order of the batches, except that the batch with the longest window goes first
    so that an out-of-memory error shows up at the first step rather than hours later. Without
    `shuffle` the same grouping is applied to 0..n-1 and the batch order kept (deterministic, epoch
    independent). Call `set_epoch` each epoch (Lightning does) for a new order.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int, shuffle: bool = True,
                 mega_batch_factor: int = 50):
        if batch_size < 1 or mega_batch_factor < 1:
            raise ValueError(
                f"batch_size and mega_batch_factor must be >= 1, got {batch_size}, {mega_batch_factor}"
            )
        self.lengths = torch.as_tensor(list(lengths), dtype=torch.long)
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.mega_batch_factor = mega_batch_factor
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def indices(self) -> torch.Tensor:
        """This epoch's order as a tensor (a permutation of 0..n-1)."""
        n = len(self.lengths)
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        mega = self.batch_size * self.mega_batch_factor
        batches: list[torch.Tensor] = []
        for chunk in order.split(mega):
            # stable sort: equal lengths keep their (random) order
            by_length = chunk[torch.sort(self.lengths[chunk], descending=True, stable=True).indices]
            batches.extend(by_length.split(self.batch_size))
        if not self.shuffle or len(batches) < 2:
            return torch.cat(batches) if batches else order
        # Only the very last batch can be short; it stays last so that every other batch boundary of
        # the DataLoader falls on a group boundary.
        short = [batches.pop()] if len(batches[-1]) < self.batch_size else []
        batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        if batches:
            longest = max(range(len(batches)), key=lambda i: int(self.lengths[batches[i][0]]))
            batches.insert(0, batches.pop(longest))
        return torch.cat(batches + short)


class EpochShuffleSampler(Sampler[int]):
    """A seeded shuffle whose order depends only on (seed, epoch), with an optional skip on resume."""

    def __init__(self, num_items: int, seed: int, batch_size: int, shuffle: bool = True):
        self.num_items, self.seed, self.batch_size, self.shuffle = num_items, seed, batch_size, shuffle
        self.epoch = 0
        self._skip_batches = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def skip_batches(self, count: int) -> int:
        """Drop the first `count` batches of the next iteration (the ones a resumed run already saw);
        returns how many will be skipped.

        A checkpoint taken after the epoch's last batch resumes at the next epoch: nothing to skip.
        """
        self._skip_batches = count if count < self.num_batches else 0
        return self._skip_batches

    @property
    def num_batches(self) -> int:
        return -(-self.num_items // self.batch_size)

    def order(self) -> list[int]:
        if not self.shuffle:
            return list(range(self.num_items))
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(self.num_items, generator=generator).tolist()

    def __iter__(self):
        skip, self._skip_batches = self._skip_batches * self.batch_size, 0
        return iter(self.order()[skip:])

    def __len__(self) -> int:
        return self.num_items
