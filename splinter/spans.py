"""Logits → answer spans → answer text per question, vectorised in torch.

The decoding rule is the paper's (PROTOCOL §4), which is also `transformers`' `run_qa.py`
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

`top_spans(..., restrict_to_top_k=False)` searches the whole band instead (every valid pair with
``0 <= end - start < max_answer_length``): the exact arg-max of start+end under the same constraints,
which the top-k rule can miss when the best valid pair is not built from top-k logits.

Nothing here loops over token pairs in Python. Logits are summed in float32 whatever their dtype.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

log = logging.getLogger(__name__)

__all__ = [
    "Prediction",
    "SpanCandidates",
    "answer_texts",
    "best_answers",
    "best_predictions",
    "context_mask_from_offsets",
    "decode_predictions",
    "pad_mask",
    "pad_offsets",
    "top_spans",
]

Offsets = Sequence[Sequence[Sequence[int] | None]]  # per window, per token: [start, end) or [-1, -1]/None


@dataclass
class SpanCandidates:
    """The ``K`` best spans of each of ``N`` windows, best first.

    ``scores`` [N, K] float32 (``-inf`` where invalid), ``starts``/``ends`` [N, K] long token positions
    (``-1`` where invalid), ``valid`` [N, K] bool. Valid entries come first in every row. ``K`` is always
    the ``n_best`` that `top_spans` was called with, so candidates of batches padded to different
    lengths can be concatenated with `SpanCandidates.cat`.
    """

    scores: Tensor
    starts: Tensor
    ends: Tensor
    valid: Tensor

    def __len__(self) -> int:
        return self.scores.shape[0]

    def to(self, device: torch.device | str) -> SpanCandidates:
        return SpanCandidates(*(t.to(device) for t in (self.scores, self.starts, self.ends, self.valid)))

    @classmethod
    def cat(cls, parts: Sequence[SpanCandidates]) -> SpanCandidates:
        """Concatenate along windows (e.g. the batches of an evaluation epoch)."""
        if not parts:
            raise ValueError("SpanCandidates.cat needs at least one part")
        return cls(
            *(torch.cat([getattr(p, f) for p in parts]) for f in ("scores", "starts", "ends", "valid"))
        )


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
# Padding helpers: ragged per-window Python lists → [N, L] tensors.


def _pad_len(rows: Sequence[Sequence], length: int | None) -> int:
    longest = max((len(r) for r in rows), default=0)
    if length is None:
        return longest
    if longest > length:
        raise ValueError(f"a window has {longest} tokens, more than the padded length {length}")
    return length


def _arrow_column(values):
    """The pyarrow array behind a `datasets` column (``dataset["offsets"]``), else None.

    Indexing or iterating such a column converts Arrow to Python one row at a time (0.5 s for 2,000
    windows of offsets); reading its buffers with numpy takes milliseconds. Duck-typed: this module
    does not depend on datasets.
    """
    source, name = getattr(values, "source", None), getattr(values, "column_name", None)
    if not isinstance(name, str) or not hasattr(source, "with_format"):
        return None
    array = source.with_format("arrow")[:][name]
    return array.combine_chunks() if hasattr(array, "combine_chunks") else array


def _as_list(values: Sequence) -> Sequence:
    """Lists, tuples and tensors as they are; any other sequence (e.g. a `datasets` column) read once."""
    if isinstance(values, (list, tuple, Tensor)):
        return values
    return values[:]


def _padded_from_arrow(array, length: int | None, width: int | None, fill: int, dtype) -> Tensor:
    """A list<...> Arrow column → [N, L(, width)] tensor padded with `fill` (width: fixed inner lists)."""
    lengths = array.value_lengths().to_numpy(zero_copy_only=False).astype(np.int64)
    longest = int(lengths.max()) if len(lengths) else 0
    if length is None:
        length = longest
    elif longest > length:
        raise ValueError(f"a window has {longest} tokens, more than the padded length {length}")
    flat = array.flatten()
    if width is not None:
        flat = flat.flatten()
    values = flat.to_numpy(zero_copy_only=False)
    shape = (len(lengths), length) + (() if width is None else (width,))
    out = np.full(shape, fill, dtype=np.int64)
    out[np.arange(length)[None, :] < lengths[:, None]] = values.reshape((-1,) + shape[2:])
    return torch.from_numpy(out).to(dtype)


def pad_offsets(offsets: Offsets, length: int | None = None) -> Tensor:
    """Per-window ``[[start, end), ...]`` lists → LongTensor [N, L, 2], ``-1`` for non-context tokens
    (``None`` or ``[-1, -1]`` entries) and for padding up to ``length`` (default: the longest window).
    A `datasets` column (``windows["offsets"]``) is read straight from its Arrow buffers."""
    array = _arrow_column(offsets)
    if array is not None:
        return _padded_from_arrow(array, length, 2, -1, torch.long)
    offsets = _as_list(offsets)
    length = _pad_len(offsets, length)
    lengths = [len(row) for row in offsets]
    try:  # all entries are [start, end] pairs: one flat read, no per-row tensors
        flat = np.fromiter(chain.from_iterable(chain.from_iterable(offsets)), dtype=np.int64,
                           count=2 * sum(lengths))
    except (TypeError, ValueError):  # None entries (or ragged pairs): the general path
        none = [-1, -1]
        flat = np.asarray([none if o is None else list(o) for row in offsets for o in row],
                          dtype=np.int64).reshape(-1)
    out = np.full((len(offsets), length, 2), -1, dtype=np.int64)
    out[np.arange(length)[None, :] < np.asarray(lengths, dtype=np.int64)[:, None]] = flat.reshape(-1, 2)
    return torch.from_numpy(out)


def pad_mask(rows: Sequence[Sequence[int | bool]], length: int | None = None) -> Tensor:
    """Per-window 0/1 lists (e.g. the windows' ``max_context`` column) → bool [N, L], False-padded."""
    array = _arrow_column(rows)
    if array is not None:
        return _padded_from_arrow(array, length, None, 0, torch.bool)
    rows = _as_list(rows)
    length = _pad_len(rows, length)
    out = torch.zeros(len(rows), length, dtype=torch.bool)
    for i, row in enumerate(rows):
        if len(row):
            out[i, : len(row)] = torch.as_tensor(row, dtype=torch.bool)
    return out


def context_mask_from_offsets(offsets: Offsets | Tensor, length: int | None = None) -> Tensor:
    """bool [N, L]: True for context tokens, i.e. tokens whose offsets are not ``[-1, -1]``/``None``."""
    if not isinstance(offsets, Tensor):
        offsets = pad_offsets(offsets, length)
    elif length is not None and offsets.shape[1] != length:
        raise ValueError(f"offsets tensor has length {offsets.shape[1]}, expected {length}")
    return offsets[..., 0] >= 0


# --------------------------------------------------------------------------------------------------
# Logits → candidate spans.


def _check_2d(name: str, t: Tensor | None, shape: torch.Size) -> None:
    if t is not None and t.shape != shape:
        raise ValueError(f"{name} has shape {tuple(t.shape)}, expected {tuple(shape)} (windows × tokens)")


def top_spans(
    start_logits: Tensor,
    end_logits: Tensor,
    context_mask: Tensor,
    max_answer_length: int = 10,
    n_best: int = 20,
    max_context_mask: Tensor | None = None,
    restrict_to_top_k: bool = True,
) -> SpanCandidates:
    """The ``n_best`` best valid spans of each window, by start_logit + end_logit (see module doc).

    Args:
        start_logits, end_logits: [N, L] per window (one question per window; reshape [B, Q, L] first).
        context_mask: [N, L] bool, True where the token belongs to the context (not question, special
            token or padding).
        max_answer_length: longest answer in tokens (``end - start + 1``).
        n_best: how many starts and ends to combine, and how many candidates to return per window.
        max_context_mask: optional [N, L] bool, True where this window is the token's max-context window;
            spans whose start token is not are dropped.
        restrict_to_top_k: True for the paper's rule; False for the exact search over all valid pairs.
    """
    if start_logits.dim() != 2:
        raise ValueError(f"start_logits must be [N, L], got shape {tuple(start_logits.shape)}")
    shape = start_logits.shape
    _check_2d("end_logits", end_logits, shape)
    _check_2d("context_mask", context_mask, shape)
    _check_2d("max_context_mask", max_context_mask, shape)
    if max_answer_length < 1 or n_best < 1:
        raise ValueError(f"max_answer_length ({max_answer_length}) and n_best ({n_best}) must be >= 1")

    n, length = shape
    device = start_logits.device
    start, end = start_logits.float(), end_logits.float()
    in_context = context_mask.to(device=device, dtype=torch.bool)
    start_ok = in_context
    if max_context_mask is not None:
        start_ok = in_context & max_context_mask.to(device=device, dtype=torch.bool)

    if restrict_to_top_k:
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
    else:
        width = min(max_answer_length, length)
        shift = torch.arange(width, device=device)
        starts = torch.arange(length, device=device)[:, None].expand(length, width)
        ends = starts + shift  # may run past the window: those are masked below
        starts, ends = starts.expand(n, length, width), ends.expand(n, length, width)
        # Band of end positions start..start+width-1 for every start, via a right-padded sliding window.
        end_band = F.pad(end, (0, width - 1), value=-math.inf).unfold(1, width, 1)
        ctx_band = F.pad(in_context.to(torch.uint8), (0, width - 1)).unfold(1, width, 1).bool()
        scores = start[:, :, None] + end_band
        valid = start_ok[:, :, None] & ctx_band

    scores = scores.reshape(n, -1).masked_fill(~valid.reshape(n, -1), -math.inf)
    starts, ends, valid = starts.reshape(n, -1), ends.reshape(n, -1), valid.reshape(n, -1)
    order = _best_first(scores, valid, n_best)

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


_TIE_BITS = 20  # candidates per window that the packed sort key can order (2**20)


def _best_first(scores: Tensor, valid: Tensor, k: int) -> Tensor:
    """Indices [N, min(k, M)] of each row's k best candidates: valid ones first, then by score, ties by
    position, i.e. exactly what a stable descending sort gives (run_qa.py's sorted() over the
    (start rank, end rank) pairs). ``scores`` is -inf wherever ``valid`` is False.

    One float top-k does it for every row whose k + 1 best scores are distinct and finite; the rare rows
    with a tie (or a valid -inf / NaN score) are re-ranked with a packed integer key that makes every
    candidate distinct (`_best_first_exact`).
    """
    m = scores.shape[1]
    k = min(k, m)
    values, order = scores.topk(min(k + 1, m), dim=-1, largest=True, sorted=True)
    # Invalid candidates are all -inf: among themselves their order does not matter (they come out
    # masked). A tie among the k + 1 best finite scores, or a valid candidate scoring -inf or NaN, needs
    # the exact rule.
    tied = ((values[:, 1:] == values[:, :-1]) & (values[:, 1:] > -math.inf)).any(1)
    odd = tied | (valid & ~(scores > -math.inf)).any(1)
    order = order[:, :k]
    rows = odd.nonzero().squeeze(1)
    if rows.numel():
        order = order.index_put((rows,), _best_first_exact(scores[rows], valid[rows], k))
    return order


def _best_first_exact(scores: Tensor, valid: Tensor, k: int) -> Tensor:
    """`_best_first` with a packed int64 key per candidate: bit 52 = valid, bits 20-51 = the float32
    score mapped to an order-preserving integer, bits 0-19 = 2**20 - 1 - position; no two keys are equal,
    so top-k order is the stable sort's order. Falls back to two stable sorts for M > 2**20."""
    m = scores.shape[1]
    if m > 1 << _TIE_BITS:
        key = torch.where(valid, scores, torch.full_like(scores, -math.inf))
        order = torch.sort(valid.to(torch.int8), dim=-1, descending=True, stable=True).indices
        order = order.gather(1, torch.sort(key.gather(1, order), dim=-1, descending=True, stable=True).indices)
        return order[:, :k]
    # NaN canonicalised to the positive quiet NaN, which maps above +inf (torch.sort also puts NaN first).
    scores = torch.where(scores.isnan(), math.nan, scores)
    bits = scores.contiguous().view(torch.int32).to(torch.int64)
    # IEEE floats order like sign-magnitude integers: flip the magnitude bits of negatives.
    ordered = torch.where(bits < 0, bits ^ 0x7FFFFFFF, bits) + (1 << 31)  # 0 .. 2**32 - 1
    position = torch.arange(m, device=scores.device, dtype=torch.int64)
    key = (valid.to(torch.int64) << 52) | (ordered << _TIE_BITS) | ((1 << _TIE_BITS) - 1 - position)
    return key.topk(k, dim=-1, largest=True, sorted=True).indices


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
    offsets: Offsets | Tensor,
    contexts: Mapping[str, str],
) -> dict[str, Prediction]:
    """The best span over all windows of each question, as text sliced from its context.

    Args:
        example_ids: the question id of each window; windows of one question need not be adjacent.
        scores, starts, ends: each window's best span, [N] (score ``-inf`` when the window has no valid
            span), or [N, K] candidates best first such as `SpanCandidates`' fields (column 0 is used).
        offsets: per-window token char offsets, as lists (``[-1, -1]``/``None`` for non-context tokens)
            or a padded LongTensor [N, L, 2] with -1 for non-context tokens.
        contexts: question id → context string.

    Returns:
        question id → `Prediction`, in order of first appearance in ``example_ids``. A question whose
        windows have no valid span gets ``""``; their count is logged as a warning.
    """
    example_ids = _as_list(example_ids)
    if not isinstance(offsets, Tensor) and _arrow_column(offsets) is not None:
        offsets = pad_offsets(offsets)  # a datasets column: one Arrow read instead of one per question
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

    if isinstance(offsets, Tensor):
        offsets_t = offsets.to(device)
        char_start = offsets_t[safe_window, tok_start.clamp(min=0), 0].tolist()
        char_end = offsets_t[safe_window, tok_end.clamp(min=0), 1].tolist()
    else:
        char_start = char_end = None

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
        if char_start is not None:
            cs, ce = char_start[q], char_end[q]
        else:
            so, eo = offsets[w][ts], offsets[w][te]
            cs = -1 if so is None else so[0]
            ce = -1 if eo is None else eo[1]
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


def answer_texts(predictions: Mapping[str, Prediction]) -> dict[str, str]:
    """question id → answer text, the input `splinter.metrics.squad_scores` expects."""
    return {eid: p.text for eid, p in predictions.items()}


def best_answers(
    example_ids: Sequence[str],
    scores: Tensor,
    starts: Tensor,
    ends: Tensor,
    offsets: Offsets | Tensor,
    contexts: Mapping[str, str],
) -> dict[str, str]:
    """question id → answer text: `best_predictions` without the scores and char offsets."""
    return answer_texts(best_predictions(example_ids, scores, starts, ends, offsets, contexts))


def decode_predictions(
    start_logits: Tensor,
    end_logits: Tensor,
    example_ids: Sequence[str],
    offsets: Offsets | Tensor,
    contexts: Mapping[str, str],
    max_context: Sequence[Sequence[int]] | Tensor | None = None,
    max_answer_length: int = 10,
    n_best: int = 20,
    restrict_to_top_k: bool = True,
) -> dict[str, Prediction]:
    """`top_spans` + `best_predictions` in one call, with the context mask taken from ``offsets`` and the
    max-context mask from the windows' ``max_context`` column (None: the max-context rule is off)."""
    length = start_logits.shape[-1]
    if not isinstance(offsets, Tensor):
        offsets = pad_offsets(offsets, length)
    context_mask = context_mask_from_offsets(offsets, length).to(start_logits.device)
    if max_context is not None and not isinstance(max_context, Tensor):
        max_context = pad_mask(max_context, length)
    c = top_spans(
        start_logits, end_logits, context_mask, max_answer_length, n_best, max_context, restrict_to_top_k
    )
    return best_predictions(example_ids, c.scores, c.starts, c.ends, offsets, contexts)
