"""Questions to answer (no gold answers needed) from a file, for `predict.py`.

`read_questions(path)` accepts

- MRQA `.jsonl` / `.jsonl.gz`: one context per line `{"context", "qas": [{"id", "question", ...}]}`
  (header lines are skipped; answers, if present, are ignored);
- plain JSONL (`.jsonl` / `.jsonl.gz`), one question per line: `{"id", "question", "context"}`; a
  missing `id` becomes the line number. MRQA and plain lines may not be told apart by the suffix, so
  each line is recognised by its keys (`qas` → MRQA);
- SQuAD v1.1 / v2.0 `.json` (`.json.gz`): `{"data": [{"paragraphs": [{"context", "qas": [{"id",
  "question"}]}]}]}`, with or without answers.

Question ids follow the training and evaluation readers (`formats.file_io.question_id`): a string, or an
integer read as its string (MRQA and SQuAD files from other tools often number their questions).

It returns `(questions, summary)`: a list of `{"id", "question", "context"}` dicts in file order and a
`DataSummary` whose `skipped` counts the questions left out, by the readers' reasons (empty question or
context, duplicate id). A file that cannot be read (bad JSON, a field missing or of the wrong type)
raises `DataError` naming the file and line (or the JSON location, for SQuAD files).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from splinter.data.examples import SKIP_DUPLICATE_ID, SKIP_EMPTY, DataSummary
from splinter.data.formats.file_io import lines, load_json, question_id, read_document
from splinter.errors import DataError

SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz")


def read_questions(path: str | Path) -> tuple[list[dict], DataSummary]:
    summary, questions = stream_questions(path)
    return list(questions), summary


def stream_questions(path: str | Path) -> tuple[DataSummary, Iterator[dict]]:
    """`read_questions` without the list: the summary, from a first pass over the file that also
    raises any `DataError`, and an iterator that reads the file again and yields the questions one at a
    time, so that `predict.py`'s memory does not grow with the number of questions (only the set of
    ids does, to find duplicates; a SQuAD `.json` file is one JSON document, parsed whole per pass)."""
    path = Path(path).expanduser()
    name = path.name.lower()
    if not name.endswith(SUFFIXES):
        raise DataError(path, f"unknown format: expected one of {', '.join(SUFFIXES)}")
    if path.is_dir():
        raise DataError(path, "is a folder, not a data file")
    if not path.is_file():
        raise DataError(path, "file not found")
    reasons = Counter(reason for reason, _ in _checked_rows(path))
    if not reasons:
        raise DataError(path, "no questions in the file")
    kept = reasons.pop("", 0)
    summary = DataSummary(path=str(path), kept=kept, total=kept + sum(reasons.values()), skipped=dict(reasons),
                          split="predict")
    questions = (question for reason, question in _checked_rows(path) if not reason)
    return summary, questions


def _checked_rows(path: Path) -> Iterator[tuple[str, dict | None]]:
    """(skip reason, question) per question of the file, in order: ('', question) for a kept one."""
    rows = _json_rows(path) if path.name.lower().endswith((".json", ".json.gz")) else _jsonl_rows(path)
    seen: set[str] = set()
    for qid, question, context in rows:
        if not question.strip() or not context.strip():
            yield SKIP_EMPTY, None
        elif qid in seen:
            yield SKIP_DUPLICATE_ID, None
        else:
            seen.add(qid)
            yield "", {"id": qid, "question": question, "context": context}


def _string(obj: dict, key: str, path: Path, line: int | None, where: str = "") -> str:
    if key not in obj:
        raise DataError(path, f"{where}missing field '{key}'", line)
    if not isinstance(obj[key], str):
        raise DataError(path, f"{where}field '{key}' should be str, got {type(obj[key]).__name__}", line)
    return obj[key]


def _jsonl_rows(path: Path) -> Iterator[tuple[str, str, str]]:
    # The readers' line reader: bytes decoded per line (a bad byte is reported on its own line), BOM, CRLF.
    for lineno, line in lines(path):
        if line.strip():
            yield from _line_rows(line, path, lineno)


def _line_rows(line: str, path: Path, lineno: int) -> Iterator[tuple[str, str, str]]:
    obj = load_json(line, path, lineno)
    if not isinstance(obj, dict):
        raise DataError(path, "expected one JSON object per line", lineno)
    if "header" in obj and "context" not in obj:
        return
    context = _string(obj, "context", path, lineno)
    if "qas" in obj:  # MRQA: one context, several questions
        if not isinstance(obj["qas"], list):
            raise DataError(path, f"field 'qas' should be list, got {type(obj['qas']).__name__}", lineno)
        for k, qa in enumerate(obj["qas"]):
            where = f"qas[{k}]: "
            if not isinstance(qa, dict):
                raise DataError(path, f"{where}expected an object", lineno)
            key = "qid" if qa.get("id") in (None, "") and "qid" in qa else "id"  # the readers' choice
            qid = question_id(qa, key, path, lineno, where)
            yield qid, _string(qa, "question", path, lineno, where), context
        return
    qid = question_id(obj, "id", path, lineno, "") if "id" in obj else str(lineno)
    yield qid, _string(obj, "question", path, lineno), context


def _json_rows(path: Path) -> Iterator[tuple[str, str, str]]:
    obj = load_json(read_document(path), path)  # the readers' decoding and errors
    if not isinstance(obj, dict) or not isinstance(obj.get("data"), list):
        raise DataError(path, "not a SQuAD file: expected a JSON object with a 'data' list of articles", 1)
    for a, article in enumerate(obj["data"]):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise DataError(path, f"data[{a}]: missing field 'paragraphs'")
        for p, paragraph in enumerate(paragraphs):
            where = f"data[{a}].paragraphs[{p}]"
            if not isinstance(paragraph, dict):
                raise DataError(path, f"{where}: expected an object")
            context = _string(paragraph, "context", path, None, f"{where}: ")
            qas = paragraph.get("qas")
            if not isinstance(qas, list):
                raise DataError(path, f"{where}: missing field 'qas'")
            for q, qa in enumerate(qas):
                here = f"{where}.qas[{q}]: "
                if not isinstance(qa, dict):
                    raise DataError(path, f"{here}expected an object")
                qid = question_id(qa, "id", path, None, here)
                yield qid, _string(qa, "question", path, None, here), context
