"""analysis.html: an evaluation's error-analysis page, one self-contained file beside predictions.json.

Every scored question with its passage, the gold spans and the predicted span marked in it, its EM and
F1 (`splinter.qa.metrics.per_question_scores`, the official metric) and, when the evaluation kept them,
its n-best spans with scores and probabilities (`SpanMetric(keep_candidates=True)`); on top, the run's
scores and F1 by question type and by answer length. The page (analysis.html beside this module, package
data) has its CSS and JavaScript inline and loads nothing: it opens from disk on an offline machine.

The data come from the evaluation itself: the examples it windowed (question, context, gold answers and
their located spans) and the character spans it decoded. They are embedded as JSON in a
``<script type="application/json">`` element with ``<``, ``>``, ``&``, U+2028 and U+2029 written as
``\\uXXXX`` escapes, so no text of the data can end that element or start markup, and the page's script
puts every text into the document as text nodes (never as HTML). Character offsets are converted to
UTF-16 code units, JavaScript's string indices (they differ from Python's after a non-BMP character).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from splinter.data.normalize import normalize_answer
from splinter.files import atomic_write
from splinter.qa.metrics import per_question_scores

ANALYSIS_FILE = "analysis.html"
TEMPLATE = Path(__file__).with_name("analysis.html")
DATA_MARKER = "/*SPLINTER_ANALYSIS_DATA*/"
# The n-best spans listed per question (the probabilities are over all the question's kept candidates).
PAGE_N_BEST = 10
WH_WORDS = ("what", "which", "who", "whom", "whose", "when", "where", "why", "how")
# Answer length in words (the first gold answer, normalised as the metric does): the histogram's bins.
LENGTH_BINS = ((1, 1, "1"), (2, 2, "2"), (3, 3, "3"), (4, 5, "4-5"), (6, 10, "6-10"), (11, math.inf, "11+"))
_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_WORD = re.compile(r"[^\W\d_]+")


def question_type(question: str) -> str:
    """The question's first wh-word ("In what year ...?" → "what"), else "other"."""
    for word in _WORD.findall(question.lower()):
        if word in WH_WORDS:
            return word
    return "other"


def answer_length_bin(golds: Sequence[str]) -> str:
    words = len(normalize_answer(golds[0]).split()) if golds else 0
    return next((label for low, high, label in LENGTH_BINS if low <= words <= high), "0")


def _utf16(context: str) -> list[int] | None:
    """Python index → UTF-16 index of `context`, or None when they are equal (no non-BMP character)."""
    if len(context.encode("utf-16-le")) == 2 * len(context):
        return None
    table, position = [0], 0
    for char in context:
        position += 2 if ord(char) > 0xFFFF else 1
        table.append(position)
    return table


def _span(table: list[int] | None, start: int, end: int) -> list[int]:
    return [start, end] if table is None else [table[start], table[end]]


def _gold_spans(texts: Sequence[str], starts: Sequence[int], table: list[int] | None) -> list[list[int]]:
    spans = sorted({(s, s + len(t)) for t, s in zip(texts, starts, strict=True) if s >= 0})
    return [_span(table, s, e) for s, e in spans]


def _histogram(keys: list[str], f1: list[float], exact: list[float], order: Sequence[str]) -> list[list]:
    """[[label, questions, mean F1 %, exact %], ...] in `order`, labels without questions left out."""
    rows = []
    for label in order:
        chosen = [i for i, key in enumerate(keys) if key == label]
        if chosen:
            rows.append([label, len(chosen), round(100 * sum(f1[i] for i in chosen) / len(chosen), 2),
                         round(100 * sum(exact[i] for i in chosen) / len(chosen), 2)])
    return rows


def analysis_data(
    examples: Mapping[str, Sequence],
    predictions: Mapping[str, str],
    references: Mapping[str, Sequence[str]],
    answers: Mapping[str, Mapping[str, Any]] | None,
    run: Mapping[str, Any],
    n_best: int = PAGE_N_BEST,
) -> dict[str, Any]:
    """The page's data: one row per scored question (the ids of `references`, in their order).

    `examples`: the evaluation's examples, by column (a `datasets.Dataset` or a dict of lists: id,
    question, context, answer_texts, answer_starts). `answers`: SpanMetric's (question id → its predicted
    char span and n-best list); None when only answer texts exist (evaluate.py predictions=...): the
    page then shows the prediction's text without marking it. `run`: the run's facts for the summary.
    """
    columns = {name: list(examples[name]) for name in ("id", "question", "context", "answer_texts", "answer_starts")}
    row_of = {qid: i for i, qid in enumerate(columns["id"])}
    missing = [qid for qid in references if qid not in row_of]
    if missing:
        raise ValueError(f"{len(missing)} scored questions are not among the examples (e.g. {missing[0]!r})")
    scores = per_question_scores(predictions, references)
    contexts: list[str] = []
    context_index: dict[str, int] = {}
    rows, types, lengths = [], [], []
    for qid, golds in references.items():
        i = row_of[qid]
        context = columns["context"][i]
        if context not in context_index:
            context_index[context] = len(contexts)
            contexts.append(context)
        table = _utf16(context)
        answer = (answers or {}).get(qid) or {}
        start, end = answer.get("start", -1), answer.get("end", -1)
        candidates = answer.get("n_best") or []
        types.append(question_type(columns["question"][i]))
        lengths.append(answer_length_bin(golds))
        rows.append([
            qid,
            columns["question"][i],
            context_index[context],
            _gold_spans(columns["answer_texts"][i], columns["answer_starts"][i], table),
            list(golds),
            predictions.get(qid, ""),
            _span(table, start, end) if start >= 0 else None,
            None if answer.get("score") is None else round(float(answer["score"]), 3),
            scores[qid]["exact_match"],
            round(scores[qid]["f1"], 4),
            types[-1],
            lengths[-1],
            [[*_span(table, a, b), round(s, 3), round(p, 4)] for a, b, s, p in candidates[:n_best]],
            len(candidates),
        ])
    f1 = [scores[qid]["f1"] for qid in references]  # unrounded: the summary is the run's score
    exact = [scores[qid]["exact_match"] for qid in references]
    total = len(rows)
    return {
        "run": {key: value for key, value in run.items() if isinstance(value, (str, int, float))},
        "summary": {
            "num_questions": total,
            "exact_match": 100 * sum(exact) / total if total else 0.0,
            "f1": 100 * sum(f1) / total if total else 0.0,
            "by_type": _histogram(types, f1, exact, (*WH_WORDS, "other")),
            "by_length": _histogram(lengths, f1, exact, ("0", *(label for _, _, label in LENGTH_BINS))),
            "has_spans": answers is not None,
            "n_best_shown": n_best,
        },
        "columns": ["id", "question", "context", "gold_spans", "golds", "prediction", "span", "score",
                    "exact_match", "f1", "type", "length", "n_best", "n_candidates"],
        "contexts": contexts,
        "questions": rows,
    }


def embed_json(data: Any) -> str:
    """`data` as JSON that can stand inside a <script> element: no "<", ">" or "&" (so no "</script>" and
    no "<!--"), and no U+2028/U+2029 (JavaScript line terminators in older engines), all as \\u escapes."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return re.sub("[<>&\u2028\u2029]", lambda match: _JSON_ESCAPES[match.group()], text)


def render(data: Mapping[str, Any]) -> str:
    template = TEMPLATE.read_text(encoding="utf-8")
    if template.count(DATA_MARKER) != 1:
        raise RuntimeError(f"{TEMPLATE}: expected the data marker {DATA_MARKER} once")
    return template.replace(DATA_MARKER, embed_json(data))


def write_analysis(path: str | Path, data: Mapping[str, Any]) -> int:
    """Write the page atomically; its size in bytes."""
    page = render(data).encode("utf-8")
    with atomic_write(path) as file:
        file.write(page)
    return len(page)


def human_size(size: int) -> str:
    for unit, scale in (("MB", 1e6), ("KB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def write_analysis_page(output_dir: str | Path, examples: Mapping[str, Sequence], predictions: Mapping[str, str],
                        references: Mapping[str, Sequence[str]], answers: Mapping[str, Mapping[str, Any]] | None,
                        run: Mapping[str, Any]) -> int:
    """`output_dir`/analysis.html from an evaluation (see `analysis_data`); its size in bytes."""
    return write_analysis(Path(output_dir) / ANALYSIS_FILE, analysis_data(examples, predictions, references, answers, run))
