"""Analytic FLOP counts for the Splinter encoder + QASS head (matrix multiplications only).

For one batch of B windows padded to L tokens, with T_lin tokens going through the linear layers:

    encoder, per layer:  linear     2 · T_lin · (4·d² + 2·d·d_ff)      (q, k, v, output; FFN in and out)
                         attention  2 · 2 · B · L² · d                  (Q·Kᵀ and P·V, all heads)
    QASS head:           2 · 2 · T_head · d²                            (start/end transforms, every token)
                       + 2 · 4 · B · Q · d²                             (query transforms + classifiers)
                       + 2 · 2 · B · Q · L · d                          (start/end logits)
    forward = layers · encoder + head;   training step = 3 × forward   (backward = 2 × forward)

Embedding look-ups, LayerNorm, GELU, softmax, dropout and the optimiser are not matrix products and
are not counted (they are a few % of the FLOPs but, on CPU, a large share of the time: see README).

Two counts per batch:
* executed: what the implementation actually computed: the reference runs every window padded to 384
  (T_lin = T_head = B · 384, attention B · 384²); ours runs the linear layers on the packed attended
  tokens (T_lin = the tokens `TokenLayout` keeps, or B · L when it does not pack), attention per
  sequence on CPU (Σ kept_i², else B · L²) and the head on B × L;
* useful: what the real tokens need: T = Σ window lengths, attention Σ lᵢ², head on real tokens.
"""

from __future__ import annotations

from collections.abc import Sequence


def forward_flops(
    hidden: int,
    intermediate: int,
    layers: int,
    batch: int,
    length: int,
    linear_tokens: int,
    head_tokens: int,
    attention_l2: int | None = None,
    questions: int = 1,
) -> float:
    """FLOPs of one forward pass; `attention_l2` = Σ over windows of L² (default batch · length²)."""
    d, f = hidden, intermediate
    l2 = batch * length * length if attention_l2 is None else attention_l2
    encoder = layers * (2 * linear_tokens * (4 * d * d + 2 * d * f) + 4 * l2 * d)
    head = 4 * head_tokens * d * d + 8 * batch * questions * d * d + 4 * batch * questions * length * d
    return float(encoder + head)


def batch_flops(config: dict, batch: int, length: int, computed_tokens: int, lengths: Sequence[int],
                training: bool, attention_l2: int | None = None) -> dict[str, float]:
    """{"executed", "useful"} FLOPs of one batch (see module doc); ×3 when training. `attention_l2`:
    Σ L² of the attention actually run (ours per sequence on CPU), default batch · length²."""
    d, f, n = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    factor = 3.0 if training else 1.0
    executed = forward_flops(d, f, n, batch, length, computed_tokens, batch * length, attention_l2)
    useful = sum(forward_flops(d, f, n, 1, n_i, n_i, n_i) for n_i in lengths)
    return {"executed": factor * executed, "useful": factor * useful}
