"""The paper's published few-shot F1 for Splinter-base, to print beside a reproduction's numbers.

Source: Ram, Kirstain, Berant, Globerson, Levy, "Few-Shot Question Answering by Pretraining Span
Selection", ACL 2021, Table 1 (Splinter-base, F1, mean over the five released split seeds 42-46, each
dataset's own MRQA dev set). SQuAD at 16 / 128 / 1024 examples is also quoted in the repository's
docs/protocol.md §6; the 128-example row covers all eight datasets. No other cells are in this table: a
missing cell means "not published here", never zero.
"""

from __future__ import annotations

SOURCE = "Ram et al., ACL 2021, Table 1: Splinter-base F1, mean over the 5 released split seeds"

# The models of this repository that are the paper's Splinter-base (with the pretrained QASS head or a
# fresh one: the paper's released fine-tuning command built a new head; see docs/protocol.md §3).
PAPER_MODELS = frozenset({"splinter-base", "splinter-base-qass"})

# (dataset as in conf/data/<dataset>.yaml, training examples) → F1
SPLINTER_BASE_F1: dict[tuple[str, int], float] = {
    ("squad", 16): 54.6,
    ("squad", 128): 72.7,
    ("squad", 1024): 82.8,
    ("triviaqa", 128): 44.7,
    ("naturalquestions", 128): 46.3,
    ("newsqa", 128): 43.5,
    ("searchqa", 128): 47.2,
    ("hotpotqa", 128): 54.7,
    ("bioasq", 128): 63.2,
    ("textbookqa", 128): 42.6,
}


def paper_f1(model: str, dataset: str, shots: int) -> float | None:
    """The published F1 for this in-domain cell, or None when the paper has no such number."""
    if model not in PAPER_MODELS:
        return None
    return SPLINTER_BASE_F1.get((dataset, shots))
