"""The examples schema (one row per question) and the summary of what a reader kept and skipped.

An examples `datasets.Dataset` has the columns of `FEATURES`:

- `id`: the question id (unique within a file),
- `question`, `context`: plain text,
- `answer_texts`, `answer_starts`: aligned lists of answer spans located in the context, i.e.
  `context[s:s + len(t)] == t`; the first one is the training label. Empty only for evaluation
  questions whose answers could not be located (they are still scored against `gold_answers`),
- `gold_answers`: the references for EM/F1 (SQuAD answer texts; MRQA `qas[].answers`).

Readers never drop a question or adjust an answer silently: every skipped question is counted under
a reason in `DataSummary.skipped`, and every kept-but-adjusted answer span under `DataSummary.notes`.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

from datasets import Features, List, Value

FEATURES = Features(
    {
        "id": Value("string"),
        "question": Value("string"),
        "context": Value("string"),
        "answer_texts": List(Value("string")),
        "answer_starts": List(Value("int64")),
        "gold_answers": List(Value("string")),
    }
)
COLUMNS = tuple(FEATURES)

# Why a question was skipped (keys of DataSummary.skipped).
SKIP_NOT_FOUND = "answer not found in context"
SKIP_UNANSWERABLE = "unanswerable (SQuAD 2.0)"
SKIP_NO_GOLD = "no gold answers"
SKIP_DUPLICATE_ID = "duplicate question id"
SKIP_EMPTY = "empty question or context"
SKIP_OTHER_TEXT = "answer span points at other text, answer text not in context"

# What was adjusted in a kept question, counted per answer span (keys of DataSummary.notes).
# A span whose context slice differs from its answer text only as SQuAD's answer normalisation
# (case, articles, punctuation, whitespace) is harmless MRQA noise (its "The Broncos" for "Broncos");
# a slice that is other text is a wrong label: it is moved to the answer text or dropped.
NOTE_TEXT_NORMALISED = "answer span differs from its text only in case, articles, punctuation or spacing (slice used)"
NOTE_OTHER_TEXT_MOVED = "answer span points at other text (moved to the answer text)"
NOTE_OTHER_TEXT_DROPPED = "answer span points at other text, answer text not in context (span dropped)"
NOTE_SPAN_DROPPED = "answer span out of range or empty (span dropped)"
NOTE_START_MOVED = "answer_start did not match (moved to the nearest occurrence)"
NOTE_NOT_LOCATED = "no answer located in context (question kept for scoring only)"


@dataclass
class DataSummary:
    """What one read of one source produced.

    `total` counts every question in the source, `kept` the rows of the returned Dataset,
    `skipped` maps a reason to the number of questions dropped for it (`kept + sum(skipped) == total`),
    `notes` maps an adjustment to the number of answer spans (or questions, for NOT_LOCATED) it touched.
    """

    path: str
    kept: int
    total: int
    skipped: dict[str, int] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)
    split: str = ""  # "train" or "eval": which policy the reader applied
    sha256: str = ""  # of the file read ("" for hub datasets)
    contexts: int = 0

    def __post_init__(self):
        self.skipped = {k: int(v) for k, v in sorted(self.skipped.items()) if v}
        self.notes = {k: int(v) for k, v in sorted(self.notes.items()) if v}
        if self.kept + sum(self.skipped.values()) != self.total:
            raise ValueError(f"inconsistent summary: kept {self.kept} + skipped {self.skipped} != {self.total}")

    @classmethod
    def from_reasons(cls, path: str, reasons: list[str], notes: list[list[str]] | None = None, **kw):
        """Build a summary from one skip reason per question ('' = kept) and per-question notes."""
        skipped = Counter(r for r in reasons if r)
        note_counts = Counter(n for per_question in (notes or []) for n in per_question)
        return cls(path=str(path), kept=len(reasons) - sum(skipped.values()), total=len(reasons),
                   skipped=dict(skipped), notes=dict(note_counts), **kw)

    @property
    def name(self) -> str:
        return os.path.basename(str(self.path).rstrip("/")) or str(self.path)

    def __str__(self) -> str:
        text = f"{self.name}: kept {self.kept} / {self.total} questions"
        if self.skipped:
            text += ": " + ", ".join(f"{n} {reason}" for reason, n in self.skipped.items())
        if self.notes:
            text += "; adjusted: " + ", ".join(f"{n} {note}" for note, n in self.notes.items())
        return text

    def to_dict(self) -> dict:
        return {
            "path": str(self.path),
            "split": self.split,
            "sha256": self.sha256,
            "contexts": self.contexts,
            "total": self.total,
            "kept": self.kept,
            "skipped": dict(self.skipped),
            "notes": dict(self.notes),
        }
