"""SpanMetric: EM/F1 of decoded answer spans over an evaluation set, as a `torchmetrics.Metric`.

`update` decodes a batch's logits into each window's best span on the logits' device (no logits are
kept); its four states (window index, score, start, end per window) are concatenated across processes by
torchmetrics (``dist_reduce_fx="cat"``). `compute` drops the windows that DistributedSampler repeated to
even out the shards, picks the best window per question (`splinter.qa.spans.best_predictions`) and scores with
`splinter.qa.metrics.squad_scores`, so every question is scored exactly once under any number of processes.

`keep_candidates=True` (the error-analysis page, splinter/qa/analysis.py) keeps every window's ``n_best``
candidates instead of its best one, and `compute` adds "answers": each question's predicted character
span and score and its n-best spans with probabilities. The predictions are decoded from the candidates'
first column, which is the one span kept otherwise: they are the same either way.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from splinter.data.evaluation_set import EvaluationSet
from splinter.qa.metrics import squad_scores
from splinter.qa.spans import Prediction, best_predictions, merged_candidates, span_probabilities, top_spans

_STATES = ("window_index", "score", "start", "end")


class SpanMetric(Metric):
    full_state_update = False

    def __init__(
        self,
        evaluation_set: EvaluationSet,
        max_answer_length: int = 10,
        n_best: int = 20,
        use_max_context: bool = False,
        keep_candidates: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.evaluation_set = evaluation_set
        self.keep_candidates = keep_candidates
        self.max_answer_length, self.n_best, self.use_max_context = max_answer_length, n_best, use_max_context
        for name in _STATES:
            self.add_state(name, default=[], dist_reduce_fx="cat")
        self._on_device: EvaluationSet | None = None  # the set's token tensors on the logits' device

    def update(self, window_index: Tensor, start_logits: Tensor, end_logits: Tensor) -> None:
        """One batch: `window_index` [B] (rows of the evaluation set), logits [B, L] (one question per
        window)."""
        length = start_logits.size(1)
        window_index = window_index.to(start_logits.device)
        offsets, max_context = self._set_on(start_logits.device).rows(window_index, length)
        candidates = top_spans(
            start_logits,
            end_logits,
            offsets[..., 0] >= 0,
            max_answer_length=self.max_answer_length,
            n_best=self.n_best,
            max_context_mask=max_context if self.use_max_context else None,
        )
        # Only each window's best span can win across windows, so one candidate per window is kept
        # unless the n-best lists are wanted ([B, K] states then; the first column is that candidate).
        keep = slice(None) if self.keep_candidates else 0
        self.window_index.append(window_index)
        self.score.append(torch.where(candidates.valid, candidates.scores, -math.inf)[:, keep])
        self.start.append(candidates.starts[:, keep])
        self.end.append(candidates.ends[:, keep])

    def compute(self) -> dict[str, Any]:
        """{"predictions": question id → answer text, "exact_match", "f1", "num_questions",
        "num_windows"} (scores in percent, as squad_scores), and "answers" with `keep_candidates`."""
        index, score, start, end = (_cat(getattr(self, name)) for name in _STATES)
        index, first = _first_occurrence(index)
        score, start, end = (_columns(t, len(index)) for t in (score[first], start[first], end[first]))
        evaluation = self.evaluation_set
        example_ids = [evaluation.example_ids[i] for i in index.tolist()]
        offsets, best_start, best_end = _span_token_offsets(evaluation, index, start[:, 0], end[:, 0])
        best = best_predictions(example_ids, score[:, 0], best_start, best_end, offsets, evaluation.contexts)
        predictions = {eid: p.text for eid, p in best.items()}
        result = {
            "predictions": predictions,
            **squad_scores(predictions, evaluation.references),
            "num_questions": len(evaluation.references),
            "num_windows": int(index.numel()),
        }
        if self.keep_candidates:
            result["answers"] = _answers(evaluation, index, example_ids, best, score, start, end)
        return result

    def _set_on(self, device: torch.device) -> EvaluationSet:
        # Copied to the device once per evaluation set, not once per batch.
        if self._on_device is None or self._on_device.row_starts.device != device:
            self._on_device = self.evaluation_set.to(device)
        return self._on_device


def _cat(state: list[Tensor] | Tensor) -> Tensor:
    """A cat state as one CPU tensor (a list before the cross-process sync, a tensor after it)."""
    if isinstance(state, list) and not state:
        return torch.empty(0)
    return dim_zero_cat(state).cpu()


def _columns(state: Tensor, windows: int) -> Tensor:
    """A state as [windows, K] candidates (K = 1 when one candidate per window was kept)."""
    return state.reshape(windows, -1) if windows else state.reshape(0, 1)


def _first_occurrence(index: Tensor) -> tuple[Tensor, Tensor]:
    """Unique values of `index` (sorted) and, for each, the position of one occurrence."""
    index = index.long()
    unique, inverse = torch.unique(index, sorted=True, return_inverse=True)
    position = torch.full((unique.numel(),), -1, dtype=torch.long)
    position.scatter_(0, inverse, torch.arange(index.numel()))
    return unique, position


def _span_token_offsets(evaluation: EvaluationSet, index: Tensor, start: Tensor,
                        end: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The char offsets of each decoded window's start and end tokens only, as a [N, 2, 2] offsets table
    whose token 0 is the start and token 1 the end (-1: no span), for `best_predictions`: a padded
    [N, longest, 2] table of every window's offsets would cost 3 KB per window to read two tokens."""
    picked = torch.stack([evaluation.token_char_offsets(index, start),
                          evaluation.token_char_offsets(index, end)], dim=1)
    return picked, torch.where(start >= 0, 0, -1), torch.where(end >= 0, 1, -1)


def _answers(evaluation: EvaluationSet, index: Tensor, example_ids: list[str], best: dict[str, Prediction],
             score: Tensor, start: Tensor, end: Tensor) -> dict[str, dict[str, Any]]:
    """question id → {"start", "end", "score"} of its prediction (char offsets into its context; -1 and
    None when no window had a valid span) and "n_best": its distinct candidate spans best first as
    [start, end, score, probability] (plain lists and numbers: the result travels as callback metrics)."""
    n, k = start.shape
    windows = index.repeat_interleave(k)
    char_start = evaluation.token_char_offsets(windows, start.reshape(-1))[:, 0].reshape(n, k)
    char_end = evaluation.token_char_offsets(windows, end.reshape(-1))[:, 1].reshape(n, k)
    merged = merged_candidates(example_ids, score, char_start, char_end, (start >= 0) & (end >= 0) & (score > -math.inf))
    answers = {}
    for eid, prediction in best.items():
        spans = merged[eid]
        probabilities = span_probabilities([s for _, _, s in spans])
        answers[eid] = {
            "start": prediction.start_char, "end": prediction.end_char,
            "score": prediction.score if prediction.found else None,
            "n_best": [[a, b, s, p] for (a, b, s), p in zip(spans, probabilities, strict=True)],
        }
    return answers
