"""Logits → answer spans → answer text per question, vectorised in torch.

The decoding rule is the paper's (docs/protocol.md §4), which is also `transformers`' `run_qa.py`
(`postprocess_qa_predictions`) and BERT's `run_squad.py`:

* per window, the start is one of the window's ``n_best`` highest start logits and the end one of its
  ``n_best`` highest end logits (top-k over *all* positions, padding and question included);
* a pair is dropped when its start or end token is not a context token, when ``end < start``, when
  ``end - start + 1 > max_answer_length``, or (optionally) when the start token's max-context window is
  another window;
* score = start_logit + end_logit; the answer of a question is its highest scoring span over all its
  windows, and its text is ``context[offsets[start][0]:offsets[end][1]]``.

Ties are broken like ``run_qa.py``'s stable sort: first window (in the order given), then the start with
the higher start logit (``torch.topk`` order), then the end with the higher end logit.

Nothing here loops over token pairs in Python. Logits are summed in float32 whatever their dtype.
Offsets and masks come as tensors (`splinter.data.evaluation_set.EvaluationSet`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from splinter.qa.stable_topk import stable_topk

log = logging.getLogger(__name__)

__all__ = ["Prediction", "SpanCandidates", "best_answers", "best_predictions", "merged_candidates",
           "span_probabilities", "top_spans"]


@dataclass
class SpanCandidates:
    """The ``K`` best spans of each of ``N`` windows, best first.

    ``scores`` [N, K] float32 (``-inf`` where invalid), ``starts``/``ends`` [N, K] long token positions
    (``-1`` where invalid), ``valid`` [N, K] bool. Valid entries come first in every row. ``K`` is always
    the ``n_best`` that `top_spans` was called with, so candidates of batches padded to different
    lengths can be concatenated along windows.
    """

    scores: Tensor
    starts: Tensor
    ends: Tensor
    valid: Tensor

    def __len__(self) -> int:
        return self.scores.shape[0]


@dataclass(frozen=True)
class Prediction:
    """The answer of one question. ``found`` is False when no window had a valid span: then ``text``
    is ``""``, ``score`` is ``-inf`` and ``window``/``start_char``/``end_char`` are -1."""

    text: str
    score: float
    start_char: int
    end_char: int
    window: int = -1

    @property
    def found(self) -> bool:
        return self.window >= 0


# --------------------------------------------------------------------------------------------------
# Logits → candidate spans.


def top_spans(
    start_logits: Tensor,
    end_logits: Tensor,
    context_mask: Tensor,
    max_answer_length: int = 10,
    n_best: int = 20,
    max_context_mask: Tensor | None = None,
) -> SpanCandidates:
    """The ``n_best`` best valid spans of each window, by start_logit + end_logit (see module doc).

    Args:
        start_logits: [N, L] per window (one question per window; reshape [B, Q, L] first).
        end_logits: [N, L], the same for the end.
        context_mask: [N, L] bool, True where the token belongs to the context (not question, special
            token or padding).
        max_answer_length: longest answer in tokens (``end - start + 1``).
        n_best: how many starts and ends to combine, and how many candidates to return per window.
        max_context_mask: optional [N, L] bool, True where this window is the token's max-context window;
            spans whose start token is not are dropped.
    """
    if start_logits.dim() != 2:
        raise ValueError(f"start_logits must be [N, L], got shape {tuple(start_logits.shape)}")
    shape = start_logits.shape
    for name, t in (("end_logits", end_logits), ("context_mask", context_mask), ("max_context_mask", max_context_mask)):
        if t is not None and t.shape != shape:
            raise ValueError(f"{name} has shape {tuple(t.shape)}, expected {tuple(shape)} (windows × tokens)")
    if max_answer_length < 1 or n_best < 1:
        raise ValueError(f"max_answer_length ({max_answer_length}) and n_best ({n_best}) must be >= 1")

    n, length = shape
    device = start_logits.device
    start, end = start_logits.float(), end_logits.float()
    in_context = context_mask.to(device=device, dtype=torch.bool)
    start_ok = in_context
    if max_context_mask is not None:
        start_ok = in_context & max_context_mask.to(device=device, dtype=torch.bool)

    k = min(n_best, length)
    start_val, start_idx = start.topk(k, dim=-1)  # sorted, best first
    end_val, end_idx = end.topk(k, dim=-1)
    starts = start_idx[:, :, None].expand(n, k, k)
    ends = end_idx[:, None, :].expand(n, k, k)
    scores = start_val[:, :, None] + end_val[:, None, :]
    span = ends - starts
    valid = (
        start_ok.gather(1, start_idx)[:, :, None]
        & in_context.gather(1, end_idx)[:, None, :]
        & (span >= 0)
        & (span < max_answer_length)
    )
    return ranked_candidates(scores, starts, ends, valid, n_best)


def ranked_candidates(scores: Tensor, starts: Tensor, ends: Tensor, valid: Tensor, n_best: int) -> SpanCandidates:
    """The `n_best` best of each window's candidate pairs ([N, ...] each, flattened per window): valid
    first, by score, ties to the earlier candidate (`stable_topk`)."""
    n = scores.shape[0]
    scores = scores.reshape(n, -1).masked_fill(~valid.reshape(n, -1), -math.inf)
    starts, ends, valid = starts.reshape(n, -1), ends.reshape(n, -1), valid.reshape(n, -1)
    order = stable_topk(scores, valid, n_best)

    def pick(t: Tensor, fill) -> Tensor:
        out = t.gather(1, order)
        if out.shape[1] < n_best:  # fewer than n_best pairs exist at all (tiny L)
            out = F.pad(out, (0, n_best - out.shape[1]), value=fill)
        return out

    valid = pick(valid, False)
    return SpanCandidates(
        scores=pick(scores, -math.inf).masked_fill(~valid, -math.inf),
        starts=pick(starts, -1).masked_fill(~valid, -1),
        ends=pick(ends, -1).masked_fill(~valid, -1),
        valid=valid,
    )


# --------------------------------------------------------------------------------------------------
# Per-window best spans → best answer per question.


def _window_column(name: str, t: Tensor, n: int) -> Tensor:
    if t.dim() == 2:
        t = t[:, 0]  # [N, K] candidates, best first: only the best can win across windows
    if t.dim() != 1 or t.shape[0] != n:
        raise ValueError(f"{name} has shape {tuple(t.shape)}; expected [N] or [N, K] with N = {n} windows")
    return t


def best_predictions(
    example_ids: Sequence[str],
    scores: Tensor,
    starts: Tensor,
    ends: Tensor,
    offsets: Tensor,
    contexts: Mapping[str, str],
) -> dict[str, Prediction]:
    """The best span over all windows of each question, as text sliced from its context.

    Args:
        example_ids: the question id of each window; windows of one question need not be adjacent.
        scores: each window's best span score, [N] (``-inf`` when the window has no valid span), or
            [N, K] candidates best first such as `SpanCandidates`' fields (column 0 is used).
        starts: the token start of each window's best span, shaped as ``scores``.
        ends: its token end, shaped as ``scores``.
        offsets: per-window token char offsets, LongTensor [N, L, 2], -1 for non-context tokens.
        contexts: question id → context string.

    Returns:
        question id → `Prediction`, in order of first appearance in ``example_ids``. A question whose
        windows have no valid span gets ``""``; their count is logged as a warning.
    """
    example_ids = list(example_ids)
    n = len(example_ids)
    scores = _window_column("scores", scores, n)
    starts = _window_column("starts", starts, n)
    ends = _window_column("ends", ends, n)
    if len(offsets) != n:
        raise ValueError(f"{n} example_ids but {len(offsets)} offset rows: one per window is needed")
    group_of: dict[str, int] = {}
    groups = [group_of.setdefault(eid, len(group_of)) for eid in example_ids]
    missing = [eid for eid in group_of if eid not in contexts]
    if missing:
        raise KeyError(f"no context for {len(missing)} question id(s), e.g. {missing[0]!r}")
    if n == 0:
        return {}

    # Per question: the max over its windows (scatter), and the first window reaching it (ties → the
    # lowest window index, as run_qa.py's stable sort over windows in order).
    device = scores.device
    starts, ends = starts.to(device), ends.to(device)
    g = torch.tensor(groups, device=device)
    n_groups = len(group_of)
    win_valid = (scores > -math.inf) & (starts >= 0) & (ends >= 0)
    win_score = scores.float().masked_fill(~win_valid, -math.inf)
    best = torch.full((n_groups,), -math.inf, device=device).scatter_reduce(0, g, win_score, "amax")
    is_best = win_valid & (win_score == best[g])
    window_ids = torch.where(is_best, torch.arange(n, device=device), torch.full_like(g, n))
    best_window = torch.full((n_groups,), n, device=device).scatter_reduce(0, g, window_ids, "amin")
    found = best_window < n
    safe_window = best_window.clamp(max=n - 1)
    tok_start, tok_end = starts[safe_window], ends[safe_window]

    offsets = offsets.to(device)
    char_start = offsets[safe_window, tok_start.clamp(min=0), 0].tolist()
    char_end = offsets[safe_window, tok_end.clamp(min=0), 1].tolist()

    found_l, window_l = found.tolist(), best_window.tolist()
    start_l, end_l, score_l = tok_start.tolist(), tok_end.tolist(), best.tolist()
    out: dict[str, Prediction] = {}
    n_empty = 0
    for eid, q in group_of.items():  # Python only for the final per-question text slicing
        if not found_l[q]:
            out[eid] = Prediction("", -math.inf, -1, -1, -1)
            n_empty += 1
            continue
        w, ts, te = window_l[q], start_l[q], end_l[q]
        cs, ce = char_start[q], char_end[q]
        if cs < 0 or ce < 0:
            raise ValueError(
                f"question {eid!r}: window {w} token {ts if cs < 0 else te} has no char offsets but was "
                "decoded as context (context_mask and offsets disagree)"
            )
        out[eid] = Prediction(contexts[eid][cs:ce], score_l[q], cs, ce, w)
    if n_empty:
        log.warning(
            "%d of %d questions have no valid answer span in any window; predicted ''", n_empty, len(out)
        )
    return out


def best_answers(
    example_ids: Sequence[str],
    scores: Tensor,
    starts: Tensor,
    ends: Tensor,
    offsets: Tensor,
    contexts: Mapping[str, str],
) -> dict[str, str]:
    """question id → answer text (what `splinter.qa.metrics.squad_scores` takes): `best_predictions` without
    the scores and char offsets."""
    predictions = best_predictions(example_ids, scores, starts, ends, offsets, contexts)
    return {eid: p.text for eid, p in predictions.items()}


# --------------------------------------------------------------------------------------------------
# Per-window candidates → each question's n-best list.


def merged_candidates(
    example_ids: Sequence[str],
    scores: Tensor,
    char_starts: Tensor,
    char_ends: Tensor,
    valid: Tensor,
) -> dict[str, list[tuple[int, int, float]]]:
    """Per question, its windows' candidates ([N, K] each, best first per window, char offsets already
    looked up) merged into distinct character spans (start, end, score), best first.

    Order: score, then window, then rank within the window (a stable sort of the window-major list), so
    the first span is the one `best_predictions` picks (same max, ties to the first window); a span two
    windows both found keeps its first (best) score. A question without a valid span gets [].
    """
    scores, valid = scores.float().cpu().numpy(), valid.cpu().numpy()
    char_starts, char_ends = char_starts.cpu().numpy(), char_ends.cpu().numpy()
    windows_of: dict[str, list[int]] = {}
    for w, eid in enumerate(example_ids):
        windows_of.setdefault(eid, []).append(w)
    out: dict[str, list[tuple[int, int, float]]] = {}
    for eid, windows in windows_of.items():
        ok = valid[windows]
        s, cs, ce = scores[windows][ok], char_starts[windows][ok], char_ends[windows][ok]
        seen: dict[tuple[int, int], float] = {}
        for j in np.argsort(-s, kind="stable"):
            seen.setdefault((int(cs[j]), int(ce[j])), float(s[j]))
        out[eid] = [(a, b, score) for (a, b), score in seen.items()]
    return out


def span_probabilities(scores: Sequence[float]) -> list[float]:
    """Softmax of a question's kept span scores (`merged_candidates`), the n-best probabilities of
    run_qa.py."""
    if not len(scores):
        return []
    kept = np.array(scores, dtype=np.float64)
    weights = np.exp(kept - kept.max())
    return (weights / weights.sum()).tolist()
