"""Held-out partitions of a run's training questions, for honest few-shot selection.

Only the K training questions are ever split: the evaluation set is never read by selection. Splits are
by question id (a question is one example; its windows stay together), from the ids' sorted order and a
`random.Random(seed)` shuffle, so they are the same on every machine and independent of file order.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from splinter.errors import ConfigError

# (training question ids, held-out question ids) of one fold or split
Split = tuple[list[str], list[str]]


def _shuffled(ids: Sequence[str], seed: int) -> list[str]:
    unique = sorted(set(ids))
    if len(unique) != len(ids):
        raise ConfigError("selection", f"the training questions' ids are not unique ({len(ids) - len(unique)} "
                                       "repeated): folds are split by question id")
    random.Random(seed).shuffle(unique)
    return unique


def kfold(ids: Sequence[str], folds: int, seed: int) -> list[Split]:
    """`folds` folds that partition the questions (sizes differ by at most one); each fold is held out once."""
    if not isinstance(folds, int) or folds < 2:
        raise ConfigError("selection.folds", f"got {folds!r}, allowed: an integer >= 2")
    if folds > len(ids):
        raise ConfigError("selection.folds", f"{folds} folds of {len(ids)} training questions: at most one fold "
                                             "per question")
    order = _shuffled(ids, seed)
    parts = [order[i::folds] for i in range(folds)]
    return [([q for j, part in enumerate(parts) if j != i for q in part], parts[i]) for i in range(folds)]


def multisplit(ids: Sequence[str], splits: int, dev_fraction: float, seed: int) -> list[Split]:
    """`splits` independent random train/dev partitions (FewNLU's multi-splits), dev = `dev_fraction` of
    the questions (rounded, at least one, and at least one question left to train on)."""
    if not isinstance(splits, int) or splits < 1:
        raise ConfigError("selection.splits", f"got {splits!r}, allowed: an integer >= 1")
    if not 0 < float(dev_fraction) < 1:
        raise ConfigError("selection.dev_fraction", f"got {dev_fraction!r}, allowed: a number in (0, 1)")
    order = _shuffled(ids, seed)
    dev = min(max(1, round(len(order) * float(dev_fraction))), len(order) - 1)
    if dev < 1:
        raise ConfigError("selection", f"{len(order)} training question(s): too few to hold any out")
    rng = random.Random(seed)
    result = []
    for _ in range(splits):
        picked = set(rng.sample(order, dev))
        result.append(([q for q in order if q not in picked], [q for q in order if q in picked]))
    return result


def splits_for(method: str, ids: Sequence[str], selection, seed: int) -> list[Split]:
    if method == "kfold":
        return kfold(ids, selection.folds, seed)
    if method == "multisplit":
        return multisplit(ids, selection.splits, selection.dev_fraction, seed)
    raise ConfigError("selection.method", f"unknown method {method!r}", ("none", "kfold", "multisplit"))


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
