"""SQuAD's answer normalisation (the official ``evaluate-v1.1.py``'s ``normalize_answer``), in the data
layer because it decides labels as well as scores: the readers accept an MRQA span whose text differs
from the detected answer only after normalisation (splinter.data.formats), and splinter.qa.metrics
scores with it. Lowercase; drop every character in ``string.punctuation`` (ASCII only); replace the
whole words a/an/the by a space; collapse whitespace."""

from __future__ import annotations

import re
import string

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Lowercase, remove ASCII punctuation, remove the articles a/an/the, collapse whitespace."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())
