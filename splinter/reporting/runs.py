"""Reading a sweep: every job directory below a folder, as a fine-tuning run, a failed job or a skip.

A job directory holds ``results.json`` (a finished run) or ``error.json`` (a job that stopped with a
project error: ``{"status": "failed", "error": "<one line>", "error_type": ..., "overrides": [...]}``),
and the job's configuration: ``config.yaml`` (resolved, written by the run), else Hydra's
``.hydra/config.yaml`` (unresolved: interpolated values are unknown and left out), else
``.hydra/overrides.yaml`` (only the command-line overrides). The settings of a run are that config,
flattened to dotted keys, without the keys that only say where outputs go (``IGNORED_KEYS``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from splinter.errors import DataError, SplinterError
from splinter.reporting.selection import selection_label

log = logging.getLogger("splinter.reporting.report")

RESULTS_FILE = "results.json"
ERROR_FILE = "error.json"
METRICS = ("f1", "exact_match")

# Where a run wrote its outputs, logs, checkpoints and caches, and how it showed progress: two runs that
# differ only in these computed the same thing. (ckpt_path/resume: a resumed run ends with the weights
# of an uninterrupted one, which the training tests check.)
IGNORED_KEYS = (
    "output_dir",
    "ckpt_path",
    "resume",
    "hydra",
    "logger",
    "data.cache_dir",
    "trainer.enable_progress_bar",
    "trainer.enable_model_summary",
    "trainer.log_every_n_steps",
    "task.checkpoint_every_n_steps",
    "selection.from_trial",  # where a study's final run read its fold scores (the same scores)
    "task.run_name",  # the experiment logger's name for the run, made of settings compared on their own
)

# The config keys that place a run in the table: row model, column dataset and shots, and the split seed
# a cell averages over. They never define a row of their own.
CELL_KEYS = frozenset({"model.name", "data.dataset", "data.shots", "data.seed"})


@dataclass(frozen=True)
class Settings:
    """A job's configuration, flattened: dotted key → value as text (strings bare, the rest JSON), or
    None where the file holds an unresolved interpolation (known to be set, value unknown)."""

    values: Mapping[str, str | None] = field(default_factory=dict)
    source: str | None = None  # the file it was read from, relative to the job directory
    complete: bool = False  # a whole config: a key it lacks was not set (rather than not known)


@dataclass(frozen=True)
class RunResult:
    """A finished fine-tuning run (its results.json)."""

    model: str
    dataset: str
    eval_dataset: str | None  # None: evaluated on the training dataset's own dev set
    shots: int
    split_seed: int | None  # None: trained on a train_file read whole, not a split of a release
    exact_match: float
    f1: float
    path: Path
    mtime: float
    settings: Settings
    selected: str = "fixed"  # how its configuration was chosen: fixed | kfold | multisplit | oracle
    # What the plot describes itself with, where results.json records it (older files may not).
    eval_name: str = ""  # the set scored: eval_dataset, else dataset
    num_questions: int | None = None
    steps: int | None = None
    f1_before: float | None = None  # task.evaluate_before: the model before fine-tuning
    exact_match_before: float | None = None


@dataclass(frozen=True)
class FailedJob:
    """A job that wrote error.json and no results.json. Its cell is known when its config says so."""

    directory: Path
    error: str
    error_type: str | None
    overrides: tuple[str, ...]
    settings: Settings
    model: str | None
    dataset: str | None
    eval_dataset: str | None
    shots: int | None
    split_seed: int | None

    @property
    def placed(self) -> bool:
        return None not in (self.model, self.dataset, self.shots)

    @property
    def selected(self) -> str:
        """How the job's configuration was to be chosen, as far as its config says."""
        if str(self.settings.values.get("selection.oracle")).lower() == "true":
            return "oracle"
        method = self.settings.values.get("selection.method")
        return "fixed" if method in (None, "none") else method


@dataclass(frozen=True)
class SkippedFile:
    """A file the report read and did not average in, with the reason shown in the report."""

    path: Path
    reason: str


@dataclass
class Sweep:
    runs: list[RunResult] = field(default_factory=list)
    failed: list[FailedJob] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)


class NotFineTuning(Exception):
    """A valid results.json of another kind of run (pretraining, evaluation only)."""


# --------------------------------------------------------------------------------------------------
# Configs.


def _text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _ignored(key: str) -> bool:
    return any(key == k or key.startswith(k + ".") for k in IGNORED_KEYS)


def flatten(tree: Mapping, prefix: str = "") -> dict[str, str | None]:
    """Nested mapping → {dotted key: text}; lists are leaves; unresolved ``${...}`` values → None."""
    out: dict[str, str | None] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if _ignored(dotted):
            continue
        if isinstance(value, Mapping):
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = None if isinstance(value, str) and "${" in value else _text(value)
    return out


def _read_yaml(path: Path):
    try:
        return OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    except Exception as err:  # yaml's and omegaconf's errors share no base class worth naming
        raise DataError(path, f"cannot read config: {str(err).splitlines()[0]}") from None


def _override_settings(path: Path, overrides) -> dict[str, str]:
    if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
        raise DataError(path, "overrides must be a list of key=value strings")
    values = {}
    for item in overrides:
        key, sep, value = item.lstrip("+~").partition("=")
        if sep and not _ignored(key) and "${" not in value:
            values[key] = value
    return values


def load_settings(job_dir: Path) -> Settings:
    resolved = job_dir / "config.yaml"
    if resolved.is_file():
        return Settings(flatten(_read_yaml(resolved) or {}), "config.yaml", complete=True)
    composed = job_dir / ".hydra" / "config.yaml"
    if composed.is_file():
        return Settings(flatten(_read_yaml(composed) or {}), ".hydra/config.yaml", complete=True)
    overrides = job_dir / ".hydra" / "overrides.yaml"
    if overrides.is_file():
        values = _override_settings(overrides, _read_yaml(overrides) or [])
        return Settings(values, ".hydra/overrides.yaml", complete=False)
    return Settings()


# --------------------------------------------------------------------------------------------------
# results.json and error.json.


def _read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(path, f"cannot read {what}: {err}") from None
    if not isinstance(data, dict):
        raise DataError(path, f"{what} must be a JSON object")
    return data


def _as_int(path: Path, data: Mapping, key: str) -> int:
    value = data[key]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataError(path, f"'{key}' must be an integer, got {value!r}")
    return value


def _as_score(path: Path, data: Mapping, key: str) -> float:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DataError(path, f"'{key}' must be a finite number, got {value!r}")
    if not 0 <= value <= 100:
        raise DataError(path, f"'{key}' = {value!r} is outside 0-100: refused as invalid")
    return float(value)


def _refuse_non_finite(path: Path, data, key: str = "") -> None:
    """Any inf or nan in results.json (a loss, a score, a nested statistic) marks a run that diverged,
    whose scores (an F1 of 0.0 from an all-NaN model) must never be averaged in."""
    if isinstance(data, float) and not math.isfinite(data):
        raise DataError(path, f"'{key}' is {data}: the run diverged; its scores are not averaged in")
    items = data.items() if isinstance(data, Mapping) else enumerate(data) if isinstance(data, list) else ()
    for name, value in items:
        _refuse_non_finite(path, value, f"{key}.{name}" if key else str(name))


def _as_str(path: Path, data: Mapping, key: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not value:
        raise DataError(path, f"'{key}' must be a non-empty string, got {value!r}")
    return value


def _same_dataset(a: str, b: str) -> bool:
    # "bioasq" (the config name) and "BioASQ" (the MRQA name) are the same set
    def squash(s: str) -> str:
        return re.sub(r"[^0-9a-z]", "", s.lower())

    return squash(a) == squash(b)


def out_of_domain(dataset: str, eval_dataset) -> str | None:
    if not isinstance(eval_dataset, str) or not eval_dataset or _same_dataset(dataset, eval_dataset):
        return None
    return eval_dataset


def load_run(path: Path) -> RunResult:
    """One results.json; NotFineTuning for other kinds of runs, DataError for an invalid file."""
    data = _read_json(path, "results")
    task = data.get("task")
    if task is not None and task != "finetune":
        raise NotFineTuning(f"not a fine-tuning run (task={task})")
    if "shots" not in data and "split_seed" not in data:
        raise NotFineTuning("not a fine-tuning run (no shots or split_seed: an evaluation-only run)")
    missing = [k for k in ("model_name", "dataset", "shots", "split_seed", *METRICS) if k not in data]
    if missing:
        raise DataError(path, f"missing key(s): {', '.join(missing)}")
    _refuse_non_finite(path, data)
    dataset = _as_str(path, data, "dataset")
    settings = load_settings(path.parent)
    if settings.source is None:
        # no config beside it: what results.json itself records is all that tells runs apart
        recorded = {"seed": "seed", "model.checkpoint": "checkpoint"}  # config key → results.json key
        settings = Settings({key: _text(data[name]) for key, name in recorded.items() if name in data})
    return RunResult(
        model=_as_str(path, data, "model_name"),
        dataset=dataset,
        eval_dataset=out_of_domain(dataset, data.get("eval_dataset")),
        shots=_as_int(path, data, "shots"),
        split_seed=None if data["split_seed"] is None else _as_int(path, data, "split_seed"),
        exact_match=_as_score(path, data, "exact_match"),
        f1=_as_score(path, data, "f1"),
        path=path,
        mtime=path.stat().st_mtime,
        settings=settings,
        selected=selection_label(data),
        eval_name=data["eval_dataset"] if isinstance(data.get("eval_dataset"), str) else dataset,
        num_questions=_optional(_as_int, path, data, "num_questions"),
        steps=_optional(_as_int, path, data, "steps"),
        f1_before=_optional(_as_score, path, data, "f1_before"),
        exact_match_before=_optional(_as_score, path, data, "exact_match_before"),
    )


def _optional(read, path: Path, data: Mapping, key: str):
    return None if data.get(key) is None else read(path, data, key)


def _config_int(settings: Settings, key: str) -> int | None:
    text = settings.values.get(key)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None  # e.g. data.shots=abc: the job failed on it; its column is unknown


def load_failed(path: Path) -> FailedJob:
    data = _read_json(path, "error report")
    if data.get("status") != "failed" or not isinstance(data.get("error"), str):
        raise DataError(path, 'an error report needs "status": "failed" and an "error" string')
    overrides = data.get("overrides") or []
    if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
        raise DataError(path, "'overrides' must be a list of strings")
    settings = load_settings(path.parent)
    if settings.source is None:
        settings = Settings(_override_settings(path, overrides), ERROR_FILE, complete=False)
    dataset = settings.values.get("data.dataset")
    error_type = data.get("error_type")
    return FailedJob(
        directory=path.parent,
        error=data["error"],
        error_type=error_type if isinstance(error_type, str) else None,
        overrides=tuple(overrides),
        settings=settings,
        model=settings.values.get("model.name"),
        dataset=dataset,
        eval_dataset=out_of_domain(dataset, settings.values.get("data.eval_set")) if dataset else None,
        shots=_config_int(settings, "data.shots"),
        split_seed=_config_int(settings, "data.seed"),
    )


def _job_files(root: Path, skipped: list[SkippedFile]) -> list[Path]:
    """Every results.json and error.json below `root`, through symlinked directories too (a sweep may
    link in jobs kept elsewhere). Each real directory is read once: a link back up the tree (a loop) or
    to a directory already read is listed in `skipped`, never followed again nor dropped silently."""
    found: list[Path] = []
    seen = {os.path.realpath(root)}
    for directory, subdirs, files in os.walk(root, followlinks=True):
        kept = []
        for name in sorted(subdirs):
            path = Path(directory) / name
            real = os.path.realpath(path)
            if real in seen:
                why = f"the same directory as one already read ({real}): read once"
                skipped.append(SkippedFile(path, why))
                log.warning("skipping %s: %s", path, why)
                continue
            seen.add(real)
            kept.append(name)
        subdirs[:] = kept
        found += [Path(directory) / name for name in files if name in (RESULTS_FILE, ERROR_FILE)]
    return found


def read_sweep(root: Path, skip_invalid: bool = False) -> Sweep:
    """Every job below ``root``. An invalid file stops the report (DataError) unless ``skip_invalid``."""
    if not root.is_dir():
        raise SplinterError(f"{root}: not a directory")
    sweep = Sweep()
    found = _job_files(root, sweep.skipped)
    result_files = sorted(path for path in found if path.name == RESULTS_FILE)
    error_files = []
    for path in sorted(path for path in found if path.name == ERROR_FILE):
        if (path.parent / RESULTS_FILE).exists():
            log.info("ignoring %s: the job finished later (%s beside it)", path, RESULTS_FILE)
        else:
            error_files.append(path)
    if not result_files and not error_files:
        raise SplinterError(f"{root}: no {RESULTS_FILE} found")
    for path in [*result_files, *error_files]:
        try:
            if path.name == RESULTS_FILE:
                sweep.runs.append(load_run(path))
            else:
                sweep.failed.append(load_failed(path))
        except NotFineTuning as why:
            log.warning("skipping %s: %s", path, why)
            sweep.skipped.append(SkippedFile(path, str(why)))
        except DataError as err:
            if not skip_invalid:
                raise
            log.warning("skipping %s", err)
            sweep.skipped.append(SkippedFile(path, f"invalid: {str(err).removeprefix(f'{path}: ')}"))
    if not sweep.runs and not sweep.failed:
        raise SplinterError(
            f"{root}: no fine-tuning {RESULTS_FILE} found ({len(sweep.skipped)} skipped: "
            + "; ".join(f"{s.path}: {s.reason}" for s in sweep.skipped)
            + ")"
        )
    return sweep
