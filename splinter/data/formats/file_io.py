"""Reading data files: bytes (gzip or not), UTF-8 decoding with the line and column of a bad byte,
lines, JSON fields checked with one-line errors, question ids, and the sha256 that identifies a file.
Shared by the example readers (mrqa.py, squad.py) and the question reader (splinter.data.questions)."""

from __future__ import annotations

import codecs
import gzip
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

from splinter.errors import DataError


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def open_bytes(path: Path):
    # Bytes, decoded line by line by the callers: a text stream decodes in 8 KiB chunks, so its
    # UnicodeDecodeError cannot say on which line the bad byte is.
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def decode(raw: bytes, path: Path, first_line: int) -> str:
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


def lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of each line; LF or CRLF ends (JSON ignores the CR)."""
    lineno = 0
    try:
        with open_bytes(path) as f:
            for lineno, raw in enumerate(f, 1):  # noqa: B007 (lineno is used after the loop on error)
                yield lineno, decode(raw, path, lineno)
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        raise DataError(path, f"cannot read: {e}", lineno + 1) from None


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


_SURROGATE = re.compile("[\ud800-\udfff]")


def read_document(path: Path) -> str:
    """A whole-file document's text (SQuAD .json, gzipped or not), decoded by the readers' rule; an
    unreadable or empty file is one line."""
    try:
        with open_bytes(path) as f:
            text = decode(f.read(), path, 1)
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        raise DataError(path, f"cannot read: {e}", None) from None
    if not text.strip():
        raise DataError(path, "empty file", None)
    return text


def load_json(text: str, path: Path, line: int | None = None):
    """`json.loads(text)` with the readers' one-line errors: malformed JSON (file, line, column) and lone
    surrogate escapes. `line`: the line of a JSON Lines file `text` is; None: a whole-file document."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(path, f"malformed JSON: {e.msg} (column {e.colno})", e.lineno if line is None else line) from None
    check_no_lone_surrogate(obj, text, path, line)
    return obj


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


def need(obj: dict, key: str, kind, path, line, where: str = ""):
    if not isinstance(obj, dict) or key not in obj:
        raise DataError(path, f"{where}missing field '{key}'", line)
    value = obj[key]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise DataError(path, f"{where}field '{key}' should be {names}, got {type(value).__name__}", line)
    return value


def question_id(qa, key: str, path, line, where: str) -> str:
    """qa[key] as a string id: integers are accepted (123 → "123"), anything else but a string is an error."""
    if not isinstance(qa, dict) or key not in qa:
        raise DataError(path, f"{where}missing field '{key}'", line)
    value = qa[key]
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value:
        raise DataError(path, f"{where}field '{key}' should be a non-empty string or an integer, got {value!r}", line)
    return value
