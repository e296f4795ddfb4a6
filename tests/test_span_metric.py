"""EvaluationSet (windows → tensors) and SpanMetric (per-window bests → one answer per question → EM/F1)."""

from __future__ import annotations

import numpy as np
import torch
from datasets import Dataset

from splinter.data.evaluation_set import EvaluationSet
from splinter.qa.span_metric import SpanMetric

CONTEXTS = {"q1": "alpha beta gamma", "q2": "delta epsilon"}
REFERENCES = {"q1": ["beta"], "q2": ["delta"]}
# Three windows: q1 twice (window 1 holds the better span), q2 once; position 0 is a non-context token.
WINDOWS = {
    "example_id": ["q1", "q1", "q2"],
    "offsets": [[[-1, -1], [0, 5], [6, 10]], [[-1, -1], [6, 10], [11, 16]], [[-1, -1], [0, 5]]],
    "max_context": [[0, 1, 0], [0, 1, 1], [0, 1]],
}


def test_a_windows_dataset_and_plain_columns_give_the_same_tensors():
    from_dataset = EvaluationSet.from_windows(Dataset.from_dict(WINDOWS), CONTEXTS, REFERENCES)
    columns = {**WINDOWS, "offsets": [np.asarray(o) for o in WINDOWS["offsets"]]}
    from_columns = EvaluationSet.from_windows(columns, CONTEXTS, REFERENCES)
    for got in (from_dataset, from_columns):
        assert got.example_ids == ["q1", "q1", "q2"]
        assert got.offsets.tolist()[2] == [[-1, -1], [0, 5], [-1, -1]]  # padded with -1
        assert got.context_masks.tolist() == [[False, True, True], [False, True, True], [False, True, False]]
        assert got.max_context_masks.tolist() == [[False, True, False], [False, True, True], [False, True, False]]


def test_repeated_windows_are_scored_once_and_the_best_window_wins():
    evaluation = EvaluationSet.from_windows(WINDOWS, CONTEXTS, REFERENCES)
    metric = SpanMetric(evaluation, max_answer_length=2, n_best=3)
    window_1 = [0.0, 10.0, 0.0]  # "beta", score 20: beats window 0's "alpha" (score 2)
    metric.update(torch.tensor([1, 0]), torch.tensor([window_1, [0.0, 1.0, 0.0]]),
                  torch.tensor([window_1, [0.0, 1.0, 0.0]]))
    # Window 1 again, as DistributedSampler repeats a window to even out the shards.
    metric.update(torch.tensor([2, 1]), torch.tensor([[0.0, 1.0, 0.0], window_1]),
                  torch.tensor([[0.0, 1.0, 0.0], window_1]))
    result = metric.compute()
    assert result["predictions"] == {"q1": "beta", "q2": "delta"}
    assert (result["exact_match"], result["f1"]) == (100.0, 100.0)
    assert (result["num_questions"], result["num_windows"]) == (2, 3)


def test_max_context_rule_drops_starts_outside_the_max_context_window():
    evaluation = EvaluationSet.from_windows(WINDOWS, CONTEXTS, REFERENCES)
    metric = SpanMetric(evaluation, max_answer_length=2, n_best=3, use_max_context=True)
    start = torch.tensor([[0.0, 1.0, 9.0]])  # window 0's best start (token 2) is not max-context there
    metric.update(torch.tensor([0]), start, start)
    assert metric.compute()["predictions"] == {"q1": "alpha beta"}  # start 1, end 2
    metric = SpanMetric(evaluation, max_answer_length=2, n_best=3, use_max_context=False)
    metric.update(torch.tensor([0]), start, start)
    assert metric.compute()["predictions"] == {"q1": "beta"}  # start 2, end 2


def _long_and_short_windows(n_windows: int):
    rng = np.random.default_rng(0)
    offsets, flags = [], []
    for w in range(n_windows):  # one window of 384 tokens (the padded width), the others ~150 as in SQuAD
        n = 384 if w == 0 else int(rng.integers(100, 200))
        row = np.full((n, 2), -1, dtype=np.int32)
        row[20:n - 1] = np.stack([np.arange(20, n - 1), np.arange(21, n)], axis=1)
        offsets.append(row)
        flags.append((rng.random(n) < 0.5).astype(np.int8) * (row[:, 0] >= 0))
    return {"example_id": [f"q{w}" for w in range(n_windows)], "offsets": offsets, "max_context": flags}


def test_the_evaluation_set_holds_its_windows_in_about_nine_bytes_a_token():
    windows = _long_and_short_windows(2000)
    tokens = sum(len(o) for o in windows["offsets"])
    evaluation = EvaluationSet.from_windows(windows, {f"q{w}": "x" * 400 for w in range(2000)})
    held = sum(v.nbytes for v in vars(evaluation).values() if isinstance(v, torch.Tensor))
    # int32 offsets + a bool flag per token + one row start per window; padded to 384 tokens as
    # [N, 384, 2] int64 + two [N, 384] masks the same windows took 6.9 KB each (2.5× more per token)
    assert held <= 9 * tokens + 8 * 2001, (held, tokens)


def test_gathered_rows_are_the_padded_tables_rows():
    windows = _long_and_short_windows(50)
    evaluation = EvaluationSet.from_windows(windows, {})
    longest = max(len(o) for o in windows["offsets"])
    for w, (row, flags) in enumerate(zip(windows["offsets"], windows["max_context"], strict=True)):
        assert evaluation.offsets[w, :len(row)].tolist() == row.tolist()
        assert (evaluation.offsets[w, len(row):] == -1).all()
        assert evaluation.max_context_masks[w].tolist() == [bool(f) for f in flags] + [False] * (longest - len(row))
    index = torch.tensor([7, 0, 7, 31])
    for length in (16, longest, longest + 9):  # cut, exact, padded beyond the longest window
        offsets, max_context = evaluation.rows(index, length)
        padded = torch.nn.functional.pad(evaluation.offsets, (0, 0, 0, max(0, length - longest)), value=-1)
        assert torch.equal(offsets, padded[index, :length])
        masks = torch.nn.functional.pad(evaluation.max_context_masks, (0, max(0, length - longest)))
        assert torch.equal(max_context, masks[index, :length])
    chars = evaluation.token_char_offsets(torch.tensor([3, 3, 0]), torch.tensor([25, -1, 20]))
    assert chars.tolist() == [[25, 26], [-1, -1], [20, 21]]
