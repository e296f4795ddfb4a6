"""MRQA `.jsonl(.gz)` files → example rows (see readers.py for the format and its span rules)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from splinter.data.examples import (
    NOTE_OTHER_TEXT_DROPPED,
    NOTE_OTHER_TEXT_MOVED,
    NOTE_SPAN_DROPPED,
    NOTE_TEXT_NORMALISED,
)
from splinter.data.formats.file_io import lines, load_json, need, question_id
from splinter.data.formats.records import need_questions, occurrences, policy, row
from splinter.data.normalize import normalize_answer
from splinter.errors import DataError


def mrqa_rows(path: Path, training: bool) -> Iterator[dict]:
    seen: set = set()
    any_line = contexts = questions = 0
    for lineno, line in lines(path):
        if not line.strip():
            continue
        any_line += 1
        obj = load_json(line, path, lineno)
        if not isinstance(obj, dict):
            raise DataError(path, "not MRQA: expected one JSON object per line", lineno)
        if "header" in obj and "context" not in obj:
            continue
        if "context" not in obj and "qas" not in obj:
            raise DataError(path, "not MRQA: a line needs 'context' and 'qas' (or 'header')", lineno)
        context = need(obj, "context", str, path, lineno)
        qas = need(obj, "qas", list, path, lineno)
        contexts += 1
        for k, qa in enumerate(qas):
            where = f"qas[{k}]: "
            if not isinstance(qa, dict):
                raise DataError(path, f"{where}expected an object", lineno)
            key = "qid" if qa.get("id") in (None, "") and "qid" in qa else "id"  # MRQA has both
            qid = question_id(qa, key, path, lineno, where)
            question = need(qa, "question", str, path, lineno, where)
            gold = need(qa, "answers", list, path, lineno, where)
            detected = need(qa, "detected_answers", list, path, lineno, where)
            if not all(isinstance(g, str) for g in gold):
                raise DataError(path, f"{where}field 'answers' should be a list of strings", lineno)
            spans, notes = mrqa_spans(context, detected, path, lineno, where)
            skip, notes = policy(qid, question, context, spans, gold, notes, training, seen)
            questions += 1
            yield row(qid, question, context, spans, gold, skip, notes, contexts)
    if not any_line:
        raise DataError(path, "empty file", None)
    if not contexts:
        raise DataError(path, "no contexts: the file has only a header", 1)
    need_questions(path, contexts, questions)


def mrqa_spans(context: str, detected: list, path, lineno, where) -> tuple[list, list]:
    """Located (text, start) spans (first detected answer first, duplicates removed) and notes."""
    spans, notes, seen, located = [], [], set(), set()
    for j, answer in enumerate(detected):
        here = f"{where}detected_answers[{j}]: "
        char_spans = need(answer, "char_spans", list, path, lineno, here)
        claimed = answer.get("text")
        for pair in char_spans:
            if (
                not isinstance(pair, (list, tuple))
                or len(pair) != 2
                or not all(isinstance(x, int) and not isinstance(x, bool) for x in pair)
            ):
                raise DataError(path, f"{here}char_spans should be [[start, end], ...] of integers", lineno)
            start, end = pair  # both inclusive
            if (start, end) in seen:
                continue
            seen.add((start, end))
            if not (0 <= start <= end < len(context)) or not context[start : end + 1].strip():
                notes.append(NOTE_SPAN_DROPPED)
                continue
            text = context[start : end + 1]
            if isinstance(claimed, str) and text != claimed:
                text, start, note = _check_slice(context, text, claimed, start)
                notes.append(note)
                if text is None:
                    continue
            if (text, start) not in located:  # a moved span may land on one already there
                located.add((text, start))
                spans.append((text, start))
    return spans, notes


def _check_slice(context: str, text: str, claimed: str, start: int) -> tuple[str | None, int, str]:
    """(text, start, note) for a span whose context slice `text` is not its answer text `claimed`.

    Equal after SQuAD's answer normalisation: the slice stays (harmless, counted). Other text: the span
    moves to the occurrence of `claimed` nearest to it, or is dropped (text None) when there is none.
    """
    normalised = normalize_answer(text)
    if normalised and normalised == normalize_answer(claimed):
        return text, start, NOTE_TEXT_NORMALISED
    found = list(occurrences(context, claimed)) if claimed.strip() else []
    if not found:
        return None, start, NOTE_OTHER_TEXT_DROPPED
    return claimed, min(found, key=lambda i: (abs(i - start), i)), NOTE_OTHER_TEXT_MOVED
