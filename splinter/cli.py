"""Shared by train.py and evaluate.py: logging set-up and one-line errors instead of tracebacks."""

from __future__ import annotations

import functools
import logging
import sys

from splinter.errors import SplinterError


def friendly_errors(main):
    """Run a Hydra task function; a SplinterError becomes one line on stderr and exit status 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        logging.getLogger("splinter").setLevel(logging.INFO)
        try:
            return main(*args, **kwargs)
        except SplinterError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)

    return wrapper
