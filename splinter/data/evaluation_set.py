"""The evaluation set as tensors: everything decoding and scoring need besides the model's logits.

Per window (row i = the windows Dataset's row i = a batch's ``window_index``): its question id, its
tokens' char offsets and which of its tokens may start an answer under the max-context rule; per
question: its context (answers are sliced from it) and its gold answers (EM/F1 references).

The per-window columns are kept ragged: one flat array of every window's tokens and where each window
starts in it, 9 bytes per token (int32 offsets + the flag). Padded to the longest window ([windows, 384,
2] int64 and two [windows, 384] masks) they took 6.9 KB per window, most of evaluation's memory per
question; a batch's padded rows are gathered when it is decoded (`rows`), and the padded tables are
still available (`offsets`, `context_masks`, `max_context_masks`) for small sets.

The columns are read once through `datasets`' public Arrow format (``Dataset.with_format("arrow")``);
reading them row by row as Python lists takes ~0.5 s per 2,000 windows, this takes milliseconds.
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
    """``token_offsets`` [T, 2] int32 and ``token_max_context`` [T] bool: every window's tokens one after
    the other (offsets -1 for tokens outside the context); window i's tokens are rows
    ``row_starts[i]:row_starts[i + 1]``. ``example_ids`` the question of each window; ``contexts`` and
    ``references`` keyed by question id."""

    example_ids: list[str]
    token_offsets: Tensor
    token_max_context: Tensor
    row_starts: Tensor
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
            lengths, offsets = _flat(table["offsets"], width=2)
            flag_lengths, max_context = _flat(table["max_context"], width=None)
        else:  # windows_from_columns: per-window numpy arrays
            example_ids = list(windows["example_id"])
            rows = [np.asarray(o, dtype=np.int32).reshape(-1, 2) for o in windows["offsets"]]
            flags = [np.asarray(m).reshape(-1) for m in windows["max_context"]]
            lengths, flag_lengths = np.array([len(r) for r in rows]), np.array([len(f) for f in flags])
            offsets = np.concatenate(rows) if rows else np.zeros((0, 2), dtype=np.int32)
            max_context = np.concatenate(flags) if flags else np.zeros(0, dtype=np.int8)
        if not np.array_equal(lengths, flag_lengths):
            raise ValueError("evaluation windows: every window needs one max_context flag per offset")
        return cls(
            example_ids=example_ids,
            token_offsets=torch.from_numpy(np.array(offsets, dtype=np.int32).reshape(-1, 2)),
            token_max_context=torch.from_numpy(np.asarray(max_context) != 0),
            row_starts=torch.from_numpy(np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])),
            contexts=dict(contexts),
            references=dict(references or {}),
        )

    @property
    def longest(self) -> int:
        """Tokens in the longest window."""
        return int((self.row_starts[1:] - self.row_starts[:-1]).max()) if len(self) else 0

    def rows(self, index: Tensor, length: int) -> tuple[Tensor, Tensor]:
        """Windows `index` as padded rows of `length` tokens: offsets [B, length, 2] (-1 beyond a window's
        end) and max-context flags [B, length] bool, on the device of this set's tensors."""
        index = index.to(self.row_starts.device).long()
        starts = self.row_starts[index]
        lengths = self.row_starts[index + 1] - starts
        position = torch.arange(length, device=starts.device)
        inside = position[None, :] < lengths[:, None]
        flat = torch.where(inside, starts[:, None] + position[None, :], 0)
        if self.token_offsets.shape[0] == 0:  # no tokens at all: every row is padding
            return (torch.full((len(index), length, 2), -1, dtype=torch.int32, device=starts.device),
                    torch.zeros(len(index), length, dtype=torch.bool, device=starts.device))
        offsets = self.token_offsets[flat].masked_fill(~inside[..., None], -1)
        return offsets, self.token_max_context[flat] & inside

    def token_char_offsets(self, index: Tensor, tokens: Tensor) -> Tensor:
        """[N, 2] char offsets of token `tokens[i]` of window `index[i]` (-1, -1 where the token is -1)."""
        index, tokens = index.long(), tokens.long()
        if len(index) == 0:
            return torch.zeros(0, 2, dtype=torch.int32)
        flat = (self.row_starts[index] + tokens.clamp(min=0)).clamp(max=max(self.token_offsets.shape[0] - 1, 0))
        return self.token_offsets[flat].masked_fill((tokens < 0)[:, None], -1)

    def to(self, device: torch.device | str) -> EvaluationSet:
        """The same set with its token tensors on `device` (contexts and references stay Python)."""
        return EvaluationSet(self.example_ids, self.token_offsets.to(device), self.token_max_context.to(device),
                             self.row_starts.to(device), self.contexts, self.references)

    # Padded [N, longest(, 2)] tables of every window: for small sets (one `QuestionAnswerer` chunk,
    # tests); decoding a whole evaluation set gathers a batch's rows with `rows` instead.
    @property
    def offsets(self) -> Tensor:
        return self.rows(torch.arange(len(self)), self.longest)[0]

    @property
    def context_masks(self) -> Tensor:
        return self.offsets[..., 0] >= 0

    @property
    def max_context_masks(self) -> Tensor:
        return self.rows(torch.arange(len(self)), self.longest)[1]


def _flat(column: pa.ChunkedArray | pa.Array, width: int | None) -> tuple[np.ndarray, np.ndarray]:
    """A list<...> Arrow column → (per-row lengths, the rows' values one after the other) (`width`: the
    length of fixed inner lists, e.g. 2 for [start, end) offsets)."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    lengths = array.value_lengths().to_numpy(zero_copy_only=False).astype(np.int64)
    flat = array.flatten()
    if width is not None:
        flat = flat.flatten()
    values = flat.to_numpy(zero_copy_only=False)
    return lengths, values.reshape((-1, width)) if width is not None else values
