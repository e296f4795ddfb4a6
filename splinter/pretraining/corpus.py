"""Raw text → documents → passages of at most `max_seq_length` tokens (`[CLS] tokens [SEP]`).

Sources (`read_documents`), any mix of:

- plain text (`*.txt`, any other extension, optionally `.gz`): documents are separated by one or more
  blank (whitespace-only) lines; the non-blank lines of a document are its sentences/paragraphs and
  are joined with a newline. With `one_doc_per_line=True` every non-blank line is a document
  (e.g. one Wikipedia article per line).
- JSON lines (`*.jsonl`, `*.jsonl.gz`, `*.ndjson`): one object per line with a string `text` field
  (the name is `text_field`); blank lines are skipped; other fields are ignored. A record whose text
  is blank stays as an empty document, so that `count_empty_records` can report it; packing skips it.
- a glob pattern (`corpus/*.txt`, `wiki/**/*.jsonl`): its matches, sorted by name;
- a `datasets` hub dataset name (by splinter.hub's rule: not an existing path, not named like one,
  and a Hub id such as `wikitext` or `owner/name`; `name:config` picks a configuration): its `train`
  split, which must have a `text` column. Offline or unknown names give one `DataError`.

Errors name the file and the line (`DataError`), also when they are raised in a `num_proc` worker.
A source without any (non-empty) document is an error.

Passages (`pack_documents` / `PassagePacker`): each document is tokenised without special tokens
(`Tokenizer.encode_batch`, inside a batched `datasets.map` with `num_proc` workers) and its pieces
are packed greedily into passages of up to `max_seq_length - 2` pieces; then `[CLS]`/`[SEP]` are added
(one segment, no second one). A passage is cut

1. at a sentence end (after `.`, `!` or `?`) or at the document's start when one lies in the last
   `max(1, budget // 8)` pieces of the room left, else
2. at the last word boundary (never before a `##` piece) that fits, else
3. (a single word longer than a whole passage) in the middle of the word.

Nothing is dropped or duplicated: the rest of a cut document starts the next passage. By default a
document never shares a passage with another one (as in the original Splinter/BERT data creation,
which packed the sentences of one document); `pack_across_documents=True` fills passages with
consecutive documents of the same `map` batch (`batch_size` documents), so short documents give
full-length passages. Recurring spans across unrelated documents are spurious, hence the default.

`streaming=True` returns `datasets.IterableDataset`s: nothing is tokenised ahead of time or cached,
which suits corpora too large to preprocess; `num_proc` is then unused (use data-loader workers).
"""

from __future__ import annotations

import glob
import gzip
import json
import os
from collections.abc import Iterator, Sequence

from splinter.errors import DataError, SplinterError
from splinter.hub import is_hub_id, local_path, looks_like_path, neither, offline_note

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
SENTENCE_ENDS = (".", "!", "?")


def _open_lines(path: str) -> Iterator[tuple[int, str]]:
    """(line number from 1, decoded line without the newline); a decoding error names the line."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            for number, raw in enumerate(f, start=1):
                try:
                    yield number, raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError as error:
                    raise DataError(path, f"not valid UTF-8 ({error.reason})", number) from None
    except OSError as error:  # includes a corrupt .gz
        raise DataError(path, f"cannot read file: {error.strerror or error}") from None


def iter_text_documents(path: str, one_doc_per_line: bool = False) -> Iterator[str]:
    lines: list[str] = []
    for _, line in _open_lines(path):
        if line.strip():
            if one_doc_per_line:
                yield line.strip()
            else:
                lines.append(line.strip())
        elif lines:
            yield "\n".join(lines)
            lines = []
    if lines:
        yield "\n".join(lines)


def iter_jsonl_documents(path: str, text_field: str = "text") -> Iterator[str]:
    for number, line in _open_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(path, f"invalid JSON ({error.msg}, column {error.colno})", number) from None
        if not isinstance(record, dict):
            raise DataError(path, f"expected a JSON object, got {type(record).__name__}", number)
        if text_field not in record:
            raise DataError(path, f"no {text_field!r} field (fields: {', '.join(record) or 'none'})", number)
        text = record[text_field]
        if not isinstance(text, str):
            raise DataError(path, f"field {text_field!r} is {type(text).__name__}, expected a string", number)
        yield text.strip()  # "" for a blank record: counted, then skipped by the packer


def is_jsonl(path: str) -> bool:
    return path.lower().endswith(JSONL_SUFFIXES)


def iter_file_documents(path: str, one_doc_per_line: bool = False, text_field: str = "text") -> Iterator[str]:
    """The documents of one file, checked: a file without documents is an error."""
    found = False
    documents = (
        iter_jsonl_documents(path, text_field) if is_jsonl(path) else iter_text_documents(path, one_doc_per_line)
    )
    for document in documents:
        found = found or bool(document)
        yield document
    if not found:
        raise DataError(path, "no documents (the file is empty or blank)")


def is_hub_name(source: str) -> bool:
    """A `datasets` hub name ("owner/name[:config]"), not a local file: splinter.hub's rule."""
    return not local_path(source).exists() and is_hub_id(source, suffix=True)


def _generate(sources: list[tuple[str, int, int]], one_doc_per_line: bool, text_field: str):
    # (path, size, mtime_ns): the size and time are here only so that the cache fingerprint of
    # `Dataset.from_generator` changes when a file does.
    for path, _, _ in sources:
        for document in iter_file_documents(path, one_doc_per_line, text_field):
            yield {"text": document}


def splinter_cause(error: BaseException) -> SplinterError | None:
    """The `SplinterError` behind a wrapper exception (`datasets` wraps what a generator raises, in a
    `num_proc` worker process too), or None."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, SplinterError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def count_empty_records(documents, max_rows: int | None = None) -> tuple[int, int]:
    """(records, records whose text is blank) of a `read_documents` dataset: all rows of a `Dataset`
    (via Arrow), or the first `max_rows` of an `IterableDataset`."""
    import datasets

    if isinstance(documents, datasets.Dataset):
        import pyarrow.compute as pc

        empty = 0
        for part in documents.with_format("arrow").iter(batch_size=10_000):
            blank = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(part["text"])), 0)
            empty += pc.sum(blank).as_py() or 0
        return len(documents), int(empty)
    records = empty = 0
    for row in documents.take(max_rows) if max_rows is not None else documents:
        records += 1
        empty += not row["text"].strip()
    return records, empty


def _load_hub(name: str, streaming: bool, cache_dir: str | None, text_field: str):
    import datasets

    path, _, config = name.partition(":")
    try:
        data = datasets.load_dataset(path, config or None, split="train", streaming=streaming, cache_dir=cache_dir)
    except Exception as error:  # offline, unknown name, no train split: one clear line
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(
            name, f"not a file, and loading it as a hub dataset failed{offline_note()}: {type(error).__name__}: {first}"
        ) from None
    columns = data.column_names
    if columns is not None and text_field not in columns:
        raise DataError(name, f"the hub dataset has no {text_field!r} column (columns: {', '.join(columns)})")
    if text_field != "text":
        data = data.rename_column(text_field, "text")
    return data.select_columns(["text"])


def resolve_sources(sources: str | os.PathLike | Sequence[str]) -> list[str]:
    """Expand glob patterns and check that every file exists (hub names are checked when loaded)."""
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    sources = [os.fspath(s) for s in sources]
    if not sources:
        raise DataError("<corpus>", "no input files given")
    resolved = []
    for source in sources:
        if not os.path.exists(source) and any(c in source for c in "*?["):
            matches = sorted(glob.glob(os.path.expanduser(source), recursive=True))
            if not matches:
                raise DataError(source, "no file matches this pattern")
            resolved.extend(m for m in matches if os.path.isfile(m))
        elif local_path(source).is_dir():
            raise DataError(source, "is a directory; give its files or a pattern such as dir/*.txt")
        elif local_path(source).exists():
            resolved.append(os.path.expanduser(source))
        elif looks_like_path(source):
            raise DataError(source, "file not found")
        elif not is_hub_id(source, suffix=True):
            raise DataError(source, neither(source, suffix=True))
        else:
            resolved.append(source)
    return resolved


def read_documents(
    sources: str | Sequence[str],
    one_doc_per_line: bool = False,
    streaming: bool = False,
    cache_dir: str | None = None,
    text_field: str = "text",
    num_proc: int | None = None,
):
    """A `Dataset` (or, streaming, an `IterableDataset`) with one column `text`, one row per document,
    in source order. Map-style datasets are cached under `cache_dir` (the `datasets` default if None)."""
    import datasets
    from datasets.exceptions import DatasetGenerationError

    features = datasets.Features({"text": datasets.Value("string")})
    parts, files = [], []

    def flush_files():
        if not files:
            return
        stamped = []
        for path in files:
            stat = os.stat(path)
            stamped.append((path, stat.st_size, stat.st_mtime_ns))
        gen_kwargs = {"sources": stamped, "one_doc_per_line": one_doc_per_line, "text_field": text_field}
        if streaming:
            parts.append(datasets.IterableDataset.from_generator(_generate, features=features, gen_kwargs=gen_kwargs))
        else:
            try:
                parts.append(
                    datasets.Dataset.from_generator(
                        _generate,
                        features=features,
                        gen_kwargs=gen_kwargs,
                        cache_dir=cache_dir,
                        num_proc=min(num_proc or 1, len(stamped)) if (num_proc or 1) > 1 else None,
                    )
                )
            except DatasetGenerationError as error:
                cause = splinter_cause(error)
                if cause is None and (num_proc or 1) > 1:
                    # From a worker process the error arrives as the text of its traceback only: read
                    # the files again here, where the same error is raised as itself.
                    try:
                        for _ in _generate(**gen_kwargs):
                            pass
                    except SplinterError as again:
                        cause = again
                if cause is not None:
                    raise cause from None
                raise
        files.clear()

    for source in resolve_sources(sources):
        if is_hub_name(source):
            flush_files()
            parts.append(_load_hub(source, streaming, cache_dir, text_field))
        else:
            files.append(source)
    flush_files()
    if len(parts) == 1:
        return parts[0]
    return datasets.concatenate_datasets(parts)


# ---------------------------------------------------------------------------------------------------
# Packing


def _plain_tokenizer(tokenizer):
    """A copy without padding/truncation (tokenizer.json files may carry both), so that encoding
    never cuts or pads documents and the caller's tokenizer is left as it was."""
    from tokenizers import Tokenizer

    copy = Tokenizer.from_str(tokenizer.to_str())
    copy.no_padding()
    copy.no_truncation()
    return copy


class PassagePacker:
    """Batched `datasets.map` function: `{"text": [...]}` → `{"input_ids": [[CLS] ... [SEP], ...]}`."""

    def __init__(self, tokenizer, max_seq_length: int = 512, pack_across_documents: bool = False):
        if max_seq_length < 3:
            raise ValueError(f"max_seq_length must be at least 3, got {max_seq_length}")
        self.tokenizer = _plain_tokenizer(tokenizer)
        vocab = self.tokenizer.get_vocab(with_added_tokens=True)
        for name in ("[CLS]", "[SEP]"):
            if name not in vocab:
                raise ValueError(f"the tokenizer has no {name} token")
        self.cls_id, self.sep_id = vocab["[CLS]"], vocab["[SEP]"]
        size = max(vocab.values()) + 1
        self.continuation = [False] * size
        self.sentence_end = [False] * size
        for token, index in vocab.items():
            self.continuation[index] = token.startswith("##")
            self.sentence_end[index] = token in SENTENCE_ENDS
        self.budget = max_seq_length - 2
        self.window = max(1, self.budget // 8)
        self.pack_across_documents = pack_across_documents

    def _cut(self, doc: list[int], pos: int, room: int, have_current: bool) -> int:
        """End (exclusive) of the piece of `doc[pos:]` that goes into the current passage (< pos+room
        pieces fit); `pos` means: close the current passage at the document boundary."""
        limit = pos + room
        lowest = max(pos, limit - self.window)
        for c in range(limit, lowest - 1, -1):  # a sentence end (or the document start) near the end
            if c == pos:
                if have_current:
                    return pos
            elif self.sentence_end[doc[c - 1]] and not self.continuation[doc[c]]:
                return c
        for c in range(limit, pos, -1):  # the last word boundary that fits
            if not self.continuation[doc[c]]:
                return c
        return pos if have_current else limit

    def pack(self, documents: list[list[int]]) -> list[list[int]]:
        passages: list[list[int]] = []
        current: list[int] = []
        for doc in documents:
            if not doc:  # a blank record: no passage, and no passage boundary either
                continue
            if current and not self.pack_across_documents:
                passages.append(current)
                current = []
            pos = 0
            while pos < len(doc):
                room = self.budget - len(current)
                if len(doc) - pos <= room:
                    current.extend(doc[pos:])
                    break
                cut = self._cut(doc, pos, room, bool(current))
                current.extend(doc[pos:cut])
                passages.append(current)
                current = []
                pos = cut
        if current:
            passages.append(current)
        return [[self.cls_id, *p, self.sep_id] for p in passages]

    def __call__(self, batch: dict) -> dict:
        encodings = self.tokenizer.encode_batch(batch["text"], add_special_tokens=False)
        return {"input_ids": self.pack([e.ids for e in encodings])}


def pack_documents(
    documents,
    tokenizer,
    max_seq_length: int = 512,
    pack_across_documents: bool = False,
    num_proc: int | None = None,
    batch_size: int = 1000,
):
    """Tokenise and pack a `read_documents` dataset: one column `input_ids`, one row per passage."""
    import datasets

    packer = PassagePacker(tokenizer, max_seq_length, pack_across_documents)
    features = datasets.Features({"input_ids": datasets.Sequence(datasets.Value("int32"))})
    kwargs = dict(batched=True, batch_size=batch_size, remove_columns=["text"], features=features)
    if isinstance(documents, datasets.IterableDataset):
        return documents.map(packer, **kwargs)
    return documents.map(packer, num_proc=num_proc, desc="Tokenising and packing passages", **kwargs)


def load_passages(
    sources: str | Sequence[str],
    tokenizer,
    max_seq_length: int = 512,
    one_doc_per_line: bool = False,
    pack_across_documents: bool = False,
    streaming: bool = False,
    num_proc: int | None = None,
    cache_dir: str | None = None,
    text_field: str = "text",
):
    """`read_documents` + `pack_documents`."""
    documents = read_documents(sources, one_doc_per_line, streaming, cache_dir, text_field, num_proc)
    return pack_documents(documents, tokenizer, max_seq_length, pack_across_documents, num_proc)
