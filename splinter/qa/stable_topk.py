"""Top-k in the order a stable descending sort gives, with invalid entries last, at top-k's cost.

`splinter.qa.spans` ranks each window's candidate spans this way, so that ties go to the earlier
candidate exactly as ``run_qa.py``'s ``sorted()`` does, without sorting every candidate.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

_TIE_BITS = 20  # candidates per window that the packed sort key can order (2**20)


def stable_topk(scores: Tensor, valid: Tensor, k: int) -> Tensor:
    """Indices [N, min(k, M)] of each row's k best candidates: valid ones first, then by score, ties by
    position, i.e. exactly what a stable descending sort gives (run_qa.py's sorted() over the
    (start rank, end rank) pairs). ``scores`` is -inf wherever ``valid`` is False.

    One float top-k does it for every row whose k + 1 best scores are distinct and finite; the rare rows
    with a tie (or a valid -inf / NaN score) are re-ranked with a packed integer key that makes every
    candidate distinct (`_exact`).
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
        order = order.index_put((rows,), _exact(scores[rows], valid[rows], k))
    return order


def _exact(scores: Tensor, valid: Tensor, k: int) -> Tensor:
    """`stable_topk` with a packed int64 key per candidate: bit 52 = valid, bits 20-51 = the float32
    score mapped to an order-preserving integer, bits 0-19 = 2**20 - 1 - position; no two keys are equal,
    so top-k order is the stable sort's order. M = min(n_best, L)**2 candidates fit in 2**20 for any
    n_best or window length up to 1,024."""
    m = scores.shape[1]
    if m > 1 << _TIE_BITS:
        raise ValueError(f"{m} candidate spans per window; at most {1 << _TIE_BITS} can be ranked "
                         "(lower n_best or max_seq_length)")
    # NaN canonicalised to the positive quiet NaN, which maps above +inf (torch.sort also puts NaN first).
    scores = torch.where(scores.isnan(), math.nan, scores)
    bits = scores.contiguous().view(torch.int32).to(torch.int64)
    # IEEE floats order like sign-magnitude integers: flip the magnitude bits of negatives.
    ordered = torch.where(bits < 0, bits ^ 0x7FFFFFFF, bits) + (1 << 31)  # 0 .. 2**32 - 1
    position = torch.arange(m, device=scores.device, dtype=torch.int64)
    key = (valid.to(torch.int64) << 52) | (ordered << _TIE_BITS) | ((1 << _TIE_BITS) - 1 - position)
    return key.topk(k, dim=-1, largest=True, sorted=True).indices
