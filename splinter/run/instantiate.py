"""Hydra `_target_` instantiation that keeps this project's one-line errors."""

from __future__ import annotations

from hydra.errors import InstantiationException
from hydra.utils import instantiate

from splinter.errors import SplinterError


def instantiate_node(node, **kwargs):
    """hydra's instantiate, except that a SplinterError raised by the target (a bad data file, a wrong
    config value) surfaces as itself, with its one-line message, not wrapped in Hydra's exception."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as error:
        if isinstance(error.__cause__, SplinterError):
            raise error.__cause__ from None
        raise
