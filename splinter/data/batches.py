"""Rows → batches: dynamic padding (`pad_columns`, the one padding rule; `collate`, `Collator` for QA
windows; pretraining's `collate_passages` pads its rows with `pad_columns` too).

Padding to the longest window of the batch (rounded up to a multiple of 8 for tensor cores) instead of
to max_seq_length saves most of the compute on short SQuAD contexts; grouping windows of similar length
into the same batch (`splinter.data.samplers.LengthGroupedSampler`) keeps that padding small when
training shuffles. `Collator` is a plain module-level class so that DataLoader workers and ddp_spawn
can pickle it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

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
    pads = {name: pad_token_id if name == "input_ids" else 0 for name in _PADDED}
    batch = pad_columns(features, pads, pad_to_multiple_of)
    batch["question_positions"] = torch.tensor([[f["question_position"]] for f in features], dtype=torch.long)
    first = features[0]
    for column in first:
        name = _RENAMES.get(column, column)
        if name in _SCALARS:
            batch[name] = torch.tensor([f[column] for f in features], dtype=torch.long)
    return batch


def pad_columns(rows: Sequence[dict], pads: dict[str, int], pad_to_multiple_of: int | None = None,
                min_length: int = 0) -> dict[str, torch.Tensor]:
    """The columns `pads` names (column → pad value) of `rows` as [B, L] long tensors, every column padded
    to one length L: the longest of them in any row, at least `min_length`, rounded up to a multiple of
    `pad_to_multiple_of` (when set)."""
    length = max(min_length, *(len(row[name]) for row in rows for name in pads))
    if pad_to_multiple_of:
        length = math.ceil(length / pad_to_multiple_of) * pad_to_multiple_of
    return {name: _pad([row[name] for row in rows], length, pad) for name, pad in pads.items()}


def _pad(rows: list[Sequence[int]], length: int, value: int) -> torch.Tensor:
    out = torch.full((len(rows), length), value, dtype=torch.long)
    for i, row in enumerate(rows):
        if len(row):
            out[i, : len(row)] = torch.as_tensor(row, dtype=torch.long)
    return out
