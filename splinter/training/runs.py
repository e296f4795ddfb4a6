"""What every run shares: the trainer and its logger, reproducibility, and the files a run leaves behind."""

from __future__ import annotations

import logging
import math
import os
import subprocess
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import Callback, ModelCheckpoint

import splinter
from splinter.errors import SplinterError
from splinter.files import atomic_write, write_json  # noqa: F401 - write_json: shared by every run
from splinter.training.checkpointing import AtomicCheckpointIO, InterruptedCheckpoint
from splinter.training.run_dir import CHECKPOINTS, INTERRUPTED, resume_command

log = logging.getLogger("splinter")


def training_steps(num_windows: int, batch_size: int, epochs: int, min_steps: int, max_steps: int | None) -> int:
    """The paper's length: max(`epochs` passes over the windows, `min_steps`), capped by `max_steps`."""
    steps = max(epochs * math.ceil(num_windows / batch_size), min_steps)
    return min(steps, max_steps) if max_steps else steps


def instantiate_node(node, **kwargs):
    """hydra's instantiate, except that a SplinterError raised by the target (a bad data file, a wrong
    config value) surfaces as itself, with its one-line message, not wrapped in Hydra's exception."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as error:
        if isinstance(error.__cause__, SplinterError):
            raise error.__cause__ from None
        raise


def run_callbacks(cfg: DictConfig, output_dir: Path, every_n_steps: int | None) -> list[Callback]:
    """Resumable checkpoints plus the user's `callbacks` list.

    checkpoints/last.ckpt every `every_n_steps`; checkpoints/interrupted.ckpt after Ctrl-C or a crash
    (see splinter.training.checkpointing). Must be called in the main process: the resume command it
    prints is built from the Hydra command line.
    """
    checkpoints = output_dir / CHECKPOINTS
    return [
        ModelCheckpoint(dirpath=checkpoints, save_last=True, every_n_train_steps=every_n_steps, save_top_k=0),
        InterruptedCheckpoint(checkpoints / INTERRUPTED, resume_command(output_dir)),
        *(instantiate_node(callback) for callback in cfg.get("callbacks") or []),
    ]


def build_logger(cfg: DictConfig):
    """The configured experiment logger, or False for logger=none."""
    if not cfg.get("logger"):
        return False
    if cfg.logger.get("_target_", "").endswith("WandbLogger") and os.environ.get("WANDB_MODE") == "disabled":
        return False
    return instantiate(cfg.logger)


def build_trainer(cfg: DictConfig, max_steps: int, callbacks: list, logger, **overrides) -> pl.Trainer:
    # Checkpoints are written atomically and read with weights_only=True (splinter.training.checkpointing).
    return instantiate_node(cfg.trainer, max_steps=max_steps, callbacks=callbacks, logger=logger,
                            plugins=[AtomicCheckpointIO()], **overrides)


def finish_logger(logger) -> None:
    """Close the wandb run of this job, also after a failure, so the next sweep job starts its own run."""
    experiment = getattr(logger, "_experiment", None)
    if experiment is not None and hasattr(experiment, "finish"):
        experiment.finish()


def git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(splinter.__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def provenance() -> dict[str, Any]:
    return {"splinter_version": splinter.__version__, "git_commit": git_commit()}


def write_resolved_config(cfg: DictConfig, output_dir: Path) -> None:
    """Hydra writes .hydra/config.yaml unresolved; this is the config with every interpolation filled."""
    with atomic_write(output_dir / "config.yaml") as file:
        file.write(OmegaConf.to_yaml(cfg, resolve=True).encode("utf-8"))
