"""The Lightning trainer of a training run: its checkpoint plugin, callbacks and experiment logger."""

from __future__ import annotations

import os
from pathlib import Path

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig
from pytorch_lightning.callbacks import Callback, ModelCheckpoint

from splinter.run.checkpointing import AtomicCheckpointIO, InterruptedCheckpoint
from splinter.run.instantiate import instantiate_node
from splinter.run.output_dir import CHECKPOINTS, INTERRUPTED, resume_command
from splinter.run.resume_check import RunRecord, run_settings


def run_callbacks(cfg: DictConfig, output_dir: Path, every_n_steps: int | None) -> list[Callback]:
    """Resumable checkpoints plus the user's `callbacks` list.

    checkpoints/last.ckpt every `every_n_steps`; checkpoints/interrupted.ckpt after Ctrl-C or a crash
    (see splinter.run.checkpointing); each records the run's settings (splinter.run.resume_check). Must be called in the main process: the resume command it
    prints is built from the Hydra command line.
    """
    checkpoints = output_dir / CHECKPOINTS
    return [
        ModelCheckpoint(dirpath=checkpoints, save_last=True, every_n_train_steps=every_n_steps, save_top_k=0),
        InterruptedCheckpoint(checkpoints / INTERRUPTED, resume_command(output_dir)),
        RunRecord(run_settings(cfg)),
        *(instantiate_node(callback) for callback in cfg.get("callbacks") or []),
    ]


def build_logger(cfg: DictConfig):
    """The configured experiment logger, or False for logger=none."""
    if not cfg.get("logger"):
        return False
    if cfg.logger.get("_target_", "").endswith("WandbLogger") and os.environ.get("WANDB_MODE") == "disabled":
        return False
    return instantiate(cfg.logger)


def finish_logger(logger) -> None:
    """Close the wandb run of this job, also after a failure, so the next sweep job starts its own run."""
    experiment = getattr(logger, "_experiment", None)
    if experiment is not None and hasattr(experiment, "finish"):
        experiment.finish()


def build_trainer(cfg: DictConfig, max_steps: int, callbacks: list, logger, **overrides) -> pl.Trainer:
    # Checkpoints are written atomically and read with weights_only=True (splinter.run.checkpointing).
    return instantiate_node(cfg.trainer, max_steps=max_steps, callbacks=with_console(cfg, callbacks), logger=logger,
                            plugins=[AtomicCheckpointIO()], **overrides)


def with_console(cfg: DictConfig, callbacks: list) -> list:
    """`callbacks` plus this package's progress bar and model summary (splinter.run.console), unless the
    user's callbacks bring their own."""
    from pytorch_lightning.callbacks import ModelSummary
    from pytorch_lightning.callbacks.progress import ProgressBar

    from splinter.run.console import console_callbacks

    given = [kind for kind in (ProgressBar, ModelSummary) if any(isinstance(c, kind) for c in callbacks)]
    return [*callbacks, *(c for c in console_callbacks(cfg.trainer) if not isinstance(c, tuple(given)))]
