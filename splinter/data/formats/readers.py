"""Read question-answering data into an examples Dataset (see `splinter.data.examples`).

`read_examples(source, training=...)` accepts

- an MRQA file, `.jsonl` or `.jsonl.gz`: an optional header line `{"header": {...}}`, then one context
  per line `{"id", "context", "qas": [{"id", "question", "answers", "detected_answers"}]}`, where each
  detected answer has INCLUSIVE `char_spans` `[[start, end]]`. A span's context slice
  `context[start:end + 1]` is checked against the detected answer's `text`: equal, or equal after
  SQuAD's answer normalisation (MRQA wrote "The Broncos" for the context's "Broncos"), the slice is the
  answer; other text, the span is moved to the nearest occurrence of `text` in the context, or dropped
  when there is none (each case counted separately in the summary). `qas[].answers` are the gold
  answers for scoring, never changed. For training the first remaining span is the label.
- a SQuAD v1.1 / v2.0 JSON file (`{"data": [{"paragraphs": [{"context", "qas"}]}]}`). Unanswerable v2.0
  questions are skipped (and counted) for training and for evaluation alike: the metric is v1.1's.
- a `datasets` hub name such as `"squad"` (split "train" when training, else "validation"; pick another
  with `"name:split"`), with SQuAD's columns `id, question, context, answers{text, answer_start}`.
- one MRQA dev set from the Hub: `"mrqa-workshop/mrqa:<Subset>"` (e.g. `:BioASQ`; the split follows from
  the subset) or `"mrqa-workshop/mrqa:<split>:<Subset>"`, parsed like an MRQA file (`splinter.data.formats.mrqa_hub`).

Files are parsed by `Dataset.from_generator`, so the result is an Arrow file in the datasets cache,
reused on the next read. Its fingerprint is a hash of the file's sha256, the training flag and this
module's source, so editing the data or the reader invalidates the cache.

Questions that cannot be used are skipped and counted by reason in the returned `DataSummary`; a file
that cannot be read at all (bad JSON, missing field, empty file, unknown structure, a byte that is not
UTF-8) raises `DataError` naming the file and the line (MRQA; SQuAD JSON for JSON and UTF-8 errors) or
the JSON location (SQuAD JSON, which is often a single line). Files may start with a UTF-8 byte order
mark and use CRLF line ends; integer question ids (some public SQuAD-format sets have them) become
strings ("123").
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

from datasets import Dataset, Features, List, Value
from datasets.utils.tqdm import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

from splinter.data.formats import mrqa_hub
from splinter.data.examples import (
    FEATURES,
    NOTE_NOT_LOCATED,
    NOTE_OTHER_TEXT_DROPPED,
    NOTE_OTHER_TEXT_MOVED,
    NOTE_SPAN_DROPPED,
    NOTE_START_MOVED,
    NOTE_TEXT_NORMALISED,
    SKIP_DUPLICATE_ID,
    SKIP_EMPTY,
    SKIP_NO_GOLD,
    SKIP_NOT_FOUND,
    SKIP_OTHER_TEXT,
    SKIP_UNANSWERABLE,
    DataSummary,
)
from splinter.errors import DataError, SplinterError
from splinter.hub import is_hub_id, local_path, looks_like_path, neither, offline_note
from splinter.qa.metrics import normalize_answer

logger = logging.getLogger(__name__)

NOTE_TEXT_ABSENT = "answer text not in context (answer dropped)"

# Bookkeeping columns written to the cache next to the examples and removed before returning.
_SKIP, _NOTES, _CONTEXT = "_skip", "_notes", "_context"
_RAW_FEATURES = Features(
    {**FEATURES, _SKIP: Value("string"), _NOTES: List(Value("string")), _CONTEXT: Value("int64")}
)
_CODE_FILES = ("readers.py", "examples.py", "mrqa_hub.py", "../metrics.py")  # metrics: normalize_answer decides labels


def read_examples(source, *, training: bool, cache_dir: str | None = None) -> tuple[Dataset, DataSummary]:
    """Read `source` (MRQA jsonl[.gz], SQuAD json, or a datasets hub name) into (examples, summary)."""
    text = os.fspath(source)
    path = local_path(text)
    if path.is_dir():
        raise DataError(path, "is a directory, not a data file")
    if path.is_file():
        fmt = _detect_format(path)
        sha = file_sha256(path)
        stat = path.stat()
        gen_kwargs = {
            "path": str(path.resolve()),
            "fmt": fmt,
            "training": bool(training),
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "sha256": sha,
        }
        fingerprint = _fingerprint("file", fmt, sha, training)
        raw = _build(_file_rows, gen_kwargs, fingerprint, cache_dir)
        return _finish(raw, str(path), training, sha)
    if looks_like_path(text):
        raise DataError(path, "file not found")
    if not is_hub_id(text, suffix=True):
        raise DataError(text, neither(text, suffix=True))
    return _read_hub(text, training, cache_dir)


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------------
# building and summarising


def _fingerprint(*parts) -> str:
    digest = hashlib.sha256()
    here = Path(__file__).parent
    for name in _CODE_FILES:  # any change to the parsing code invalidates cached examples
        digest.update((here / name).read_bytes())
    digest.update(repr(parts).encode())
    return digest.hexdigest()[:32]


def _build(generator, gen_kwargs: dict, fingerprint: str, cache_dir) -> Dataset:
    bars_were_on = not are_progress_bars_disabled()
    disable_progress_bars()  # "Generating train split" bars say nothing useful here
    try:
        return Dataset.from_generator(
            generator,
            features=_RAW_FEATURES,
            gen_kwargs=gen_kwargs,
            cache_dir=cache_dir,
            fingerprint=fingerprint,
        )
    except Exception as e:  # datasets wraps errors raised in the generator: surface ours
        cause = e
        while cause is not None:
            if isinstance(cause, SplinterError):
                raise cause.with_traceback(None) from None
            cause = cause.__cause__ or cause.__context__
        raise
    finally:
        if bars_were_on:
            enable_progress_bars()


def _finish(raw: Dataset, where: str, training: bool, sha: str) -> tuple[Dataset, DataSummary]:
    reasons = raw.data.column(_SKIP).to_pylist()
    notes = raw.data.column(_NOTES).to_pylist()
    contexts = len(set(raw.data.column(_CONTEXT).to_pylist()))
    summary = DataSummary.from_reasons(
        where, reasons, notes, split="train" if training else "eval", sha256=sha, contexts=contexts
    )
    kept = [i for i, r in enumerate(reasons) if not r]
    examples = raw if len(kept) == len(raw) else raw.select(kept)
    examples = examples.remove_columns([_SKIP, _NOTES, _CONTEXT])
    if summary.kept == 0:
        raise DataError(where, f"no usable questions ({summary})")
    logger.debug("%s", summary)  # the caller reports it (QADataModule prints it once per file)
    return examples, summary


def _row(qid, question, context, spans, gold, skip="", notes=(), context_index=0) -> dict:
    return {
        "id": qid,
        "question": question,
        "context": context,
        "answer_texts": [t for t, _ in spans],
        "answer_starts": [s for _, s in spans],
        "gold_answers": list(gold),
        _SKIP: skip,
        _NOTES: list(notes),
        _CONTEXT: context_index,
    }


def _policy(qid, question, context, spans, gold, notes, training, seen: set) -> tuple[str, list]:
    """The skip reason ('' = keep) for one parsed question, and its final notes."""
    if not question.strip() or not context.strip():
        return SKIP_EMPTY, notes
    if qid in seen:
        return SKIP_DUPLICATE_ID, notes
    seen.add(qid)
    if training and not spans:
        return (SKIP_OTHER_TEXT if NOTE_OTHER_TEXT_DROPPED in notes else SKIP_NOT_FOUND), notes
    if not training and not gold:
        return SKIP_NO_GOLD, notes
    if not spans:
        notes = [*notes, NOTE_NOT_LOCATED]
    return "", notes


# ---------------------------------------------------------------------------------------------------
# files


def _open_bytes(path: Path):
    # Bytes, decoded line by line by the callers: a text stream decodes in 8 KiB chunks, so its
    # UnicodeDecodeError cannot say on which line the bad byte is.
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def _decode(raw: bytes, path: Path, first_line: int) -> str:
    """UTF-8 text of `raw` (the file's bytes from line `first_line` on); a bad byte is an error naming
    its line and column. A leading byte order mark is dropped."""
    if first_line == 1:
        raw = raw.removeprefix(codecs.BOM_UTF8)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line_start = raw.rfind(b"\n", 0, e.start) + 1
        line = first_line + raw.count(b"\n", 0, e.start)
        column = len(raw[line_start : e.start].decode("utf-8", errors="replace")) + 1
        raise DataError(path, f"not UTF-8: byte 0x{raw[e.start]:02x} at column {column}", line) from None


def _detect_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz")):
        return "mrqa"
    if name.endswith((".json", ".json.gz")):
        return "squad"
    # unknown suffix: sniff the first non-blank character (a SQuAD file is one JSON object whose
    # first key is usually "data" or "version"; an MRQA file starts with a header or context object)
    try:
        with _open_bytes(path) as f:
            head = f.read(4096).removeprefix(codecs.BOM_UTF8).decode("utf-8", errors="replace")
    except (OSError, EOFError) as e:
        raise DataError(path, f"cannot read: {e}", None) from None
    stripped = head.lstrip()
    if not stripped:
        raise DataError(path, "empty file", None)
    try:
        first = json.loads(stripped.split("\n", 1)[0])
    except json.JSONDecodeError:
        first = None
    if isinstance(first, dict) and ("header" in first or "qas" in first):
        return "mrqa"
    if stripped.startswith("{"):
        return "squad"
    raise DataError(path, "unknown format: expected MRQA .jsonl(.gz) or SQuAD .json", 1)


def _file_rows(path: str, fmt: str, training: bool, size: int, mtime_ns: int, sha256: str) -> Iterator[dict]:
    """The generator behind `Dataset.from_generator`. size/mtime_ns/sha256 only identify the file."""
    del size, mtime_ns, sha256
    if fmt == "mrqa":
        yield from _mrqa_rows(Path(path), training)
    else:
        yield from _squad_rows(Path(path), training)


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of each line; LF or CRLF ends (JSON ignores the CR)."""
    lineno = 0
    try:
        with _open_bytes(path) as f:
            for lineno, raw in enumerate(f, 1):  # noqa: B007 (lineno is used after the loop on error)
                yield lineno, _decode(raw, path, lineno)
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        raise DataError(path, f"cannot read: {e}", lineno + 1) from None


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")


def check_no_lone_surrogate(obj, text: str, path, line: int | None) -> None:
    """A lone surrogate escape ("\\ud83d": half of a UTF-16 pair, an emoji cut in two) parses as JSON but
    is not text: writing it (the datasets cache, an output file) fails deep inside with UnicodeEncodeError.
    One line naming the file and line instead. `obj` is what json.loads made of `text`; `line` None: a
    whole-file JSON, whose line is that of the escape's first occurrence."""
    if not _SURROGATE_ESCAPE.search(text):  # the common case: no such escape at all, nothing to walk
        return
    found = _find_surrogate(obj)
    if found is None:  # only complete pairs, which json.loads joined into one character
        return
    escape = f"\\u{ord(found):04x}"
    if line is None:
        at = text.lower().find(escape)
        line = text.count("\n", 0, at) + 1 if at >= 0 else None
    raise DataError(path, f"a lone surrogate escape \"{escape}\" (half of a UTF-16 pair, e.g. an emoji cut "
                          "in two) is not text: fix or remove it", line)


def _find_surrogate(obj) -> str | None:
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            match = _SURROGATE.search(item)
            if match:
                return match.group()
        elif isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            stack += item
    return None


def _need(obj: dict, key: str, kind, path, line, where: str = ""):
    if not isinstance(obj, dict) or key not in obj:
        raise DataError(path, f"{where}missing field '{key}'", line)
    value = obj[key]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise DataError(path, f"{where}field '{key}' should be {names}, got {type(value).__name__}", line)
    return value


def _mrqa_rows(path: Path, training: bool) -> Iterator[dict]:
    seen: set = set()
    any_line = contexts = questions = 0
    for lineno, line in _lines(path):
        if not line.strip():
            continue
        any_line += 1
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(path, f"malformed JSON: {e.msg} (column {e.colno})", lineno) from None
        check_no_lone_surrogate(obj, line, path, lineno)
        if not isinstance(obj, dict):
            raise DataError(path, "not MRQA: expected one JSON object per line", lineno)
        if "header" in obj and "context" not in obj:
            continue
        if "context" not in obj and "qas" not in obj:
            raise DataError(path, "not MRQA: a line needs 'context' and 'qas' (or 'header')", lineno)
        context = _need(obj, "context", str, path, lineno)
        qas = _need(obj, "qas", list, path, lineno)
        contexts += 1
        for k, qa in enumerate(qas):
            where = f"qas[{k}]: "
            if not isinstance(qa, dict):
                raise DataError(path, f"{where}expected an object", lineno)
            key = "qid" if qa.get("id") in (None, "") and "qid" in qa else "id"  # MRQA has both
            qid = _question_id(qa, key, path, lineno, where)
            question = _need(qa, "question", str, path, lineno, where)
            gold = _need(qa, "answers", list, path, lineno, where)
            detected = _need(qa, "detected_answers", list, path, lineno, where)
            if not all(isinstance(g, str) for g in gold):
                raise DataError(path, f"{where}field 'answers' should be a list of strings", lineno)
            spans, notes = _mrqa_spans(context, detected, path, lineno, where)
            skip, notes = _policy(qid, question, context, spans, gold, notes, training, seen)
            questions += 1
            yield _row(qid, question, context, spans, gold, skip, notes, contexts)
    if not any_line:
        raise DataError(path, "empty file", None)
    if not contexts:
        raise DataError(path, "no contexts: the file has only a header", 1)
    _need_questions(path, contexts, questions)


def _need_questions(path: Path, contexts: int, questions: int) -> None:
    # else datasets fails on an empty generator ("Instruction 'train' corresponds to no data")
    if not questions:
        raise DataError(path, f"no questions: its {contexts} context{'s' if contexts != 1 else ''} all have an "
                              "empty 'qas' list", None)


def _question_id(qa, key: str, path, line, where: str) -> str:
    """qa[key] as a string id: integers are accepted (123 → "123"), anything else but a string is an error."""
    if not isinstance(qa, dict) or key not in qa:
        raise DataError(path, f"{where}missing field '{key}'", line)
    value = qa[key]
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value:
        raise DataError(path, f"{where}field '{key}' should be a non-empty string or an integer, got {value!r}", line)
    return value


def _mrqa_spans(context: str, detected: list, path, lineno, where) -> tuple[list, list]:
    """Located (text, start) spans (first detected answer first, duplicates removed) and notes."""
    spans, notes, seen, located = [], [], set(), set()
    for j, answer in enumerate(detected):
        here = f"{where}detected_answers[{j}]: "
        char_spans = _need(answer, "char_spans", list, path, lineno, here)
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
    found = list(_occurrences(context, claimed)) if claimed.strip() else []
    if not found:
        return None, start, NOTE_OTHER_TEXT_DROPPED
    return claimed, min(found, key=lambda i: (abs(i - start), i)), NOTE_OTHER_TEXT_MOVED


def _squad_rows(path: Path, training: bool) -> Iterator[dict]:
    try:
        with _open_bytes(path) as f:
            raw = _decode(f.read(), path, 1)
    except (OSError, EOFError) as e:
        raise DataError(path, f"cannot read: {e}", None) from None
    if not raw.strip():
        raise DataError(path, "empty file", None)
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as e:
        raise DataError(path, f"malformed JSON: {e.msg} (column {e.colno})", e.lineno) from None
    check_no_lone_surrogate(obj, raw, path, None)
    if not isinstance(obj, dict) or not isinstance(obj.get("data"), list):
        raise DataError(path, "not a SQuAD file: expected a JSON object with a 'data' list of articles", 1)
    if not obj["data"]:
        raise DataError(path, "no articles: 'data' is empty", 1)
    seen: set = set()
    contexts = questions = 0
    for a, article in enumerate(obj["data"]):
        paragraphs = _need(article, "paragraphs", list, path, None, f"data[{a}]: ")
        for p, paragraph in enumerate(paragraphs):
            where = f"data[{a}].paragraphs[{p}]"
            context = _need(paragraph, "context", str, path, None, f"{where}: ")
            qas = _need(paragraph, "qas", list, path, None, f"{where}: ")
            contexts += 1
            questions += len(qas)
            for q, qa in enumerate(qas):
                here = f"{where}.qas[{q}]: "
                qid = _question_id(qa, "id", path, None, here)
                question = _need(qa, "question", str, path, None, here)
                impossible = bool(qa.get("is_impossible", False))
                answers = qa.get("answers")
                if answers is None and not impossible:
                    raise DataError(path, f"{here}missing field 'answers'", None)
                answers = answers or []
                if not isinstance(answers, list):
                    raise DataError(path, f"{here}field 'answers' should be list", None)
                if impossible or (not answers and "plausible_answers" in qa):
                    yield _row(qid, question, context, [], [], SKIP_UNANSWERABLE, [], contexts)
                    continue
                texts_starts = []
                for k, answer in enumerate(answers):
                    at = f"{here}answers[{k}]: "
                    texts_starts.append(
                        (_need(answer, "text", str, path, None, at), _need(answer, "answer_start", int, path, None, at))
                    )
                yield _squad_row(qid, question, context, texts_starts, training, seen, contexts)
    _need_questions(path, contexts, questions)


def _squad_row(qid, question, context, texts_starts, training, seen, context_index) -> dict:
    spans, notes = _locate(context, texts_starts)
    gold = [t for t, _ in texts_starts]
    skip, notes = _policy(qid, question, context, spans, gold, notes, training, seen)
    return _row(qid, question, context, spans, gold, skip, notes, context_index)


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
                found = list(_occurrences(context, text))
                if not found:
                    notes.append(NOTE_TEXT_ABSENT)
                    continue
                start = min(found, key=lambda i: (abs(i - start), i))
                notes.append(NOTE_START_MOVED)
        if (text, start) not in seen:
            seen.add((text, start))
            spans.append((text, start))
    return spans, notes


def _occurrences(text: str, needle: str) -> Iterator[int]:
    i = text.find(needle)
    while i >= 0:
        yield i
        i = text.find(needle, i + 1)


# ---------------------------------------------------------------------------------------------------
# datasets hub


def _read_hub(source: str, training: bool, cache_dir) -> tuple[Dataset, DataSummary]:
    if source.partition(":")[0] in mrqa_hub.HUB_NAMES:
        return _read_mrqa_hub(source, training, cache_dir)
    name, _, split = source.partition(":")
    split = split or ("train" if training else "validation")
    try:
        from datasets import load_dataset

        hub = load_dataset(name, split=split, cache_dir=cache_dir)
    except Exception as e:  # offline, unknown name, missing split: one line for the user
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise DataError(
            source, f"not a file, and loading it as a datasets hub name failed{offline_note()}: {type(e).__name__}: {first}"
        ) from None
    missing = [c for c in ("id", "question", "context", "answers") if c not in hub.column_names]
    if missing:
        raise DataError(source, f"hub dataset lacks SQuAD columns {missing} (has {hub.column_names})")
    fingerprint = _fingerprint("hub", source, split, hub._fingerprint, training)
    raw = _build(_hub_rows, {"hub": hub, "hub_name": f"{name}:{split}", "training": bool(training)}, fingerprint, cache_dir)
    return _finish(raw, f"{name}:{split}", training, "")


def _hub_rows(hub: Dataset, hub_name: str, training: bool) -> Iterator[dict]:
    seen: set = set()
    contexts: dict[str, int] = {}
    for record in hub:
        answers = record["answers"] or {"text": [], "answer_start": []}
        if len(answers["text"]) != len(answers["answer_start"]):
            raise DataError(hub_name, f"question {record['id']}: answers.text and answers.answer_start differ in length")
        texts_starts = list(zip(answers["text"], answers["answer_start"], strict=True))
        index = contexts.setdefault(record["context"], len(contexts))
        qid, question, context = str(record["id"]), record["question"], record["context"]
        if not texts_starts:  # squad_v2 marks unanswerable questions with empty answers
            yield _row(qid, question, context, [], [], SKIP_UNANSWERABLE, [], index)
            continue
        yield _squad_row(qid, question, context, texts_starts, training, seen, index)


def _read_mrqa_hub(source: str, training: bool, cache_dir) -> tuple[Dataset, DataSummary]:
    """`mrqa-workshop/mrqa:[<split>:]<Subset>`: that subset's rows of the Hub split, read as MRQA records."""
    try:
        split, subset = mrqa_hub.parse_source(source)
    except ValueError as e:
        raise DataError(source, str(e)) from None
    try:
        rows = mrqa_hub.load_split(split, cache_dir=cache_dir)
    except Exception as e:  # offline, no such split: one line for the user
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise DataError(source, f"loading the Hub dataset failed{offline_note()}: {type(e).__name__}: {first} "
                                "(or install the dev sets with `python -m splinter.download`)") from None
    rows = mrqa_hub.select_subset(rows, subset)
    if not len(rows):
        raise DataError(source, f"no rows with subset '{subset}' in split '{split}'")
    fingerprint = _fingerprint("mrqa-hub", source, split, subset, rows._fingerprint, training)
    raw = _build(_mrqa_hub_rows, {"rows": rows, "where": source, "training": bool(training)}, fingerprint, cache_dir)
    return _finish(raw, source, training, "")


def _mrqa_hub_rows(rows: Dataset, where: str, training: bool) -> Iterator[dict]:
    """The MRQA file rules (_mrqa_rows) applied to Hub rows regrouped into contexts."""
    seen: set = set()
    for index, record in enumerate(mrqa_hub.context_records(rows), 1):
        context = record["context"]
        for qa in record["qas"]:
            spans, notes = _mrqa_spans(context, qa["detected_answers"], where, None, f"question {qa['qid']}: ")
            skip, notes = _policy(qa["qid"], qa["question"], context, spans, qa["answers"], notes, training, seen)
            yield _row(qa["qid"], qa["question"], context, spans, qa["answers"], skip, notes, index)
