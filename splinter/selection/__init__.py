"""Honest few-shot model selection: scores computed on the run's K training questions only.

folds.py splits the questions (kfold, multisplit); runner.py trains and scores the folds of a run
(conf/selection/); study.py runs an Optuna study on that score (conf/hparams_search/optuna.yaml, through
the Hydra sweeper in hydra_plugins/splinter_optuna/). `objective` is what train.py hands a sweeper.
"""

from __future__ import annotations

import math


def objective(results: dict | None) -> float | None:
    """The value a sweeper optimises: the selection score (mean held-out F1 on the training questions);
    the evaluation-set F1 only for a run marked `selection.oracle=true`; otherwise None (nothing to
    optimise: a fixed-protocol run's evaluation score is not a selection criterion)."""
    selection = (results or {}).get("selection")
    if not selection:
        return None
    value = results.get("f1") if selection.get("oracle") else selection.get("mean")
    return None if value is None or not math.isfinite(float(value)) else float(value)
