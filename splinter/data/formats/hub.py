"""`datasets` Hub names → examples: SQuAD-columned datasets, and the MRQA dev sets of
`mrqa-workshop/mrqa` read by the MRQA file rules."""

from __future__ import annotations

from collections.abc import Iterator

from datasets import Dataset

from splinter.data.examples import SKIP_UNANSWERABLE, DataSummary
from splinter.data.formats import mrqa_hub
from splinter.data.formats.mrqa import mrqa_spans
from splinter.data.formats.records import build, cache_fingerprint, finish, policy, row
from splinter.data.formats.squad import squad_row
from splinter.errors import DataError
from splinter.hub import offline_note


def read_hub(source: str, training: bool, cache_dir) -> tuple[Dataset, DataSummary]:
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
    fingerprint = cache_fingerprint("hub", source, split, hub._fingerprint, training)
    raw = build(_hub_rows, {"hub": hub, "hub_name": f"{name}:{split}", "training": bool(training)}, fingerprint, cache_dir)
    return finish(raw, f"{name}:{split}", training, "")


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
            yield row(qid, question, context, [], [], SKIP_UNANSWERABLE, [], index)
            continue
        yield squad_row(qid, question, context, texts_starts, training, seen, index)


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
    fingerprint = cache_fingerprint("mrqa-hub", source, split, subset, rows._fingerprint, training)
    raw = build(_mrqa_hub_rows, {"rows": rows, "where": source, "training": bool(training)}, fingerprint, cache_dir)
    return finish(raw, source, training, "")


def _mrqa_hub_rows(rows: Dataset, where: str, training: bool) -> Iterator[dict]:
    """The MRQA file rules (mrqa_rows) applied to Hub rows regrouped into contexts."""
    seen: set = set()
    for index, record in enumerate(mrqa_hub.context_records(rows), 1):
        context = record["context"]
        for qa in record["qas"]:
            spans, notes = mrqa_spans(context, qa["detected_answers"], where, None, f"question {qa['qid']}: ")
            skip, notes = policy(qa["qid"], qa["question"], context, spans, qa["answers"], notes, training, seen)
            yield row(qa["qid"], qa["question"], context, spans, qa["answers"], skip, notes, index)
