"""splinter.qa.spans: vectorised decoding against a pure-Python n-best loop (run_qa.py's rule)."""

from __future__ import annotations

import logging
import math
import random
from collections import defaultdict

import numpy as np
import pytest
import torch
from spans_reference import (
    band_spans,
    cat,
    context_mask_from_offsets,
    decode_predictions,
    pad_mask,
    pad_offsets,
)

from splinter.qa.spans import Prediction, SpanCandidates, best_answers, best_predictions, top_spans


def predictions_of(ids, c: SpanCandidates, offsets, contexts):
    if not isinstance(offsets, torch.Tensor):
        offsets = pad_offsets(offsets)
    return best_predictions(ids, c.scores, c.starts, c.ends, offsets, contexts)


def answer_texts(predictions) -> dict[str, str]:
    return {q: p.text for q, p in predictions.items()}


NEG = float("-inf")


# ---------------------------------------------------------------------------------------------
# Reference: the loop of transformers' postprocess_qa_predictions, written plainly.


def _f32_sum(a: float, b: float) -> float:
    return float(np.float32(a) + np.float32(b))


def ref_window_candidates(start, end, ctx, max_len, n_best, maxctx=None):
    """All valid (score, s, e) of one window, best first (stable: start rank, then end rank)."""
    length = len(start)
    s_idx = sorted(range(length), key=lambda i: -start[i])[:n_best]
    e_idx = sorted(range(length), key=lambda i: -end[i])[:n_best]
    cands = []
    for s in s_idx:
        for e in e_idx:
            if not ctx[s] or not ctx[e]:
                continue
            if e < s or e - s + 1 > max_len:
                continue
            if maxctx is not None and not maxctx[s]:
                continue
            cands.append((_f32_sum(start[s], end[e]), s, e))
    return sorted(cands, key=lambda c: -c[0])


def ref_band_candidates(start, end, ctx, max_len, maxctx=None):
    cands = []
    for s in range(len(start)):
        for e in range(s, min(s + max_len, len(start))):
            if ctx[s] and ctx[e] and (maxctx is None or maxctx[s]):
                cands.append((_f32_sum(start[s], end[e]), s, e))
    return sorted(cands, key=lambda c: -c[0])


def ref_answers(example_ids, per_window, offsets, contexts):
    per_q = defaultdict(list)
    for w, cands in enumerate(per_window):
        per_q[example_ids[w]]  # keep first-appearance order
        for score, s, e in cands:
            per_q[example_ids[w]].append((score, w, s, e))
    out = {}
    for q, cands in per_q.items():
        if not cands:
            out[q] = ("", NEG)
            continue
        score, w, s, e = sorted(cands, key=lambda c: -c[0])[0]
        out[q] = (contexts[q][offsets[w][s][0] : offsets[w][e][1]], score)
    return out


# ---------------------------------------------------------------------------------------------
# Random windows: questions with several, non-adjacent windows; question prefix, context, padding.


def make_batch(seed, n_questions=6, length=40, empty_question=True):
    rng = random.Random(seed)
    contexts, example_ids, offsets, maxctx = {}, [], [], []
    for q in range(n_questions):
        words = [f"w{q}_{i}" for i in range(60)]
        contexts[f"q{q}"] = " ".join(words)
    char_pos = {}
    for q, text in contexts.items():
        pos, spans = 0, []
        for word in text.split(" "):
            spans.append([pos, pos + len(word)])
            pos += len(word) + 1
        char_pos[q] = spans
    ids = [f"q{q}" for q in range(n_questions) for _ in range(rng.randint(1, 3))]
    rng.shuffle(ids)
    for q in ids:
        prefix = rng.randint(2, 6)
        n_ctx = rng.randint(3, length - prefix - 1)
        if empty_question and q == "q0":
            n_ctx = 0  # a question whose windows have no context at all → ""
        first = rng.randint(0, 60 - n_ctx)
        real_len = rng.randint(prefix + n_ctx, length)  # padding after the context, varying
        row = [[-1, -1]] * prefix + char_pos[q][first : first + n_ctx]
        row += [[-1, -1]] * (real_len - len(row))
        offsets.append(row)
        maxctx.append([rng.random() < 0.8 for _ in row])
        example_ids.append(q)
    n = len(ids)
    gen = torch.Generator().manual_seed(seed)
    # context tokens get a head start so that most (not all) windows have a valid top-k pair
    bias = 1.5 * context_mask_from_offsets(offsets, length).float()
    start = torch.randn(n, length, generator=gen) + bias
    end = torch.randn(n, length, generator=gen) + bias
    return example_ids, offsets, maxctx, contexts, start, end


def _rows(t):
    return t.tolist()


@pytest.mark.parametrize("use_maxctx", [False, True])
@pytest.mark.parametrize("seed", range(8))
def test_top_k_rule_matches_reference_loop(seed, use_maxctx):
    ids, offsets, maxctx, contexts, start, end = make_batch(seed)
    length, max_len, n_best = start.shape[1], 4, 6
    ctx = context_mask_from_offsets(offsets, length)
    mc = pad_mask(maxctx, length) if use_maxctx else None
    cands = top_spans(start, end, ctx, max_answer_length=max_len, n_best=n_best, max_context_mask=mc)
    assert cands.scores.shape == (len(ids), n_best)

    ref_windows = []
    for w in range(len(ids)):
        ref = ref_window_candidates(
            _rows(start[w]),
            _rows(end[w]),
            _rows(ctx[w]),
            max_len,
            n_best,
            _rows(mc[w]) if use_maxctx else None,
        )
        ref_windows.append(ref)
        k = min(len(ref), n_best)
        assert cands.valid[w].sum().item() == k
        assert cands.valid[w, :k].all()
        got = list(zip(cands.starts[w, :k].tolist(), cands.ends[w, :k].tolist(), strict=True))
        assert got == [(s, e) for _, s, e in ref[:k]]
        assert cands.scores[w, :k].tolist() == pytest.approx([c[0] for c in ref[:k]], abs=0, rel=1e-6)
        assert (cands.scores[w, k:] == NEG).all() and (cands.starts[w, k:] == -1).all()

    preds = predictions_of(ids, cands, offsets, contexts)
    ref = ref_answers(ids, ref_windows, offsets, contexts)
    assert list(preds) == list(ref)  # order of first appearance
    assert {q: p.text for q, p in preds.items()} == {q: r[0] for q, r in ref.items()}
    for q, p in preds.items():
        assert p.score == pytest.approx(ref[q][1], rel=1e-6)
    assert preds["q0"] == Prediction("", NEG, -1, -1, -1)
    assert sum(p.text != "" for p in preds.values()) >= 3  # the comparison is not vacuous


@pytest.mark.parametrize("seed", range(4))
def test_full_band_is_exact_argmax(seed):
    ids, offsets, maxctx, contexts, start, end = make_batch(seed, empty_question=False)
    length, max_len, n_best = start.shape[1], 5, 7
    ctx = context_mask_from_offsets(offsets, length)
    mc = pad_mask(maxctx, length)
    band = band_spans(start, end, ctx, max_len, n_best, mc)
    topk = top_spans(start, end, ctx, max_len, n_best, mc)
    for w in range(len(ids)):
        ref = ref_band_candidates(_rows(start[w]), _rows(end[w]), _rows(ctx[w]), max_len, _rows(mc[w]))
        k = min(len(ref), n_best)
        assert band.valid[w].sum().item() == k
        got = list(zip(band.starts[w, :k].tolist(), band.ends[w, :k].tolist(), strict=True))
        assert got == [(s, e) for _, s, e in ref[:k]]
        # the band search can only do better than the top-k rule
        assert band.scores[w, 0] >= topk.scores[w, 0]


def test_band_equals_top_k_when_n_best_covers_window():
    ids, offsets, maxctx, contexts, start, end = make_batch(3, length=24)
    ctx = context_mask_from_offsets(offsets, 24)
    a = top_spans(start, end, ctx, 6, n_best=24)
    b = band_spans(start, end, ctx, 6, n_best=24)
    assert torch.equal(a.valid, b.valid)
    assert torch.equal(a.starts, b.starts) and torch.equal(a.ends, b.ends)
    assert torch.equal(a.scores, b.scores)


def test_top_k_rule_misses_what_band_finds():
    # The best valid pair (3, 3) = 7 + 8 uses the 3rd-best start logit: with n_best=2 the paper's rule
    # only sees starts 0 and 2, both outside the context, and finds nothing.
    start = torch.tensor([[9.0, 1.0, 8.0, 7.0]])
    end = torch.tensor([[9.0, 5.0, 0.0, 8.0]])
    ctx = torch.tensor([[False, True, False, True]])
    topk = top_spans(start, end, ctx, max_answer_length=3, n_best=2)
    band = band_spans(start, end, ctx, max_answer_length=3, n_best=2)
    assert not topk.valid.any()
    assert band.valid[0].tolist() == [True, True]
    assert band.starts[0].tolist() == [3, 1] and band.ends[0].tolist() == [3, 3]
    assert band.scores[0].tolist() == [15.0, 9.0]


# ---------------------------------------------------------------------------------------------
# Hand-made cases for each rule.


def test_rules_one_by_one():
    #            0     1     2    3    4    5
    start = torch.tensor([[0.0, 10.0, 1.0, 2.0, 3.0, 0.5]])
    end = torch.tensor([[0.0, 0.0, 9.0, 1.0, 2.0, 8.0]])
    ctx = torch.tensor([[False, True, True, True, True, True]])
    # best pair (1, 2) = 19
    c = top_spans(start, end, ctx, max_answer_length=10, n_best=6)
    assert (c.starts[0, 0].item(), c.ends[0, 0].item(), c.scores[0, 0].item()) == (1, 2, 19.0)
    # length limit: (1,2) has length 2 → with max_answer_length 1 only single tokens survive
    c = top_spans(start, end, ctx, max_answer_length=1, n_best=6)
    assert (c.starts[0] == c.ends[0])[c.valid[0]].all()
    assert (c.starts[0, 0].item(), c.ends[0, 0].item()) == (1, 1)
    # length exactly max_answer_length is allowed: (1,5) length 5 = 18.0
    c = top_spans(start, end, ctx, max_answer_length=5, n_best=6)
    assert (1, 5) in list(zip(c.starts[0][c.valid[0]].tolist(), c.ends[0][c.valid[0]].tolist(), strict=True))
    c = top_spans(start, end, ctx, max_answer_length=4, n_best=6)
    assert (1, 5) not in list(
        zip(c.starts[0][c.valid[0]].tolist(), c.ends[0][c.valid[0]].tolist(), strict=True)
    )
    # end < start never: start 4 with end 2 (3+9=12) must not appear
    assert not ((c.starts[0] == 4) & (c.ends[0] == 2)).any()
    # start outside the context: make token 0 the best start → ignored
    s2 = start.clone()
    s2[0, 0] = 100.0
    c = top_spans(s2, end, ctx, 10, 6)
    assert (c.starts[0][c.valid[0]] != 0).all()
    # max context: token 1 not max-context as a start → best becomes start 4? (4,5)=11 vs (3,5)=10 ...
    mc = torch.tensor([[True, False, True, True, True, True]])
    c = top_spans(start, end, ctx, 10, 6, max_context_mask=mc)
    assert (c.starts[0][c.valid[0]] != 1).all()
    assert (c.starts[0, 0].item(), c.ends[0, 0].item(), c.scores[0, 0].item()) == (4, 5, 11.0)
    # ... while the end token may lie outside the max-context part
    mc = torch.tensor([[True, True, False, True, True, True]])
    c = top_spans(start, end, ctx, 10, 6, max_context_mask=mc)
    assert (c.starts[0, 0].item(), c.ends[0, 0].item()) == (1, 2)


def test_n_best_limits_starts_and_ends():
    start = torch.tensor([[5.0, 4.0, 3.0, 2.0]])
    end = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    ctx = torch.ones(1, 4, dtype=torch.bool)
    c = top_spans(start, end, ctx, max_answer_length=4, n_best=2)
    # starts among {0, 1}, ends among {3, 2}
    pairs = set(zip(c.starts[0][c.valid[0]].tolist(), c.ends[0][c.valid[0]].tolist(), strict=True))
    assert pairs == {(0, 3), (0, 2)}  # n_best=2 also caps the candidates returned
    c = top_spans(start, end, ctx, max_answer_length=4, n_best=3)
    pairs = set(zip(c.starts[0][c.valid[0]].tolist(), c.ends[0][c.valid[0]].tolist(), strict=True))
    assert pairs == {(0, 3), (0, 2), (1, 3)}


def test_tiny_windows_pad_to_n_best_and_concatenate():
    a = top_spans(torch.randn(2, 3), torch.randn(2, 3), torch.ones(2, 3, dtype=torch.bool), 10, n_best=20)
    b = top_spans(torch.randn(1, 50), torch.randn(1, 50), torch.ones(1, 50, dtype=torch.bool), 10, n_best=20)
    assert a.scores.shape == (2, 20) and b.scores.shape == (1, 20)
    assert a.valid.sum(1).tolist() == [6, 6]  # 3 tokens: 6 pairs with end >= start
    both = cat([a, b])
    assert len(both) == 3 and torch.equal(both.starts[2], b.starts[0])


def test_low_precision_logits_are_ranked_in_float32():
    # In bfloat16 both sums round to 256 and the tie would go to start 0 (the higher start logit);
    # in float32, (1, 1) = 254 + 3 = 257 beats (0, 0) = 256 + 0.
    start = torch.tensor([[256.0, 254.0]], dtype=torch.bfloat16)
    end = torch.tensor([[0.0, 3.0]], dtype=torch.bfloat16)
    assert (start[0, 1] + end[0, 1]).item() == 256.0  # the premise
    ctx = torch.ones(1, 2, dtype=torch.bool)
    c = top_spans(start, end, ctx, max_answer_length=1, n_best=2)
    assert c.scores.dtype == torch.float32
    assert c.starts[0].tolist() == [1, 0] and c.scores[0].tolist() == [257.0, 256.0]


def test_shape_errors():
    x = torch.zeros(2, 5)
    m = torch.ones(2, 5, dtype=torch.bool)
    with pytest.raises(ValueError, match="end_logits"):
        top_spans(x, torch.zeros(2, 4), m)
    with pytest.raises(ValueError, match="context_mask"):
        top_spans(x, x, m[:1])
    with pytest.raises(ValueError, match=r"\[N, L\]"):
        top_spans(torch.zeros(2, 1, 5), torch.zeros(2, 1, 5), m[:, None])
    with pytest.raises(ValueError, match="max_answer_length"):
        top_spans(x, x, m, max_answer_length=0)


# ---------------------------------------------------------------------------------------------
# Cross-window reduction and text.


def _cands(rows):
    """rows: per window a list of (score, start, end) best first; padded to 3 columns."""
    k = 3
    scores = torch.full((len(rows), k), NEG)
    starts = torch.full((len(rows), k), -1)
    ends = torch.full((len(rows), k), -1)
    for w, row in enumerate(rows):
        for j, (sc, s, e) in enumerate(row):
            scores[w, j], starts[w, j], ends[w, j] = sc, s, e
    return SpanCandidates(scores, starts, ends, starts >= 0)


CONTEXTS = {"a": "alpha beta gamma delta", "b": "one two three"}
# tokens: 0 = [CLS]-like (no offsets), then words
OFFSETS = {
    "a0": [[-1, -1], [0, 5], [6, 10]],  # alpha beta
    "a1": [[-1, -1], [11, 16], [17, 22]],  # gamma delta
    "b0": [None, [0, 3], [4, 7], [8, 13]],
}


def test_best_window_wins_and_ties_go_to_first_window():
    ids = ["a", "b", "a"]
    offsets = [OFFSETS["a0"], OFFSETS["b0"], OFFSETS["a1"]]
    cands = _cands([[(5.0, 1, 2)], [(1.0, 2, 3)], [(7.0, 1, 2), (6.0, 1, 1)]])
    preds = predictions_of(ids, cands, offsets, CONTEXTS)
    assert list(preds) == ["a", "b"]
    assert preds["a"] == Prediction("gamma delta", 7.0, 11, 22, 2)
    assert preds["b"] == Prediction("two three", 1.0, 4, 13, 1)
    # tie: window 0 (first) wins
    cands = _cands([[(7.0, 1, 1)], [(1.0, 2, 3)], [(7.0, 1, 2)]])
    assert predictions_of(ids, cands, offsets, CONTEXTS)["a"].text == "alpha"
    assert answer_texts(predictions_of(ids, cands, offsets, CONTEXTS)) == {"a": "alpha", "b": "two three"}


def test_per_window_best_form_and_text_only_answers():
    # The evaluation loop keeps only each window's best span: [N] tensors, -inf for "no valid span".
    ids = ["a", "b", "a", "b"]
    offsets = [OFFSETS["a0"], OFFSETS["b0"], OFFSETS["a1"], OFFSETS["b0"]]
    scores = torch.tensor([5.0, NEG, 6.0, 2.0])
    starts = torch.tensor([1, -1, 2, 1])
    ends = torch.tensor([2, -1, 2, 3])
    assert best_answers(ids, scores, starts, ends, pad_offsets(offsets), CONTEXTS) == {"a": "delta", "b": "one two three"}
    full = best_predictions(ids, scores, starts, ends, pad_offsets(offsets), CONTEXTS)
    assert full["b"] == Prediction("one two three", 2.0, 0, 13, 3)


def test_offsets_tensor_gives_same_answers():
    ids = ["a", "b", "a"]
    offsets = [OFFSETS["a0"], OFFSETS["b0"], OFFSETS["a1"]]
    cands = _cands([[(5.0, 1, 2)], [(1.0, 2, 3)], [(4.0, 2, 2)]])
    t = pad_offsets(offsets)
    assert t.shape == (3, 4, 2) and t[0, 3].tolist() == [-1, -1] and t[1, 0].tolist() == [-1, -1]
    assert predictions_of(ids, cands, t, CONTEXTS) == predictions_of(ids, cands, offsets, CONTEXTS)


def test_question_without_valid_span_gets_empty_and_is_counted(caplog):
    ids = ["a", "b"]
    cands = _cands([[(2.0, 1, 1)], []])
    with caplog.at_level(logging.WARNING, logger="splinter.qa.spans"):
        preds = predictions_of(ids, cands, [OFFSETS["a0"], OFFSETS["b0"]], CONTEXTS)
    assert preds["b"] == Prediction("", NEG, -1, -1, -1) and not preds["b"].found
    assert preds["a"].found and preds["a"].text == "alpha"
    assert "1 of 2 questions" in caplog.text


def test_mask_offsets_disagreement_and_bad_inputs_raise():
    cands = _cands([[(2.0, 0, 1)]])  # token 0 has no offsets
    with pytest.raises(ValueError, match="disagree"):
        predictions_of(["a"], cands, [OFFSETS["a0"]], CONTEXTS)
    with pytest.raises(ValueError, match="expected"):
        predictions_of(["a", "a"], cands, [OFFSETS["a0"]], CONTEXTS)
    with pytest.raises(ValueError, match="offset rows"):
        predictions_of(["a"], cands, [OFFSETS["a0"], OFFSETS["a1"]], CONTEXTS)
    with pytest.raises(KeyError, match="no context"):
        predictions_of(["zz"], _cands([[(2.0, 1, 1)]]), [OFFSETS["a0"]], CONTEXTS)
    with pytest.raises(ValueError, match="more than the padded length"):
        pad_offsets([OFFSETS["b0"]], length=2)


def test_predict_answers_end_to_end():
    ids, offsets, maxctx, contexts, start, end = make_batch(11)
    preds = decode_predictions(
        start, end, ids, offsets, contexts, max_context=maxctx, max_answer_length=4, n_best=6
    )
    ctx = context_mask_from_offsets(offsets, start.shape[1])
    mc = pad_mask(maxctx, start.shape[1])
    ref_windows = [
        ref_window_candidates(_rows(start[w]), _rows(end[w]), _rows(ctx[w]), 4, 6, _rows(mc[w]))
        for w in range(len(ids))
    ]
    ref = ref_answers(ids, ref_windows, offsets, contexts)
    assert {q: p.text for q, p in preds.items()} == {q: r[0] for q, r in ref.items()}


def test_context_mask_helpers():
    m = context_mask_from_offsets([OFFSETS["a0"], OFFSETS["b0"]], length=5)
    assert m.tolist() == [[False, True, True, False, False], [False, True, True, True, False]]
    assert pad_mask([[1, 0], [1]], 3).tolist() == [[True, False, False], [True, False, False]]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    ids, offsets, maxctx, contexts, start, end = make_batch(5)
    ctx = context_mask_from_offsets(offsets, start.shape[1])
    for search in (top_spans, band_spans):
        cpu = search(start, end, ctx, 4, 6)
        gpu = search(start.cuda(), end.cuda(), ctx.cuda(), 4, 6)
        assert gpu.scores.is_cuda
        assert torch.equal(cpu.valid, gpu.valid.cpu()) and torch.equal(cpu.starts, gpu.starts.cpu())
        a = predictions_of(ids, cpu, offsets, contexts)
        b = predictions_of(ids, gpu, pad_offsets(offsets, start.shape[1]).cuda(), contexts)
        assert {q: p.text for q, p in a.items()} == {q: p.text for q, p in b.items()}
    assert math.isfinite(next(p.score for p in a.values() if p.found))


@pytest.mark.parametrize("seed", range(4))
def test_ties_keep_start_rank_then_end_rank_order(seed):
    """Integer logits make many equal sums: candidates must come out exactly as a stable sort of the
    (start rank, end rank) pairs by score, the order run_qa.py's sorted() gives (bands: by position)."""
    gen = torch.Generator().manual_seed(seed)
    n, length, n_best, max_len = 40, 30, 8, 6
    start = torch.randint(-3, 3, (n, length), generator=gen).float()
    end = torch.randint(-3, 3, (n, length), generator=gen).float()
    ctx = torch.rand(n, length, generator=gen) > 0.2
    for restrict in (True, False):
        c = (top_spans if restrict else band_spans)(start, end, ctx, max_len, n_best)
        for w in range(n):
            if restrict:
                s_idx = start[w].topk(n_best).indices.tolist()
                e_idx = end[w].topk(n_best).indices.tolist()
                pairs = [(s, e) for s in s_idx for e in e_idx]
            else:
                pairs = [(s, s + d) for s in range(length) for d in range(max_len) if s + d < length]
            valid = [(s, e) for s, e in pairs if ctx[w, s] and ctx[w, e] and 0 <= e - s < max_len]
            expected = sorted(valid, key=lambda p: -float(start[w, p[0]] + end[w, p[1]]))[:n_best]
            got = [(s, e) for s, e, v in zip(c.starts[w].tolist(), c.ends[w].tolist(), c.valid[w].tolist(),
                                             strict=True) if v]
            assert got == expected


def test_evaluation_set_reads_dataset_columns_like_lists():
    """EvaluationSet reads windows' offsets / max_context / example_id from Arrow (also after select()),
    with the same tensors and answers as plain lists."""
    from datasets import Dataset

    from splinter.data.evaluation_set import EvaluationSet

    offsets = [[[-1, -1], [0, 3], [4, 9]], [[-1, -1], [-1, -1], [2, 5], [6, 8], [-1, -1]], [[-1, -1]]]
    max_context = [[0, 1, 1], [0, 0, 1, 0, 0], [0]]
    windows = Dataset.from_dict({"offsets": offsets, "max_context": max_context, "example_id": ["a", "b", "a"]})
    contexts = {"a": "abc defghi", "b": "xxyyyyzzz"}
    for view, rows in ((windows, [0, 1, 2]), (windows.select([2, 0]), [2, 0])):
        got = EvaluationSet.from_windows(view, contexts)
        assert torch.equal(got.offsets, pad_offsets([offsets[i] for i in rows]))
        assert torch.equal(got.max_context_masks, pad_mask([max_context[i] for i in rows]))
        assert got.example_ids == [["a", "b", "a"][i] for i in rows]
    got = EvaluationSet.from_windows(windows, contexts)
    scores, starts, ends = torch.tensor([1.0, 2.0, 0.5]), torch.tensor([1, 2, 0]), torch.tensor([2, 3, 0])
    from_columns = best_answers(got.example_ids, scores, starts, ends, got.offsets, contexts)
    assert from_columns == {"a": "abc defgh", "b": "yyyyzz"}
