"""The Hydra Sweeper of `hparams_search=optuna`: an Optuna study on the selection score.

Hydra instantiates sweepers only from the `hydra_plugins` package, so the class lives here; the work is in
splinter.selection.study (which also says why this is not hydra-optuna-sweeper).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hydra.plugins.sweeper import Sweeper


class SplinterOptunaSweeper(Sweeper):
    def __init__(self, n_trials: int = 8, sampler_seed: int = 0, evaluate_trials: bool = False,
                 params: Any = None):
        self.n_trials, self.sampler_seed = int(n_trials), int(sampler_seed)
        self.evaluate_trials, self.params = bool(evaluate_trials), params
        self.job_number = 0

    def setup(self, *, hydra_context, task_function, config) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context, self.config = hydra_context, config
        self.sweep_dir = Path(config.hydra.sweep.dir)
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    def launch(self, overrides: list[str]):
        """Run one job; job numbers continue those of an earlier, interrupted run of this sweep."""
        if self.job_number == 0:
            taken = [int(p.name.split("-")[0]) for p in self.sweep_dir.glob("*") if p.name.split("-")[0].isdigit()]
            self.job_number = max(taken, default=-1) + 1
        [ret] = self.launcher.launch([overrides], initial_job_idx=self.job_number)
        self.job_number += 1
        return ret

    def sweep(self, arguments: list[str]) -> Any:
        from splinter.errors import SplinterError
        from splinter.selection.study import run_sweep

        try:
            return run_sweep(self, arguments)
        except SplinterError as error:
            print(f"error: {error}", file=sys.stderr, flush=True)
            sys.exit(2)
