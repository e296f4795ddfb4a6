"""splinter: few-shot extractive question answering with Splinter (QASS), in native PyTorch.

The public names are imported lazily so that `import splinter.qa.metrics` (or the data pipeline in a
worker process) does not pay for building the model classes.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_PUBLIC = {
    "SplinterConfig": "splinter.model.config",
    "SplinterModel": "splinter.model.encoder",
    "SplinterForQuestionAnswering": "splinter.model.qa",
    "SplinterForPreTraining": "splinter.model.qa",
    "SplinterForMaskedLM": "splinter.model.masked_lm",
    "load_tokenizer": "splinter.tokenization.tokenizer",
    "QuestionAnswerer": "splinter.qa.answerer",
}

__all__ = [*_PUBLIC, "__version__"]


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'splinter' has no attribute {name!r}")
