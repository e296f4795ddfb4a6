"""Shared by train.py and evaluate.py: logging set-up and one-line errors instead of tracebacks."""

from __future__ import annotations

import functools
import logging
import sys
import warnings

from splinter.errors import SplinterError

# Lightning messages that say nothing about the user's run: a fresh output directory never holds the
# last.ckpt that OnExceptionCheckpoint makes Lightning look for, and a deprecation inside Lightning.
_NOISE = (
    r".*ckpt_path=None\)` was called without a model.*",
    r".*is set, but there is no last checkpoint available.*",
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",
)


def friendly_errors(main):
    """Run a Hydra task function; a SplinterError becomes one line on stderr and exit status 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        logging.getLogger("splinter").setLevel(logging.INFO)
        for pattern in _NOISE:
            warnings.filterwarnings("ignore", message=pattern)
        try:
            return main(*args, **kwargs)
        except SplinterError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)

    return wrapper
