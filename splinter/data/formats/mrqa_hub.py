"""The MRQA 2019 dev sets from the Hugging Face Hub dataset `mrqa-workshop/mrqa`, as MRQA records.

The Hub holds one row per question (Parquet): `subset, context, context_tokens{tokens, offsets}, qid,
question, question_tokens{tokens, offsets}, detected_answers{text, char_spans{start, end},
token_spans{start, end}}, answers`. Split "validation" holds the six in-domain dev sets, "test" the six
out-of-domain ones; `subset` is the MRQA file's header "dataset" ("SQuAD", "TriviaQA-web",
"DuoRC.ParaphraseRC", ...), which is also the file stem under `mrqa-dev/`.

The Hub's converter stripped each context of its leading whitespace but kept the original offsets (one
SQuAD dev context starts with a space): the first token's offset says by how much, and every offset is
moved back onto the stripped text, so that `context[start:end + 1]` is the answer again.

Consecutive rows with the same context become one MRQA context line again (`context_records`), which is
what `write_mrqa_file` writes and what the reader parses for `mrqa-workshop/mrqa:<Subset>` sources.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from datasets import Dataset

from splinter.files import atomic_write

HUB_ID = "mrqa-workshop/mrqa"
HUB_NAMES = (HUB_ID, "mrqa")  # "mrqa" is the dataset's former id, still redirected by the Hub

# subset → Hub split
SUBSET_SPLITS: dict[str, str] = {
    **dict.fromkeys(
        ("SQuAD", "NewsQA", "TriviaQA-web", "SearchQA", "HotpotQA", "NaturalQuestionsShort"), "validation"
    ),
    **dict.fromkeys(("BioASQ", "DROP", "DuoRC.ParaphraseRC", "RACE", "RelationExtraction", "TextbookQA"), "test"),
}
SPLITS = ("train", "validation", "test")


def load_split(split: str, *, source: str = HUB_ID, cache_dir: str | None = None) -> Dataset:
    """One split of the MRQA dataset: `source` is the Hub id or a local copy of the repository (a folder
    holding `**/<split>-*.parquet`). Only that split's Parquet files are fetched (train is 1.4 GB)."""
    from datasets import load_dataset

    return load_dataset(source, data_files={split: f"**/{split}-*.parquet"}, split=split, cache_dir=cache_dir)


def select_subset(rows: Dataset, subset: str) -> Dataset:
    """The rows of one source dataset, in their order."""
    subsets = rows.data.column("subset").to_pylist()
    return rows.select([i for i, s in enumerate(subsets) if s == subset])


def context_records(rows: Iterable[dict]) -> Iterator[dict]:
    """Hub rows (one per question) → MRQA context records `{"context", "context_tokens", "qas"}`, one per
    run of consecutive rows sharing a context, with inclusive `char_spans` on the stripped context."""
    record: dict | None = None
    for row in rows:
        if record is None or row["context"] != record["context"]:
            if record is not None:
                yield record
            shift = _leading_shift(row)
            tokens = _entries(row.get("context_tokens"))
            record = {
                "context": row["context"],
                "context_tokens": [[t["tokens"], t["offsets"] - shift] for t in tokens],
                "qas": [],
            }
        record["qas"].append(_question(row, shift))
    if record is not None:
        yield record


def write_mrqa_file(rows: Iterable[dict], path: Path, subset: str, split: str) -> int:
    """Write `rows` as an MRQA `.jsonl.gz` (header line, then one context per line) to a temporary name,
    then rename it to `path`. Byte-for-byte reproducible (gzip mtime 0). Returns the number of questions."""
    questions = 0
    with atomic_write(path) as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as out:
        header = {"header": {"dataset": subset, "split": "dev" if split != "train" else "train"}}
        out.write((json.dumps(header) + "\n").encode())
        for record in context_records(rows):
            questions += len(record["qas"])
            out.write((json.dumps(record, ensure_ascii=False) + "\n").encode())
    return questions


def parse_source(source: str) -> tuple[str, str] | None:
    """`mrqa-workshop/mrqa:<Subset>` or `mrqa-workshop/mrqa:<split>:<Subset>` → (split, subset), with the
    split of a known subset implied; None for any other source. ValueError for a malformed one."""
    name, _, rest = str(source).partition(":")
    if name not in HUB_NAMES:
        return None
    parts = rest.split(":") if rest else []
    if len(parts) == 1 and parts[0] in SUBSET_SPLITS:
        return SUBSET_SPLITS[parts[0]], parts[0]
    if len(parts) == 2 and parts[0] in SPLITS and parts[1]:
        return parts[0], parts[1]
    raise ValueError(
        f"expected {HUB_ID}:<Subset> (valid: {', '.join(SUBSET_SPLITS)}) or {HUB_ID}:<split>:<Subset>"
    )


# ---------------------------------------------------------------------------------------------------


def _entries(value) -> list[dict]:
    """A `datasets` sequence of dicts, which arrives as a dict of lists, as a list of dicts."""
    if not value:
        return []
    if isinstance(value, dict):
        keys = list(value)
        return [dict(zip(keys, values, strict=True)) for values in zip(*(value[k] for k in keys), strict=True)]
    return list(value)


def _leading_shift(row: dict) -> int:
    tokens = _entries(row.get("context_tokens"))
    if tokens and row["context"].startswith(tokens[0]["tokens"]):
        return int(tokens[0]["offsets"])
    return 0


def _pairs(spans, shift: int = 0) -> list[list[int]]:
    return [[int(s["start"]) - shift, int(s["end"]) - shift] for s in _entries(spans)]


def _question(row: dict, shift: int) -> dict:
    detected = [
        {
            "text": answer["text"],
            "char_spans": _pairs(answer.get("char_spans"), shift),
            "token_spans": _pairs(answer.get("token_spans")),
        }
        for answer in _entries(row.get("detected_answers"))
    ]
    return {
        "id": row["qid"],
        "qid": row["qid"],
        "question": row["question"],
        "question_tokens": [[t["tokens"], t["offsets"]] for t in _entries(row.get("question_tokens"))],
        "answers": list(row.get("answers") or []),
        "detected_answers": detected,
    }
