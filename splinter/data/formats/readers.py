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
reused on the next read. Its fingerprint is a hash of the file's sha256, the training flag and the
parsing code's source (formats/), so editing the data or the reader invalidates the cache.

Questions that cannot be used are skipped and counted by reason in the returned `DataSummary`; a file
that cannot be read at all (bad JSON, missing field, empty file, unknown structure, a byte that is not
UTF-8) raises `DataError` naming the file and the line (MRQA; SQuAD JSON for JSON and UTF-8 errors) or
the JSON location (SQuAD JSON, which is often a single line). Files may start with a UTF-8 byte order
mark and use CRLF line ends; integer question ids (some public SQuAD-format sets have them) become
strings ("123").
"""

from __future__ import annotations

import codecs
import json
import os
from collections.abc import Iterator
from pathlib import Path

from datasets import Dataset

from splinter.data.examples import DataSummary
from splinter.data.formats.file_io import file_sha256, open_bytes
from splinter.data.formats.hub import read_hub
from splinter.data.formats.mrqa import mrqa_rows
from splinter.data.formats.records import build, cache_fingerprint, finish
from splinter.data.formats.squad import squad_rows
from splinter.errors import DataError
from splinter.hub import is_hub_id, local_path, looks_like_path, neither

__all__ = ["file_sha256", "read_examples"]


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
        fingerprint = cache_fingerprint("file", fmt, sha, training)
        raw = build(_file_rows, gen_kwargs, fingerprint, cache_dir)
        return finish(raw, str(path), training, sha)
    if looks_like_path(text):
        raise DataError(path, "file not found")
    if not is_hub_id(text, suffix=True):
        raise DataError(text, neither(text, suffix=True))
    return read_hub(text, training, cache_dir)


def _detect_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz")):
        return "mrqa"
    if name.endswith((".json", ".json.gz")):
        return "squad"
    # unknown suffix: sniff the first non-blank character (a SQuAD file is one JSON object whose
    # first key is usually "data" or "version"; an MRQA file starts with a header or context object)
    try:
        with open_bytes(path) as f:
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
        yield from mrqa_rows(Path(path), training)
    else:
        yield from squad_rows(Path(path), training)
