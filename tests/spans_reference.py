"""Helpers the span tests use and production does not: list → tensor padding (production reads the
windows through `EvaluationSet`), the exact band search (the arg-max the paper's top-k rule can miss),
and concatenating candidates."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from splinter.qa.spans import SpanCandidates, best_predictions, ranked_candidates, top_spans


def _length(rows, length: int | None) -> int:
    longest = max((len(r) for r in rows), default=0)
    if length is not None and longest > length:
        raise ValueError(f"a window has {longest} tokens, more than the padded length {length}")
    return longest if length is None else length


def pad_offsets(offsets, length: int | None = None) -> Tensor:
    """Per-window [[start, end), ...] lists (None or [-1, -1] outside the context) → LongTensor [N, L, 2]."""
    length = _length(offsets, length)
    out = np.full((len(offsets), length, 2), -1, dtype=np.int64)
    for i, row in enumerate(offsets):
        for j, pair in enumerate(row):
            if pair is not None:
                out[i, j] = pair
    return torch.from_numpy(out)


def pad_mask(rows, length: int | None = None) -> Tensor:
    length = _length(rows, length)
    out = torch.zeros(len(rows), length, dtype=torch.bool)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.as_tensor(list(row), dtype=torch.bool)
    return out


def context_mask_from_offsets(offsets, length: int | None = None) -> Tensor:
    return pad_offsets(offsets, length)[..., 0] >= 0


def band_spans(start_logits, end_logits, context_mask, max_answer_length, n_best, max_context_mask=None):
    """Every valid pair with 0 <= end - start < max_answer_length, ranked like `top_spans`: the exact
    arg-max of start + end under the same constraints."""
    n, length = start_logits.shape
    start, end = start_logits.float(), end_logits.float()
    in_context = context_mask.bool()
    start_ok = in_context if max_context_mask is None else in_context & max_context_mask.bool()
    width = min(max_answer_length, length)
    starts = torch.arange(length)[:, None].expand(length, width)
    ends = starts + torch.arange(width)  # may run past the window: masked below
    starts, ends = starts.expand(n, length, width), ends.expand(n, length, width)
    end_band = F.pad(end, (0, width - 1), value=-math.inf).unfold(1, width, 1)
    ctx_band = F.pad(in_context.to(torch.uint8), (0, width - 1)).unfold(1, width, 1).bool()
    return ranked_candidates(start[:, :, None] + end_band, starts, ends, start_ok[:, :, None] & ctx_band, n_best)


def cat(parts: list[SpanCandidates]) -> SpanCandidates:
    return SpanCandidates(*(torch.cat([getattr(p, f) for p in parts]) for f in ("scores", "starts", "ends", "valid")))


def decode_predictions(start_logits, end_logits, example_ids, offsets, contexts, max_context=None,
                       max_answer_length=10, n_best=20):
    """`top_spans` + `best_predictions` on list inputs."""
    length = start_logits.shape[-1]
    offsets = pad_offsets(offsets, length)
    mc = None if max_context is None else pad_mask(max_context, length)
    c = top_spans(start_logits, end_logits, offsets[..., 0] >= 0, max_answer_length, n_best, mc)
    return best_predictions(example_ids, c.scores, c.starts, c.ends, offsets, contexts)
