"""The evaluation set as tensors: everything decoding and scoring need besides the model's logits.

Per window (row i = the windows Dataset's row i = a batch's ``window_index``): its question id, its
tokens' char offsets and which of its tokens may start an answer under the max-context rule; per
question: its context (answers are sliced from it) and its gold answers (EM/F1 references).

The ragged per-window columns are read once through `datasets`' public Arrow format
(``Dataset.with_format("arrow")``) and padded with numpy; reading them row by row as Python lists
takes ~0.5 s per 2,000 windows, this takes milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import torch
from datasets import Dataset
from torch import Tensor

WINDOW_COLUMNS = ("example_id", "offsets", "max_context")


@dataclass
class EvaluationSet:
    """``offsets`` [N, L, 2] int32 (-1 for tokens outside the context and for padding; int32 as the windows
    store them: half the memory of int64, the largest part of evaluation's per-question state),
    ``context_masks`` / ``max_context_masks`` [N, L] bool, ``example_ids`` the question of each window;
    ``contexts`` and ``references`` keyed by question id."""

    example_ids: list[str]
    offsets: Tensor
    context_masks: Tensor
    max_context_masks: Tensor
    contexts: dict[str, str]
    references: dict[str, list[str]]

    def __len__(self) -> int:
        return len(self.example_ids)

    @classmethod
    def from_windows(
        cls,
        windows: Dataset | Mapping[str, list],
        contexts: Mapping[str, str],
        references: Mapping[str, list[str]] | None = None,
    ) -> EvaluationSet:
        """From evaluation windows (a Dataset from `build_windows`, or the column dict of
        `windows_from_columns`) and the questions' contexts and references."""
        if isinstance(windows, Dataset):
            table = windows.with_format("arrow", columns=list(WINDOW_COLUMNS))[:]
            example_ids = table["example_id"].to_pylist()
            offsets = _padded(table["offsets"], width=2, fill=-1)
            max_context = _padded(table["max_context"], width=None, fill=0)
        else:  # windows_from_columns: per-window numpy arrays
            example_ids = list(windows["example_id"])
            offsets = _stacked([np.asarray(o).reshape(-1, 2) for o in windows["offsets"]], fill=-1)
            max_context = _stacked([np.asarray(m).reshape(-1) for m in windows["max_context"]], fill=0)
        return cls(
            example_ids=example_ids,
            offsets=offsets,
            context_masks=offsets[..., 0] >= 0,
            max_context_masks=max_context.bool(),
            contexts=dict(contexts),
            references=dict(references or {}),
        )


def _padded(column: pa.ChunkedArray | pa.Array, width: int | None, fill: int) -> Tensor:
    """A list<...> Arrow column → int32 tensor [N, longest(, width)] padded with `fill`
    (`width`: the length of fixed inner lists, e.g. 2 for [start, end) offsets)."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    lengths = array.value_lengths().to_numpy(zero_copy_only=False).astype(np.int64)
    longest = int(lengths.max()) if len(lengths) else 0
    flat = array.flatten()
    if width is not None:
        flat = flat.flatten()
    shape = (len(lengths), longest) + (() if width is None else (width,))
    out = np.full(shape, fill, dtype=np.int32)
    values = flat.to_numpy(zero_copy_only=False)  # int32 or int8: assigned without a widened copy
    out[np.arange(longest)[None, :] < lengths[:, None]] = values.reshape((-1,) + shape[2:])
    return torch.from_numpy(out)


def _stacked(rows: list[np.ndarray], fill: int) -> Tensor:
    """Per-window arrays [len(, width)] → int32 tensor [N, longest(, width)] padded with `fill`."""
    longest = max((len(r) for r in rows), default=0)
    out = np.full((len(rows), longest) + (rows[0].shape[1:] if rows else ()), fill, dtype=np.int32)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return torch.from_numpy(out)
