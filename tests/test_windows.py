"""splinter.data.windows: layout, labels, coverage, stride, max-context, options and caching."""

from __future__ import annotations

import logging
import re
from collections import Counter

import numpy as np
import pytest
import torch
from datasets import Dataset, load_from_disk

from splinter.data import windows as windows_module
from splinter.data.evaluation_set import EvaluationSet
from splinter.data.windows import WindowSettings, build_windows, max_context_flags, window_spans
from splinter.errors import ConfigError, DataError
from splinter.qa.spans import best_answers
from splinter.tokenization.tokenizer import QUESTION_TOKEN, load_tokenizer

SMALL = WindowSettings(max_seq_length=48, doc_stride=16, max_query_length=12)

FILLER = ("The committee met again in the spring, and its members discussed the budget, the roads "
          "and the new école municipale at length. ")
# (question, context, answer): MRQA/SQuAD-like, answers at the start, middle and end, with accents,
# digits and punctuation; the long contexts span several windows.
ROWS = [
    ("Who wrote Hamlet?", "Hamlet was written by William Shakespeare around 1600.", "William Shakespeare"),
    ("What was written?", "Hamlet was written by William Shakespeare around 1600.", "Hamlet"),
    ("When was it written?", "Hamlet was written by William Shakespeare around 1600.", "1600"),
    ("Where is the café?", FILLER * 3 + "The Café Müller is in Wuppertal, Germany. " + FILLER * 4,
     "Wuppertal, Germany"),
    ("How much did it cost?", FILLER * 6 + "It cost $1,250.75 (estimated) in 1999. " + FILLER, "$1,250.75"),
    ("What is last?", FILLER * 5 + "The last words are naïve élan", "naïve élan"),
    ("What is first?", "Zürich-based firms " + FILLER * 5, "Zürich-based firms"),
    ("What year?", "It was built (1999)-2001 by them.", "1999"),  # no whitespace around the answer
]


def make_examples(rows=ROWS) -> Dataset:
    return Dataset.from_dict({
        "id": [f"q{i}" for i in range(len(rows))],
        "question": [q for q, _, _ in rows],
        "context": [c for _, c, _ in rows],
        "answer_texts": [[a] for _, _, a in rows],
        "answer_starts": [[c.index(a)] for _, c, a in rows],
        "gold_answers": [[a] for _, _, a in rows],
    })


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer("minilm")


def _context_positions(row: dict) -> list[int]:
    return [i for i, (s, e) in enumerate(row["offsets"]) if (s, e) != (-1, -1)]


def test_training_labels_map_back_to_answer_text(tok):
    examples = make_examples()
    train = build_windows(examples, tok, SMALL, training=True)
    evaluation = build_windows(examples, tok, SMALL, training=False)
    assert len(train) == len(evaluation) > len(examples)  # several windows per long context
    labelled = set()
    for t_row, e_row in zip(train, evaluation, strict=True):
        assert t_row["input_ids"] == e_row["input_ids"]  # same windows in the same order
        example = examples[int(e_row["example_id"][1:])]
        context, answer, a_start = example["context"], example["answer_texts"][0], example["answer_starts"][0]
        positions = _context_positions(e_row)
        window_chars = (e_row["offsets"][positions[0]][0], e_row["offsets"][positions[-1]][1])
        contains = window_chars[0] <= a_start and a_start + len(answer) <= window_chars[1]
        start, end = t_row["start_position"], t_row["end_position"]
        if not contains:
            assert (start, end) == (0, 0)
            continue
        assert positions[0] <= start <= end <= positions[-1]
        text = context[e_row["offsets"][start][0]:e_row["offsets"][end][1]]
        assert " ".join(text.split()) == " ".join(answer.split())
        labelled.add(e_row["example_id"])
    assert labelled == set(examples["id"])  # every answer is labelled in at least one window


def test_windows_cover_context_and_respect_max_length(tok):
    examples = make_examples()
    evaluation = build_windows(examples, tok, SMALL, training=False)
    by_example: dict[str, list] = {}
    for row in evaluation:
        assert len(row["input_ids"]) <= SMALL.max_seq_length
        by_example.setdefault(row["example_id"], []).append(row)
    for example in examples:
        all_offsets = [tuple(o) for o in tok.encode(example["context"], add_special_tokens=False).offsets]
        rows = by_example[example["id"]]
        covered = {tuple(r["offsets"][i]) for r in rows for i in _context_positions(r)}
        assert covered == set(all_offsets)
        last = rows[-1]
        assert tuple(last["offsets"][_context_positions(last)[-1]]) == all_offsets[-1]


def test_layout_and_question_token_with_long_question(tok):
    settings = WindowSettings(max_seq_length=64, doc_stride=20, max_query_length=16)
    question = " ".join(["why"] * 200) + f" really {QUESTION_TOKEN}?"  # 200+ tokens, a literal [QUESTION]
    context = FILLER * 4 + f"A stray {QUESTION_TOKEN} here."
    examples = make_examples([(question, context, "committee")])
    q_id, sep, cls, dot = (tok.token_to_id(t) for t in (QUESTION_TOKEN, "[SEP]", "[CLS]", "."))
    rows = build_windows(examples, tok, settings, training=False)
    assert len(rows) > 3
    for row in rows:
        ids = row["input_ids"]
        assert ids.count(q_id) == 1 and ids[row["question_position"]] == q_id
        assert row["question_position"] == settings.max_query_length - 1  # question part = 16 tokens
        assert ids[0] == cls and ids[row["question_position"] + 1:row["question_position"] + 3] == [dot, sep]
        assert ids[-1] == sep and ids.count(sep) == 2
        assert ids[1:row["question_position"]] == [tok.token_to_id("why")] * (settings.max_query_length - 2)


def test_stride_is_the_step_between_window_starts(tok):
    context = " ".join(["word"] * 1000)  # "word" is one token: token i starts at char 5·i
    examples = make_examples([("What?", context, "word")])
    rows = build_windows(examples, tok, WindowSettings(), training=False)
    starts = [row["offsets"][_context_positions(row)[0]][0] // 5 for row in rows]
    ends = [row["offsets"][_context_positions(row)[-1]][0] // 5 + 1 for row in rows]
    budget = 384 - len("[CLS] what ? [QUESTION] . [SEP]".split()) - 1
    assert starts == list(range(0, 128 * len(starts), 128))
    assert ends[:-1] == [s + budget for s in starts[:-1]] and ends[-1] == 1000
    assert starts[-2] + budget < 1000 <= starts[-1] + budget  # no superfluous last window


def test_window_spans():
    assert window_spans(10, 4, 3) == [(0, 4), (3, 7), (6, 10)]
    assert window_spans(10, 4, 9) == [(0, 4), (4, 8), (8, 10)]  # step clamped: no token skipped
    assert window_spans(3, 4, 2) == [(0, 3)]
    assert window_spans(0, 4, 2) == [(0, 0)]


def _naive_max_context(spans, position):
    best, best_window = None, None
    for i, (start, end) in enumerate(spans):
        if start <= position < end:
            score = min(position - start, end - 1 - position) + 0.01 * (end - start)
            if best is None or score > best:
                best, best_window = score, i
    return best_window


def test_max_context_flags_toy_case():
    spans = window_spans(10, 6, 2)  # (0,6) (2,8) (4,10)
    flags = max_context_flags(spans)
    # Hand-checked scores min(left, right) per window (the 0.01·length bonus is equal here):
    # token 3: 2/1/- → first; 4: 1/2/0 → second; 5: 0/2/1 → second; 6: -/1/2 → third.
    assert flags[0].tolist() == [1, 1, 1, 1, 0, 0]
    assert flags[1].tolist() == [0, 0, 1, 1, 0, 0]
    assert flags[2].tolist() == [0, 0, 1, 1, 1, 1]
    for spans in (window_spans(50, 12, 5), window_spans(37, 10, 3), window_spans(9, 9, 3)):
        flags = max_context_flags(spans)
        for position in range(spans[-1][1]):
            owners = [i for i, (s, e) in enumerate(spans) if s <= position < e and flags[i][position - s]]
            assert owners == [_naive_max_context(spans, position)]


def test_evaluation_columns(tok):
    examples = make_examples()
    rows = build_windows(examples, tok, SMALL, training=False)
    for row in rows:
        n = len(row["input_ids"])
        assert len(row["offsets"]) == len(row["max_context"]) == len(row["token_type_ids"]) == n
        positions = set(_context_positions(row))
        assert positions == set(range(row["question_position"] + 3, n - 1))
        assert all(row["max_context"][i] == 0 for i in range(n) if i not in positions)
    # Each context token is max-context in exactly one window of its example.
    for example in examples:
        counts: Counter = Counter()
        for row in rows.filter(lambda r, i=example["id"]: r["example_id"] == i):
            for i in _context_positions(row):
                counts[tuple(row["offsets"][i])] += row["max_context"][i]
        assert set(counts.values()) == {1}


@pytest.mark.parametrize("zero_types, hide_sep", [(True, True), (False, False), (False, True)])
def test_token_type_and_sep_options(tok, zero_types, hide_sep):
    settings = WindowSettings(max_seq_length=48, doc_stride=16, max_query_length=12,
                              zero_token_type_ids=zero_types, hide_sep=hide_sep)
    sep = tok.token_to_id("[SEP]")
    for row in build_windows(make_examples(), tok, settings, training=True):
        ids, types, mask = row["input_ids"], row["token_type_ids"], row["attention_mask"]
        first_sep = ids.index(sep)
        after = len(ids) - first_sep - 1
        expected_types = [0] * len(ids) if zero_types else [0] * (first_sep + 1) + [1] * after
        assert types == expected_types
        assert mask == [0 if (hide_sep and t == sep) else 1 for t in ids]


def test_defaults_are_the_papers():
    assert WindowSettings() == WindowSettings(384, 128, 64, True, True)
    with pytest.raises(ConfigError, match="max_query_length"):
        WindowSettings(max_query_length=2)
    with pytest.raises(ConfigError, match="max_seq_length"):
        WindowSettings(max_seq_length=60, max_query_length=64)
    with pytest.raises(ConfigError, match="doc_stride"):
        WindowSettings(doc_stride=0)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"max_seq_length": 40}, "config key 'settings.max_seq_length': must be >= settings.max_query_length "
                                 "+ 4 = 68, got 40"),
        ({"max_query_length": 2}, "config key 'settings.max_query_length': must be >= 3 (question + "
                                  "[QUESTION] .), got 2"),
        ({"doc_stride": 0}, "config key 'settings.doc_stride': must be >= 1, got 0"),
        # before: a TypeError traceback from comparing a string with a number
        ({"max_seq_length": "384"}, "config key 'settings.max_seq_length': must be an integer, got '384'"),
        ({"doc_stride": 1.5}, "config key 'settings.doc_stride': must be an integer, got 1.5"),
    ],
)
def test_settings_from_a_callers_keys_name_the_callers_full_key(values, message):
    with pytest.raises(ConfigError) as error:
        WindowSettings.from_keys("settings.", **values)
    assert str(error.value) == message
    assert WindowSettings.from_keys("data.", max_seq_length=68) == WindowSettings(max_seq_length=68)


def test_training_guards(tok):
    unanswered = {"answer_texts": [], "answer_starts": []}
    no_answer = make_examples([("q?", "some context", "some")]).map(lambda r: unanswered)
    with pytest.raises(DataError, match="without an answer"):
        build_windows(no_answer, tok, SMALL, training=True)
    moved = make_examples([("q?", "some context", "some")]).map(lambda r: {"answer_starts": [3]})
    with pytest.raises(DataError, match="does not point at"):
        build_windows(moved, tok, SMALL, training=True)
    # Evaluation accepts unlocated answers and an empty context (one window, no context tokens).
    empty = make_examples([("q?", "", "")]).map(lambda r: unanswered)
    (row,) = build_windows(empty, tok, SMALL, training=False)
    assert _context_positions(row) == [] and row["input_ids"][-2:] == [tok.token_to_id("[SEP]")] * 2


def test_second_identical_call_hits_the_cache(tok, tmp_path, monkeypatch):
    make_examples().save_to_disk(str(tmp_path / "examples"))
    examples = load_from_disk(str(tmp_path / "examples"))  # file-backed, so map results are cached
    first = build_windows(examples, tok, SMALL, training=True)
    assert first.cache_files

    def must_not_run(*args, **kwargs):
        raise AssertionError("windows were rebuilt instead of loaded from the cache")

    monkeypatch.setattr(windows_module, "_append_inputs", must_not_run)
    fresh = load_tokenizer("minilm")  # an equal, separately built tokenizer must hash the same
    again = build_windows(examples, fresh, SMALL, training=True)
    assert again.cache_files == first.cache_files and again[:] == first[:]
    # A different setting is a different fingerprint: the map runs (and here hits the trap).
    with pytest.raises(AssertionError, match="rebuilt"):
        build_windows(examples, tok, WindowSettings(max_seq_length=50, doc_stride=16, max_query_length=12),
                      training=True)


def test_num_proc_gives_the_same_windows(tok):
    examples = make_examples()
    single = build_windows(examples, tok, SMALL, training=False)
    multi = build_windows(examples, tok, SMALL, training=False, num_proc=2)
    assert multi[:] == single[:]


def test_answer_inside_a_word_labels_the_whole_token(tok):
    # "Wupper" is part of one wordpiece run; the label covers whole tokens, never less than the answer.
    examples = make_examples([("Where?", "It is in Wuppertal today.", "Wuppertal")])
    (t_row,) = build_windows(examples, tok, SMALL, training=True)
    (e_row,) = build_windows(examples, tok, SMALL, training=False)
    span = np.array(e_row["offsets"][t_row["start_position"]:t_row["end_position"] + 1])
    assert "It is in Wuppertal today."[span[0, 0]:span[-1, 1]] == "Wuppertal"
    assert re.fullmatch(r"##\w+", tok.id_to_token(e_row["input_ids"][t_row["end_position"]]))


def test_answer_covered_by_no_token_is_labelled_cls_with_a_warning(tok, caplog):
    # A control character is located in the text by the reader but removed by the normaliser.
    examples = make_examples([("Which?", "abc \x07 def", "\x07")])
    with caplog.at_level(logging.WARNING, logger="splinter.data.windows"):
        (row,) = build_windows(examples, tok, SMALL, training=True)
    assert (row["start_position"], row["end_position"]) == (0, 0)
    assert "covered by no token" in caplog.text


def test_padding_tokenizer_is_refused(tok):
    padded = load_tokenizer("minilm")
    padded.enable_padding(length=128)
    with pytest.raises(ConfigError, match="padding"):
        build_windows(make_examples(), padded, SMALL, training=True)


@pytest.mark.parametrize(
    ("context", "answer"),
    [
        ("The prize went to Jose\u0301 Saramago in 1998.", "Jose\u0301"),  # decomposed é mid-sentence
        ("The prize went to Jose\u0301", "Jose\u0301"),  # at the very end of the context
        ("She said cafe\u0301\u0301, twice.", "cafe\u0301\u0301"),  # two marks in a row
        ("The prize went to José Saramago.", "José"),  # precomposed: already covered by the token
    ],
)
def test_an_answer_ending_in_a_combining_mark_decodes_to_itself(tok, context, answer):
    # The uncased tokenizer strips accents: without extension the token's span ends before U+0301 and the
    # best possible prediction would be "Jose", never matching the answer exactly.
    examples = make_examples([("Who?", context, answer)])
    train = build_windows(examples, tok, WindowSettings(), training=True)
    evaluation = build_windows(examples, tok, WindowSettings(), training=False)
    starts, ends = torch.tensor(train["start_position"]), torch.tensor(train["end_position"])
    assert starts.tolist() != [0]  # the answer is labelled
    windows = EvaluationSet.from_windows(evaluation, {"q0": context})
    predicted = best_answers(windows.example_ids, torch.zeros(len(starts)), starts, ends, windows.offsets,
                             {"q0": context})
    assert predicted == {"q0": answer}


def test_combining_marks_extend_a_token_only_up_to_the_next_token(tok):
    text = "a .\u0301 b Jose\u0301"
    offsets = windows_module.context_offsets(tok.encode(text, add_special_tokens=False), text)
    assert [text[s:e] for s, e in offsets.tolist()] == ["a", ".\u0301", "b", "Jose\u0301"]


def _table_max_context_flags(spans):
    """The windows × tokens table that max_context_flags used to build: the reference for the one-pass
    version (same scores, argmax = first window of the best score)."""
    num_tokens = spans[-1][1]
    position = np.arange(num_tokens)
    scores = np.full((len(spans), num_tokens), -np.inf)
    for i, (start, end) in enumerate(spans):
        inside = position[start:end]
        scores[i, start:end] = np.minimum(inside - start, end - 1 - inside) + 0.01 * (end - start)
    best = scores.argmax(axis=0)
    return [(best[start:end] == i).astype(np.int8) for i, (start, end) in enumerate(spans)]


def _random_layouts(rng, count):
    for _ in range(count):
        tokens, budget = int(rng.integers(1, 300)), int(rng.integers(1, 60))
        # strides from 1 (every token in `budget` windows) through budget (no overlap) to beyond it
        yield window_spans(tokens, budget, int(rng.integers(1, budget + 10)))
    for _ in range(count):  # arbitrary covering layouts: windows of unequal lengths, many score ties
        tokens = int(rng.integers(1, 200))
        spans, start = [], 0
        while True:
            end = min(tokens, start + int(rng.integers(1, 40)))
            spans.append((start, end))
            if end == tokens:
                break
            start = int(rng.integers(max(0, start - 5), end + 1)) if rng.random() < 0.8 else end
        yield spans


def _has_tied_best_score(spans) -> bool:
    for position in range(spans[-1][1]):
        scores = [min(position - s, e - 1 - position) + 0.01 * (e - s) for s, e in spans if s <= position < e]
        if scores.count(max(scores)) > 1:
            return True
    return False


def test_max_context_flags_match_the_table_on_random_layouts():
    rng = np.random.default_rng(0)
    ties = 0
    for spans in _random_layouts(rng, 300):
        got, expected = max_context_flags(spans), _table_max_context_flags(spans)
        assert [g.tolist() for g in got] == [e.tolist() for e in expected], spans
        assert all(g.dtype == np.int8 for g in got)
        # each token is max-context in exactly one window
        owned = np.zeros(spans[-1][1], dtype=int)
        for (start, end), flags in zip(spans, got, strict=True):
            owned[start:end] += flags
        assert (owned == 1).all()
        ties += _has_tied_best_score(spans)
    assert ties > 100  # the layouts do exercise the first-window-wins rule


def test_max_context_flags_memory_is_linear_in_context_length():
    import tracemalloc

    spans = window_spans(100_000, 381, 128)  # ~400 KB of text, 780 windows
    tracemalloc.start()
    try:
        flags = max_context_flags(spans)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(int(f.sum()) for f in flags) == 100_000
    # the windows × tokens table took 780 × 100,000 × 8 bytes = 624 MB (12 GB at 1 MB of text); now:
    # two per-token arrays (1.6 MB) and the flags (~0.4 MB with their numpy headers)
    assert peak < 16 * 2**20, peak
