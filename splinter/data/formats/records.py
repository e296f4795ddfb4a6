"""The rows every format yields (the examples columns plus bookkeeping), the rule that skips a question
or keeps it, and building the cached Dataset from a format's generator (fingerprinted by the data and by
this package's parsing code)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

from datasets import Dataset, Features, List, Value
from datasets.utils.tqdm import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

from splinter.data.examples import (
    FEATURES,
    NOTE_NOT_LOCATED,
    NOTE_OTHER_TEXT_DROPPED,
    SKIP_DUPLICATE_ID,
    SKIP_EMPTY,
    SKIP_NO_GOLD,
    SKIP_NOT_FOUND,
    SKIP_OTHER_TEXT,
    DataSummary,
)
from splinter.errors import DataError, SplinterError

logger = logging.getLogger(__name__)

# Bookkeeping columns written to the cache next to the examples and removed before returning.
_SKIP, _NOTES, _CONTEXT = "_skip", "_notes", "_context"


_RAW_FEATURES = Features(
    {**FEATURES, _SKIP: Value("string"), _NOTES: List(Value("string")), _CONTEXT: Value("int64")}
)


# the parsing code (paths from this folder): normalize_answer decides labels too
_CODE_FILES = ("readers.py", "records.py", "file_io.py", "mrqa.py", "squad.py", "hub.py", "mrqa_hub.py",
               "../examples.py", "../normalize.py")


def cache_fingerprint(*parts) -> str:
    digest = hashlib.sha256()
    here = Path(__file__).parent
    for name in _CODE_FILES:  # any change to the parsing code invalidates cached examples
        digest.update((here / name).read_bytes())
    digest.update(repr(parts).encode())
    return digest.hexdigest()[:32]


def build(generator, gen_kwargs: dict, fingerprint: str, cache_dir) -> Dataset:
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


def finish(raw: Dataset, where: str, training: bool, sha: str) -> tuple[Dataset, DataSummary]:
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


def row(qid, question, context, spans, gold, skip="", notes=(), context_index=0) -> dict:
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


def policy(qid, question, context, spans, gold, notes, training, seen: set) -> tuple[str, list]:
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


def need_questions(path: Path, contexts: int, questions: int) -> None:
    # else datasets fails on an empty generator ("Instruction 'train' corresponds to no data")
    if not questions:
        raise DataError(path, f"no questions: its {contexts} context{'s' if contexts != 1 else ''} all have an "
                              "empty 'qas' list", None)


def occurrences(text: str, needle: str) -> Iterator[int]:
    i = text.find(needle)
    while i >= 0:
        yield i
        i = text.find(needle, i + 1)
