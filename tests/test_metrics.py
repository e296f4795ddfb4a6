"""splinter.qa.metrics: official SQuAD v1.1 EM/F1, hand-computed cases and the real dev set."""

from __future__ import annotations

import json
import logging
from fractions import Fraction
from pathlib import Path

import pytest

from splinter.qa.metrics import (
    exact_match_score,
    f1_score,
    max_over_ground_truths,
    normalize_answer,
    per_question_scores,
    squad_scores,
)

SQUAD_DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "squad-v1.1" / "dev-v1.1.json"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The  Quick, brown fox!", "quick brown fox"),
        ("an apple a day", "apple day"),
        ("theater anatomy", "theater anatomy"),  # articles only as whole words
        ("A-B", "ab"),  # punctuation is deleted, not replaced by a space
        ("Don't stop", "dont stop"),
        ("the-end", "theend"),  # punctuation goes first, then articles: "theend" is no article
        ("end. The", "end"),
        ("\tfoo\n\nbar  ", "foo bar"),
        ("Café – Ünïcode’s", "café – ünïcode’s"),  # only ASCII punctuation is removed
        ("ÀN Élan", "àn élan"),  # "àn" is not "an"
        ("x–the–y", "x– –y"),  # an article is replaced by a space, even between non-ASCII dashes
        ("", ""),
        ("The", ""),
    ],
)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


@pytest.mark.parametrize(
    ("pred", "gold", "f1"),
    [
        ("quick brown fox jumps", "the brown fox", Fraction(2, 3)),  # P=2/4, R=2/2
        ("w x y z", "z q", Fraction(1, 3)),  # P=1/4, R=1/2
        ("x x y", "x y y", Fraction(2, 3)),  # Counter overlap: x once, y once
        ("x x x", "x", Fraction(1, 2)),  # P=1/3, R=1
        ("x x", "x x y", Fraction(4, 5)),  # both x's count: P=1, R=2/3
        ("The Fox.", "fox", Fraction(1)),
        ("fox", "dog", Fraction(0)),
        ("", "fox", Fraction(0)),  # empty prediction
        ("fox", "", Fraction(0)),
    ],
)
def test_f1_hand_computed(pred, gold, f1):
    assert f1_score(pred, gold) == pytest.approx(float(f1), abs=1e-12)


def test_exact_match():
    assert exact_match_score("The Eiffel Tower!", "eiffel  tower") == 1.0
    assert exact_match_score("Eiffel Tower in Paris", "Eiffel Tower") == 0.0
    assert exact_match_score("", "fox") == 0.0


def test_gold_normalising_to_empty_is_f1_zero_even_for_empty_prediction():
    # docs/protocol.md §4: official v1.1 returns 0 when no token is shared; torchmetrics / v2.0 return 1.
    assert f1_score("", "The") == 0.0
    assert f1_score("a", "the") == 0.0
    assert exact_match_score("", "The") == 1.0
    assert exact_match_score("an", "The.") == 1.0
    assert squad_scores({"q": ""}, {"q": ["the"]}) == {"exact_match": 100.0, "f1": 0.0}


def test_max_over_ground_truths():
    golds = ["red fox", "brown fox jumps"]
    # vs "red fox": P=R=1/2 → 1/2; vs "brown fox jumps": P=1, R=2/3 → 4/5
    assert max_over_ground_truths(f1_score, "brown fox", golds) == pytest.approx(0.8)
    assert max_over_ground_truths(exact_match_score, "brown fox", golds) == 0.0
    assert max_over_ground_truths(exact_match_score, "Red fox!", golds) == 1.0
    with pytest.raises(ValueError):
        max_over_ground_truths(f1_score, "x", [])
    with pytest.raises(TypeError):
        max_over_ground_truths(f1_score, "x", "red fox")


def test_squad_scores_means_times_100_and_ignores_extra_predictions():
    preds = {"a": "the fox", "b": "quick brown fox jumps", "c": "dog", "extra": "whatever"}
    refs = {"a": ["Fox"], "b": ["cat", "the brown fox"], "c": ["cat"]}
    got = squad_scores(preds, refs)
    assert got["exact_match"] == pytest.approx(100 / 3)
    assert got["f1"] == pytest.approx(100 * (1 + 2 / 3 + 0) / 3)
    assert set(got) == {"exact_match", "f1"}
    per_q = per_question_scores(preds, refs)
    assert per_q["b"] == {"exact_match": 0.0, "f1": pytest.approx(2 / 3)}
    assert "extra" not in per_q


def test_missing_prediction_scores_zero_and_is_reported(caplog):
    refs = {"a": ["fox"], "b": ["dog"], "c": ["cat"], "d": ["cow"]}
    with caplog.at_level(logging.WARNING, logger="splinter.qa.metrics"):
        got = squad_scores({"a": "fox", "b": "dog"}, refs)
    assert got == {"exact_match": 50.0, "f1": 50.0}
    assert "2 of 4 questions have no prediction" in caplog.text


def test_no_warning_when_everything_is_answered(caplog):
    with caplog.at_level(logging.WARNING, logger="splinter.qa.metrics"):
        squad_scores({"a": "x"}, {"a": ["x"]})
    assert caplog.text == ""


def test_bad_references_raise():
    with pytest.raises(ValueError, match="no references"):
        squad_scores({}, {})
    with pytest.raises(ValueError, match="'q'"):
        squad_scores({"q": "x"}, {"q": []})
    with pytest.raises(ValueError, match="'q'"):
        squad_scores({"q": "x"}, {"q": "x"})  # a bare string is not a list of answers


def _dev_references() -> dict[str, list[str]]:
    if not SQUAD_DEV.exists():
        pytest.skip(f"{SQUAD_DEV} not present")
    data = json.loads(SQUAD_DEV.read_text(encoding="utf-8"))["data"]
    return {
        qa["id"]: [a["text"] for a in qa["answers"]]
        for article in data
        for para in article["paragraphs"]
        for qa in para["qas"]
    }


@pytest.mark.slow
def test_squad_dev_first_gold_scores_100():
    refs = _dev_references()
    assert len(refs) == 10570
    assert squad_scores({q: golds[0] for q, golds in refs.items()}, refs) == {
        "exact_match": 100.0,
        "f1": 100.0,
    }
    # and a constant wrong answer scores (near) nothing: the metric is not trivially 100
    low = squad_scores({q: "zzzz" for q in refs}, refs)
    assert low == {"exact_match": 0.0, "f1": 0.0}
