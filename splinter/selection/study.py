"""An Optuna study on the selection score, run as a Hydra sweep (`train.py -m hparams_search=optuna`).

Why not hydra-optuna-sweeper: its last release (1.2.0) pins optuna<3, and optuna 2.10's SQLite storage
fails under the SQLAlchemy 2 this stack installs (AssertionError in RDBStorage.get_current_version on
the first create_study), so a study could not be stored or resumed; it also re-raises a failed trial,
which ends the sweep, and it never retrains the best configuration. This is the small part of it we
need, on current Optuna (`pip install -e ".[search]"`); the Sweeper class Hydra finds is in
hydra_plugins/splinter_optuna/ (Hydra loads sweepers only from the hydra_plugins package).

What a sweep does (config: conf/hydra/sweeper/splinter_optuna.yaml, search space and defaults:
conf/hparams_search/optuna.yaml):
* One study per combination of the command line's sweep overrides (`data.seed=42,43`: one study per
  split, each selected on its own K questions), named by them, stored in `<sweep dir>/optuna.db`.
* Each trial is a job with the sampled parameters; its objective is the value train.py returns, the
  selection score (splinter.selection.objective), computed on the training questions only. Trials run
  with `selection.final_run=false` (no evaluation-set run) unless `hydra.sweeper.evaluate_trials=true`,
  which also evaluates each trial for analysis (oracle gap, correlation; splinter.reporting.report): the sampler
  still sees only selection scores.
* A trial that fails (an error, no score) is recorded as failed in the study and the sweep goes on
  (splinter.run.sweeps lists failed jobs at the end and exits 2). `n_trials` counts finished trials.
* The same command resumes an interrupted study: finished trials are kept; a trial left running is
  marked failed (listed in the study's user attribute `interrupted_trials`, not counted) and re-run with
  its parameters; trials run until n_trials finished. The sampler of the n-th counted trial is seeded
  with `sampler_seed + n`, so a resumed study samples what an uninterrupted one would have.
* At the end the best trial's configuration is trained on all K questions and evaluated once (reusing
  the trial's fold scores, `selection.from_trial`; with evaluate_trials the best trial already was), its
  command line is printed, and
  `<sweep dir>/optimization_results.yaml` records each study's best parameters and selection score.
* `selection=none` is refused (its objective would be the evaluation set) unless `selection.oracle=true`.
"""

from __future__ import annotations

import logging
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from splinter.errors import ConfigError
from splinter.files import write_text

log = logging.getLogger("splinter")

STORAGE_FILE = "optuna.db"
RESULTS_FILE = "optimization_results.yaml"
TYPES = ("float", "int", "categorical")


@dataclass
class Param:
    name: str  # its name in hydra.sweeper.params
    key: str  # the config key it sets
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: list | None = None

    def suggest(self, trial) -> Any:
        if self.type == "float":
            return trial.suggest_float(self.name, self.low, self.high, log=self.log, step=self.step)
        if self.type == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log, step=int(self.step or 1))
        return trial.suggest_categorical(self.name, list(self.choices))


def search_space(params: DictConfig | dict) -> list[Param]:
    """hydra.sweeper.params: name → {key, type: float|int|categorical, low, high, log, step | choices}."""
    space = []
    for name, spec in (params or {}).items():
        where = f"hydra.sweeper.params.{name}"
        if spec is None:
            continue  # removed from the command line (hydra.sweeper.params.<name>=null)
        spec = OmegaConf.to_container(spec) if OmegaConf.is_config(spec) else dict(spec)
        kind = spec.get("type")
        if kind not in TYPES:
            raise ConfigError(f"{where}.type", f"got {kind!r}", TYPES)
        if not spec.get("key"):
            raise ConfigError(f"{where}.key", "missing: the config key this parameter sets")
        if kind == "categorical" and not spec.get("choices"):
            raise ConfigError(f"{where}.choices", "a categorical parameter needs a non-empty list of choices")
        if kind != "categorical" and not (spec.get("low") is not None and spec.get("high") is not None
                                          and spec["low"] <= spec["high"]):
            raise ConfigError(where, f"needs low <= high, got low={spec.get('low')!r} high={spec.get('high')!r}")
        space.append(Param(name=str(name), key=str(spec["key"]), type=kind, low=spec.get("low"),
                           high=spec.get("high"), log=bool(spec.get("log", False)), step=spec.get("step"),
                           choices=spec.get("choices")))
    if not space:
        raise ConfigError("hydra.sweeper.params", "empty: nothing to search")
    return space


def _setting(overrides: list[str], config: DictConfig, key: str, default=None):
    """The value of `key` this study's jobs get: from its overrides, else from the sweep's config."""
    for override in reversed(overrides):
        name, _, value = override.lstrip("+~").partition("=")
        if name == key:
            return value
    return OmegaConf.select(config, key, default=default)


def check_selection(overrides: list[str], config: DictConfig) -> bool:
    """Refuse a study that would optimise the evaluation set; True when it is an oracle study."""
    method = _setting(overrides, config, "selection") or _setting(overrides, config, "selection.method", "none")
    method = str(_setting(overrides, config, "selection.method", method))
    oracle = str(_setting(overrides, config, "selection.oracle", False)).lower() == "true"
    if method == "none" and not oracle:
        raise ConfigError("selection", "an Optuna study with selection=none would tune on the evaluation set: "
                                       "use selection=kfold or selection=multisplit (or selection.oracle=true "
                                       "to study the oracle on purpose; it is marked oracle in reports)")
    return method == "none"


def _format(value) -> str:
    return repr(value) if isinstance(value, float) else str(value)


class Study:
    """One study: its trials as Hydra jobs launched by `launcher`."""

    def __init__(self, sweeper, name: str, overrides: list[str], oracle: bool):
        import optuna

        self.sweeper, self.name, self.overrides, self.oracle = sweeper, name, overrides, oracle
        storage = f"sqlite:///{Path(sweeper.sweep_dir).resolve() / STORAGE_FILE}"
        self.study = optuna.create_study(study_name=name, storage=storage, direction="maximize",
                                         load_if_exists=True)
        self._mark_interrupted()

    def _mark_interrupted(self) -> None:
        from optuna.trial import TrialState

        interrupted = list(self.study.user_attrs.get("interrupted_trials", []))
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            interrupted.append(trial.number)
            self.study.set_user_attr("interrupted_trials", interrupted)
            self.study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
            self.study.enqueue_trial(trial.params)  # the next trial re-runs its parameters
            print(f"study {self.name}: trial {trial.number} was interrupted; marked failed, not counted",
                  file=sys.stderr, flush=True)

    def finished(self) -> int:
        from optuna.trial import TrialState

        interrupted = set(self.study.user_attrs.get("interrupted_trials", []))
        return sum(1 for t in self.study.get_trials(deepcopy=False)
                   if t.state == TrialState.COMPLETE or (t.state == TrialState.FAIL and t.number not in interrupted))

    def run(self, space: list[Param]) -> None:
        import optuna

        sweeper = self.sweeper
        while self.finished() < sweeper.n_trials:
            # Seeded per counted trial: the n-th finished trial's parameters depend on the seed and the
            # trials before it only, so an interrupted and resumed study samples as an uninterrupted one.
            self.study.sampler = optuna.samplers.TPESampler(seed=int(sweeper.sampler_seed) + self.finished())
            trial = self.study.ask()
            values = {param.key: param.suggest(trial) for param in space}
            job = [*self.overrides, *(f"{key}={_format(value)}" for key, value in values.items())]
            if not (sweeper.evaluate_trials or self.oracle):  # an oracle trial's score is its evaluation
                job.append("selection.final_run=false")
            ret = sweeper.launch(job)
            value, output_dir = _outcome(ret)
            trial.set_user_attr("output_dir", output_dir)
            trial.set_user_attr("overrides", job)
            if value is None:
                self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
                print(f"study {self.name}: trial {trial.number} failed ({output_dir}); the study goes on",
                      file=sys.stderr, flush=True)
            else:
                self.study.tell(trial, value)
                log.info("study %s: trial %d: selection score %.3f %s", self.name, trial.number, value, values)

    def trials(self) -> list[dict]:
        """Every trial: number, state, selection score (null unless complete), job directory."""
        interrupted = set(self.study.user_attrs.get("interrupted_trials", []))
        return [{"number": t.number, "state": "interrupted" if t.number in interrupted else t.state.name.lower(),
                 "selection_score": t.value, "params": t.params, "output_dir": t.user_attrs.get("output_dir")}
                for t in self.study.get_trials(deepcopy=False)]

    def best(self) -> dict | None:
        from optuna.trial import TrialState

        if not any(t.state == TrialState.COMPLETE for t in self.study.get_trials(deepcopy=False)):
            return None
        best = self.study.best_trial
        return {"trial": best.number, "value": best.value, "params": best.params, "overrides": best.user_attrs["overrides"],
                "output_dir": best.user_attrs.get("output_dir")}

    def final_run(self, space: list[Param], best: dict) -> dict:
        """Train the best trial's configuration on all K questions and evaluate it once."""
        done = self.study.user_attrs.get("final_output_dir")
        keys = {param.key for param in space}
        chosen = [o for o in best["overrides"] if o.partition("=")[0] in keys]
        command = "python train.py " + " ".join([*self.overrides, *chosen])
        if done and (Path(done) / "results.json").is_file():
            return {"output_dir": done, "command": command}  # a resumed sweep: already trained
        if (self.sweeper.evaluate_trials or self.oracle) and best["output_dir"] and (Path(best["output_dir"]) / "results.json").is_file():
            # evaluate_trials or oracle: the best trial already trained on all K and was evaluated
            print(f"study {self.name}: best trial {best['trial']} (selection score {best['value']:.3f}), "
                  f"evaluated in {best['output_dir']}\n  {command}", flush=True)
            return {"output_dir": best["output_dir"], "command": command}
        # reuse the best trial's fold scores
        job = [*self.overrides, *chosen, "selection.final_run=true", f"selection.from_trial='{best['output_dir']}'"]
        ret = self.sweeper.launch(job)
        _, output_dir = _outcome(ret)
        self.study.set_user_attr("final_output_dir", output_dir)
        print(f"study {self.name}: best trial {best['trial']} (selection score {best['value']:.3f}) trained on "
              f"all training questions and evaluated in {output_dir}\n  {command}", flush=True)
        return {"output_dir": output_dir, "command": command}


def _outcome(ret) -> tuple[float | None, str | None]:
    """(objective, job output dir) of a launched job; objective None when it failed or returned none."""
    from hydra.core.utils import JobStatus

    output_dir = None
    if ret.hydra_cfg is not None:
        output_dir = str(ret.hydra_cfg.hydra.runtime.output_dir)
    if ret.status != JobStatus.COMPLETED:
        error = ret._return_value
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        return None, output_dir
    value = ret._return_value
    if value is None or not math.isfinite(float(value)):
        return None, output_dir
    return float(value), output_dir


def run_sweep(sweeper, arguments: list[str]) -> list[dict]:
    """All the studies of a sweep (see the module docstring); writes optimization_results.yaml."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        import optuna  # noqa: F401
    except ImportError:
        raise ConfigError("hparams_search", "optuna needs the optuna package: pip install -e \".[search]\"") from None
    parser = OverridesParser.create(config_loader=sweeper.hydra_context.config_loader)
    parsed = parser.parse_overrides(arguments)
    combinations = BasicSweeper.split_arguments(parsed, None)[0]
    swept = {o.get_key_element() for o in parsed if o.is_sweep_override()}
    space = search_space(sweeper.params)
    taken = [param.key for param in space if any(o.partition("=")[0].lstrip("+~") == param.key
                                                 for combo in combinations for o in combo)]
    if taken:
        raise ConfigError(f"hydra.sweeper.params ({taken[0]})", "set on the command line and searched: remove "
                          "it from the search space (hydra.sweeper.params.<name>=null) or from the command line")
    plans = [(combo, check_selection(combo, sweeper.config)) for combo in combinations]  # refuse before any job
    Path(sweeper.sweep_dir).mkdir(parents=True, exist_ok=True)
    OmegaConf.save(sweeper.config, Path(sweeper.sweep_dir) / "multirun.yaml")
    summaries = []
    for combo, oracle in plans:
        name = ",".join(o for o in combo if o.partition("=")[0] in swept) or "study"
        study = Study(sweeper, name, list(combo), oracle)
        study.run(space)
        best = study.best()
        summary: dict[str, Any] = {"study": name, "overrides": list(combo), "oracle": oracle,
                                   "finished": study.finished(), "trials": study.trials()}
        if best is None:
            print(f"study {name}: no trial finished; nothing to train", file=sys.stderr, flush=True)
            summary.update(best_params=None, best_selection_score=None)
        else:
            summary.update(best_trial=best["trial"], best_params=best["params"],
                           best_selection_score=best["value"], best_trial_dir=best["output_dir"],
                           final_run=study.final_run(space, best))
        summaries.append(summary)
    results = {"studies": summaries}
    if len(summaries) == 1:  # the common case, at the top as hydra-optuna-sweeper writes it
        results = {"best_params": summaries[0]["best_params"],
                   "best_selection_score": summaries[0]["best_selection_score"], **results}
    write_text(Path(sweeper.sweep_dir) / RESULTS_FILE, OmegaConf.to_yaml(OmegaConf.create(results)))
    return summaries
