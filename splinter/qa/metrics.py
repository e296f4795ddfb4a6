"""SQuAD v1.1 exact match and F1, as the official ``evaluate-v1.1.py`` computes them (docs/protocol.md §4).

* normalisation: lowercase; drop every character in ``string.punctuation`` (ASCII only: "–", "’" and
  other Unicode punctuation stay); replace the whole words a/an/the by a space; collapse whitespace.
* EM: normalised strings equal. F1: bag-of-tokens overlap of the whitespace-split normalised strings.
  Both are maxed over the gold answers, averaged over the reference questions and multiplied by 100.
* Pinned edge case: a gold answer that normalises to "" (e.g. "The") scores F1 0 against any prediction,
  the empty one included, because the official script returns 0 when no token is shared; EM is 1 when
  the prediction normalises to "" as well.
* A reference question without a prediction scores 0 and is reported (a warning with the count), as
  the official script's "Unanswered question ... will receive score 0". Predictions for ids that are
  not in the references are ignored, as there.

Why not ``torchmetrics.text.SQuAD``: its F1 returns 1 when both token lists are empty (the SQuAD v2.0
rule), so it disagrees with v1.1 on the pinned case above (checked: torchmetrics 1.9, pred "" vs gold
"the" → F1 100), and it wants nested SQuAD-json-shaped inputs and returns tensors.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

from splinter.data.normalize import normalize_answer

log = logging.getLogger(__name__)

__all__ = [
    "exact_match_score",
    "f1_score",
    "max_over_ground_truths",
    "normalize_answer",
    "per_question_scores",
    "squad_scores",
]


def exact_match_score(prediction: str, ground_truth: str) -> float:
    """1.0 when the normalised strings are equal, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(ground_truth))


def f1_score(prediction: str, ground_truth: str) -> float:
    """Token-overlap F1 of the normalised strings; 0 when no token is shared (empty gold included)."""
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(ground_truth).split()
    num_same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_tokens)
    recall = num_same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def max_over_ground_truths(
    metric: Callable[[str, str], float], prediction: str, ground_truths: Sequence[str]
) -> float:
    """The best score of ``prediction`` against any of the gold answers."""
    if isinstance(ground_truths, str):
        raise TypeError("ground_truths must be a list of answers, not a string")
    if not ground_truths:
        raise ValueError("no gold answers to compare with")
    return max(metric(prediction, gt) for gt in ground_truths)


def per_question_scores(
    predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]
) -> dict[str, dict[str, float]]:
    """question id → {"exact_match": 0|1, "f1": 0..1}, for every id of ``references``.

    A reference id missing from ``predictions`` scores 0 on both (see `squad_scores` for the warning).
    A reference without any gold answer raises ValueError naming the id (the official script crashes).
    """
    scores: dict[str, dict[str, float]] = {}
    for qid, golds in references.items():
        if isinstance(golds, str) or not golds:
            raise ValueError(f"question {qid!r}: references must map ids to a non-empty list of answers")
        if qid not in predictions:
            scores[qid] = {"exact_match": 0.0, "f1": 0.0}
            continue
        pred = predictions[qid]
        scores[qid] = {
            "exact_match": max_over_ground_truths(exact_match_score, pred, golds),
            "f1": max_over_ground_truths(f1_score, pred, golds),
        }
    return scores


def squad_scores(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """{"exact_match": ..., "f1": ...}: means × 100 over the ids of ``references``.

    Reference ids without a prediction score 0; their count is logged as a warning.
    """
    if not references:
        raise ValueError("no references to score against")
    unanswered = [qid for qid in references if qid not in predictions]
    if unanswered:
        log.warning(
            "%d of %d questions have no prediction and will receive score 0 (e.g. %r)",
            len(unanswered),
            len(references),
            unanswered[0],
        )
    scores = per_question_scores(predictions, references).values()
    total = len(references)
    return {
        "exact_match": 100.0 * sum(s["exact_match"] for s in scores) / total,
        "f1": 100.0 * sum(s["f1"] for s in scores) / total,
    }
