"""SpanMetric: EM/F1 of decoded answer spans over an evaluation set, as a `torchmetrics.Metric`.

`update` decodes a batch's logits into each window's best span on the logits' device (no logits are
kept); its four states (window index, score, start, end per window) are concatenated across processes by
torchmetrics (``dist_reduce_fx="cat"``). `compute` drops the windows that DistributedSampler repeated to
even out the shards, picks the best window per question (`splinter.spans.best_answers`) and scores with
`splinter.metrics.squad_scores`, so every question is scored exactly once under any number of processes.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from splinter.data.evaluation_set import EvaluationSet
from splinter.metrics import squad_scores
from splinter.spans import best_answers, top_spans

_STATES = ("window_index", "score", "start", "end")


class SpanMetric(Metric):
    full_state_update = False

    def __init__(
        self,
        evaluation_set: EvaluationSet,
        max_answer_length: int = 10,
        n_best: int = 20,
        use_max_context: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.evaluation_set = evaluation_set
        self.max_answer_length, self.n_best, self.use_max_context = max_answer_length, n_best, use_max_context
        for name in _STATES:
            self.add_state(name, default=[], dist_reduce_fx="cat")
        self._masks: tuple[Tensor, Tensor] | None = None  # the set's masks on the logits' device

    def update(self, window_index: Tensor, start_logits: Tensor, end_logits: Tensor) -> None:
        """One batch: `window_index` [B] (rows of the evaluation set), logits [B, L] (one question per
        window)."""
        context_masks, max_context_masks = self._masks_on(start_logits.device)
        length = start_logits.size(1)
        window_index = window_index.to(start_logits.device)
        candidates = top_spans(
            start_logits,
            end_logits,
            _rows(context_masks, window_index, length),
            max_answer_length=self.max_answer_length,
            n_best=self.n_best,
            max_context_mask=_rows(max_context_masks, window_index, length) if self.use_max_context else None,
        )
        # Only each window's best span can win across windows, so one candidate per window is kept.
        self.window_index.append(window_index)
        self.score.append(torch.where(candidates.valid[:, 0], candidates.scores[:, 0], -math.inf))
        self.start.append(candidates.starts[:, 0])
        self.end.append(candidates.ends[:, 0])

    def compute(self) -> dict[str, Any]:
        """{"predictions": question id → answer text, "exact_match", "f1", "num_questions",
        "num_windows"} (scores in percent, as squad_scores)."""
        index, score, start, end = (_cat(getattr(self, name)) for name in _STATES)
        index, first = _first_occurrence(index)
        evaluation = self.evaluation_set
        offsets, start, end = _span_token_offsets(evaluation.offsets, index, start[first], end[first])
        predictions = best_answers(
            [evaluation.example_ids[i] for i in index.tolist()], score[first], start, end, offsets, evaluation.contexts,
        )
        return {
            "predictions": predictions,
            **squad_scores(predictions, evaluation.references),
            "num_questions": len(evaluation.references),
            "num_windows": int(index.numel()),
        }

    def _masks_on(self, device: torch.device) -> tuple[Tensor, Tensor]:
        # Copied to the device once per evaluation set, not once per batch.
        if self._masks is None or self._masks[0].device != device:
            evaluation = self.evaluation_set
            self._masks = (evaluation.context_masks.to(device), evaluation.max_context_masks.to(device))
        return self._masks


def _cat(state: list[Tensor] | Tensor) -> Tensor:
    """A cat state as one CPU tensor (a list before the cross-process sync, a tensor after it)."""
    if isinstance(state, list) and not state:
        return torch.empty(0)
    return dim_zero_cat(state).cpu()


def _first_occurrence(index: Tensor) -> tuple[Tensor, Tensor]:
    """Unique values of `index` (sorted) and, for each, the position of one occurrence."""
    index = index.long()
    unique, inverse = torch.unique(index, sorted=True, return_inverse=True)
    position = torch.full((unique.numel(),), -1, dtype=torch.long)
    position.scatter_(0, inverse, torch.arange(index.numel()))
    return unique, position


def _span_token_offsets(offsets: Tensor, index: Tensor, start: Tensor, end: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The char offsets of each decoded window's start and end tokens only, as a [N, 2, 2] offsets table
    whose token 0 is the start and token 1 the end (-1: no span), for `best_answers`: `offsets[index]`
    would copy every window's whole row (3 KB per window, a second copy of the evaluation set's
    largest tensor) to read two of its tokens."""
    index, start, end = index.long(), start.long(), end.long()
    picked = torch.stack([offsets[index, start.clamp(min=0)], offsets[index, end.clamp(min=0)]], dim=1)
    return picked, torch.where(start >= 0, 0, -1), torch.where(end >= 0, 1, -1)


def _rows(table: Tensor, index: Tensor, length: int) -> Tensor:
    """Rows `index` of a per-window mask table, cut or False-padded to the batch's padded length."""
    rows = table[index, :length]
    return F.pad(rows, (0, length - rows.size(1))) if rows.size(1) < length else rows
