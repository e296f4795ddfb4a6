"""Hydra `_target_` instantiation that keeps this project's one-line errors."""

from __future__ import annotations

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from splinter.errors import ConfigError, SplinterError, one_line


def instantiate_node(node, **kwargs):
    """hydra's instantiate, except that its errors are one line: a SplinterError raised by the target
    (a bad data file, a wrong config value) surfaces as itself, not wrapped in Hydra's exception; any
    other failure (a target that cannot be imported, an argument the target refuses) becomes a
    ConfigError naming the node's config key, its `_target_` and the underlying error."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as error:
        cause = error.__cause__
        if isinstance(cause, SplinterError):
            raise cause from None
        target = _target(node)
        raise ConfigError(_node_key(node) or "_target_", f"{target}: {_describe(cause or error)}") from error


def _target(node) -> str:
    target = node.get("_target_") if OmegaConf.is_dict(node) or isinstance(node, dict) else None
    return str(target) if target else "(no _target_)"


def _node_key(node) -> str | None:
    """The node's full config key (trainer, callbacks[0]); None for a plain dict. OmegaConf's own
    full key drops a list index's brackets (callbacks0), hence the parent's key plus the index."""
    if not OmegaConf.is_config(node) or node._get_parent() is None:
        return None
    parent = node._get_parent()
    if OmegaConf.is_list(parent):
        return f"{parent._get_full_key('')}[{node._key()}]"
    return node._get_full_key("")


def _describe(error: BaseException) -> str:
    # Hydra's own message ends with a "full_key: ..." line: the key is named once, by ConfigError
    text = " ".join(line for line in str(error).splitlines() if not line.startswith("full_key:")).strip()
    text = one_line(Exception(text)) if text else ""
    if isinstance(error, InstantiationException):
        return text or "Hydra could not instantiate it"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
