"""Registered model names: a short name (`"minilm"`) → the local checkpoint directory it stands for.

The one place that knows these names; `load_model`, `from_pretrained` and `load_tokenizer` resolve
them before trying a local path or a Hub id (splinter.hub knows nothing about models). Registering a
name is one line: `register_alias("name", function_returning_the_directory)`; the function runs only
when the name is used (MiniLM's tells how to install its package when it is missing).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from splinter.registry.minilm import MINILM_NAME, minilm_model_dir

_ALIASES: dict[str, Callable[[], Path]] = {MINILM_NAME: minilm_model_dir}


def register_alias(name: str, locate: Callable[[], Path]) -> None:
    """Make `name` stand for the directory `locate()` returns (called when the name is used)."""
    _ALIASES[name] = locate


def aliases() -> tuple[str, ...]:
    """The registered names."""
    return tuple(_ALIASES)


def alias_directory(name: str) -> Path | None:
    """The directory a registered `name` stands for; None when `name` is not registered."""
    locate = _ALIASES.get(str(name))
    return None if locate is None else locate()
