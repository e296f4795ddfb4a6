"""What a resumed run must keep: the settings a checkpoint was trained with, compared with this run's.

Lightning restores weights, optimiser, scheduler and loop counters from a checkpoint whatever the new
config says, so a resume with another config would continue silently: trained on one split and
labelled with another, or with an lr in config.yaml that the restored optimiser never applies. Before
`trainer.fit`, `settings_mismatch` compares, one by one,

- the module's hyper-parameters (`task.module.*`, plus the `model.*` keys fine-tuning passes to it)
  and the datamodule's (`data.*`), which Lightning stores in every checkpoint;
- the run's own settings that are in no hyper-parameter (`RunRecord` writes them into the checkpoint):
  the seed (data order and dropout), gradient clipping, precision, gradient accumulation, the number
  of processes (devices, nodes), and the run's length in optimiser steps;
- the sha256 of the data files read (`data_files`, the datamodule's `data_files()`): an edited training
  or evaluation file keeps its name and every setting, so only its hash tells that part of the run used
  other data.

The length must match: the learning-rate schedule (warm-up and linear decay to zero) is built from
the run's total steps, so a resume with another `task.max_steps` (or, fine-tuning, another
`task.epochs` / `task.min_steps`) would continue a schedule that belongs to neither run. To train
longer, start a new run from the saved model (`model.checkpoint=<run>/model`).

What may differ is declared by each module / datamodule class in `RESUME_MAY_DIFFER`: where inputs are
cached and outputs go, how many processes prepare data, and evaluation-only settings (evaluation
set, batch size, decoding), which results.json and config.yaml then report as this run's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import Callback

from splinter.errors import SplinterError

RUN_KEY = "splinter_run"  # the checkpoint entry RunRecord writes
STEPS = "steps"  # the run's length in optimiser steps (the trainer's max_steps)
DATA_FILES = "data_files"  # config key → {"path", "sha256"} of each data file the run read
NOT_RECORDED = "(not recorded)"


class ResumeMismatch(SplinterError):
    """The checkpoint was trained with other settings than this run's config."""


def run_settings(cfg: DictConfig) -> dict[str, Any]:
    """The settings of a training run that change its training but live in no hyper-parameter."""
    settings = {
        "seed": cfg.get("seed"),
        "trainer.gradient_clip_val": cfg.trainer.get("gradient_clip_val"),
        "trainer.precision": cfg.trainer.get("precision"),
        # the processes: each draws its own dropout masks, and the checkpoint holds each one's RNG state
        "trainer.devices": cfg.trainer.get("devices"),
        "trainer.num_nodes": cfg.trainer.get("num_nodes"),
        "trainer.accumulate_grad_batches": cfg.trainer.get("accumulate_grad_batches"),
        "task.accumulate_grad_batches": cfg.task.get("accumulate_grad_batches"),
    }
    return OmegaConf.to_container(OmegaConf.create(settings), resolve=True)


class RunRecord(Callback):
    """Writes `run_settings` and the run's length into every checkpoint, for the check on resume."""

    def __init__(self, settings: Mapping[str, Any]):
        self.settings = dict(settings)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        checkpoint[RUN_KEY] = {**self.settings, STEPS: int(trainer.max_steps), DATA_FILES: data_files(trainer.datamodule)}


def data_files(datamodule) -> dict[str, dict[str, str]]:
    """The datamodule's data files and their hashes (`data_files()`); {} for one that names none."""
    method = getattr(datamodule, "data_files", None)
    return method() if callable(method) else {}


def settings_mismatch(checkpoint: Mapping[str, Any], module, datamodule, run: Mapping[str, Any]) -> str | None:
    """The first setting the checkpoint was trained with that this run changes, in words; None if none.

    `run`: this run's `run_settings` plus its length under STEPS.
    """
    recorded = checkpoint.get(RUN_KEY) or {}
    for key, value in run.items():
        saved = recorded.get(key, NOT_RECORDED)
        if not _same(saved, value):
            if key == STEPS:
                return (f"was trained for {saved} steps in all, this run says {value} (task.max_steps; the lr "
                        "schedule spans the whole run, so to train longer start a new run from its model)")
            return _differs(key, saved, value)
    sections = [(checkpoint.get("hyper_parameters"), module, "task.module."),
                (checkpoint.get("datamodule_hyper_parameters"), datamodule, "data.")]
    for saved, built, prefix in sections:
        problem = _hparams_mismatch(saved or {}, dict(built.hparams), type(built), prefix)
        if problem:
            return problem
    # last: another setting (data.seed, data.train_file) that reads another file is the clearer line
    return _data_files_mismatch(recorded.get(DATA_FILES, {}), data_files(datamodule))


def _data_files_mismatch(saved: Mapping[str, Mapping[str, str]], current: Mapping[str, Mapping[str, str]]) -> str | None:
    for key, now in current.items():
        old = saved.get(key)
        if old is None:
            return f"records no sha256 of {key} ({now['path']}), so it cannot tell whether the file changed"
        if old.get("path") != now["path"]:
            return f"was trained on {old.get('path')} ({key}), this run reads {now['path']}"
        if old.get("sha256") != now["sha256"]:
            return (f"was trained on {now['path']} with sha256 {str(old.get('sha256'))[:12]}..., the file now has "
                    f"sha256 {now['sha256'][:12]}... ({key} was edited since)")
    return None


def _hparams_mismatch(saved: Mapping, built: Mapping, owner: type, prefix: str) -> str | None:
    may_differ = getattr(owner, "RESUME_MAY_DIFFER", frozenset())
    config_keys = getattr(owner, "CONFIG_KEYS", {})
    for name in sorted(set(saved) | set(built)):
        if name in may_differ:
            continue
        old, new = saved.get(name, NOT_RECORDED), built.get(name, NOT_RECORDED)
        path = _first_difference(old, new)
        if path is not None:
            key = config_keys.get(name, prefix + name)
            inner, old, new = path
            return _differs(key + inner, old, new)
    return None


def _first_difference(old: Any, new: Any, inner: str = "") -> tuple[str, Any, Any] | None:
    """(".sub.key", old, new) for the first difference, descending into dicts (model.config.*)."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new), key=str):
            found = _first_difference(old.get(key, NOT_RECORDED), new.get(key, NOT_RECORDED), f"{inner}.{key}")
            if found is not None:
                return found
        return None
    return None if _same(old, new) else (inner, old, new)


def _same(old: Any, new: Any) -> bool:
    # tuples and lists are the same setting (betas: a list in the checkpoint, a tuple in code)
    if isinstance(old, (list, tuple)) and isinstance(new, (list, tuple)):
        return len(old) == len(new) and all(_same(a, b) for a, b in zip(old, new, strict=True))
    return type(old) is type(new) and old == new or (_number(old) and _number(new) and old == new)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _differs(key: str, old: Any, new: Any) -> str:
    return f"was trained with {key}={old}, this run says {new}"
