"""SQuAD v1.1 / v2.0 `.json` files → example rows (see readers.py for the format)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from splinter.data.examples import (
    NOTE_SPAN_DROPPED,
    NOTE_START_MOVED,
    NOTE_TEXT_NORMALISED,
    SKIP_UNANSWERABLE,
)
from splinter.data.formats.file_io import load_json, need, question_id, read_document
from splinter.data.formats.records import need_questions, occurrences, policy, row
from splinter.data.normalize import normalize_answer
from splinter.errors import DataError

NOTE_TEXT_ABSENT = "answer text not in context (answer dropped)"


def squad_rows(path: Path, training: bool) -> Iterator[dict]:
    obj = load_json(read_document(path), path)
    if not isinstance(obj, dict) or not isinstance(obj.get("data"), list):
        raise DataError(path, "not a SQuAD file: expected a JSON object with a 'data' list of articles", 1)
    if not obj["data"]:
        raise DataError(path, "no articles: 'data' is empty", 1)
    seen: set = set()
    contexts = questions = 0
    for a, article in enumerate(obj["data"]):
        paragraphs = need(article, "paragraphs", list, path, None, f"data[{a}]: ")
        for p, paragraph in enumerate(paragraphs):
            where = f"data[{a}].paragraphs[{p}]"
            context = need(paragraph, "context", str, path, None, f"{where}: ")
            qas = need(paragraph, "qas", list, path, None, f"{where}: ")
            contexts += 1
            questions += len(qas)
            for q, qa in enumerate(qas):
                here = f"{where}.qas[{q}]: "
                qid = question_id(qa, "id", path, None, here)
                question = need(qa, "question", str, path, None, here)
                impossible = bool(qa.get("is_impossible", False))
                answers = qa.get("answers")
                if answers is None and not impossible:
                    raise DataError(path, f"{here}missing field 'answers'", None)
                answers = answers or []
                if not isinstance(answers, list):
                    raise DataError(path, f"{here}field 'answers' should be list", None)
                if impossible or (not answers and "plausible_answers" in qa):
                    yield row(qid, question, context, [], [], SKIP_UNANSWERABLE, [], contexts)
                    continue
                texts_starts = []
                for k, answer in enumerate(answers):
                    at = f"{here}answers[{k}]: "
                    texts_starts.append(
                        (need(answer, "text", str, path, None, at), need(answer, "answer_start", int, path, None, at))
                    )
                yield squad_row(qid, question, context, texts_starts, training, seen, contexts)
    need_questions(path, contexts, questions)


def squad_row(qid, question, context, texts_starts, training, seen, context_index) -> dict:
    spans, notes = _locate(context, texts_starts)
    gold = [t for t, _ in texts_starts]
    skip, notes = policy(qid, question, context, spans, gold, notes, training, seen)
    return row(qid, question, context, spans, gold, skip, notes, context_index)


def _locate(context: str, texts_starts) -> tuple[list, list]:
    """SQuAD answers → (text, start) spans with context[start:start+len(text)] == text, and notes."""
    spans, notes, seen = [], [], set()
    for text, start in texts_starts:
        if not text.strip():
            notes.append(NOTE_SPAN_DROPPED)
            continue
        piece = context[start : start + len(text)] if start >= 0 else ""
        if piece != text:
            normalised = normalize_answer(piece)
            if normalised and normalised == normalize_answer(text):  # as MRQA's "The Broncos": slice used
                text = piece
                notes.append(NOTE_TEXT_NORMALISED)
            else:
                found = list(occurrences(context, text))
                if not found:
                    notes.append(NOTE_TEXT_ABSENT)
                    continue
                start = min(found, key=lambda i: (abs(i - start), i))
                notes.append(NOTE_START_MOVED)
        if (text, start) not in seen:
            seen.add((text, start))
            spans.append((text, start))
    return spans, notes
