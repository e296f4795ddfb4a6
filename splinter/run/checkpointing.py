"""How Lightning checkpoints are written and read in every run, and what happens when a run stops early.

`AtomicCheckpointIO`: each .ckpt is written to a temporary file and renamed (a full disk leaves the
previous last.ckpt intact and says so in one line); each .ckpt is read with `weights_only=True`.
`InterruptedCheckpoint` replaces Lightning's OnExceptionCheckpoint: it writes checkpoints/
interrupted.ckpt when training stops after at least one step and prints the command that resumes it.
Being a plain Callback, it also keeps Lightning from resuming a directory's old checkpoint on its own
(Lightning treats `fit(ckpt_path=None)` as "last" whenever an OnExceptionCheckpoint is present).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from pytorch_lightning.callbacks import Callback

from splinter.errors import TrainingDiverged
from splinter.files import WriteError, load_torch_file, save_torch_file

log = logging.getLogger("splinter")


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        save_torch_file(checkpoint, path)

    def load_checkpoint(self, path, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        del map_location, weights_only  # always CPU first, always weights only
        return load_torch_file(path, what="checkpoint")


class InterruptedCheckpoint(Callback):
    """checkpoints/interrupted.ckpt after Ctrl-C or a crash, unless nothing was trained yet."""

    def __init__(self, path: str | Path, resume_command: str):
        self.path, self.resume_command = Path(path), resume_command

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if trainer.global_step == 0:
            return  # stopped before the first step (a data or config error): there is nothing to resume
        if isinstance(exception, WriteError):
            return  # the disk is full or read-only: another checkpoint would fail the same way
        if isinstance(exception, TrainingDiverged):
            return  # the weights are inf/nan: resuming them would diverge again
        try:
            trainer.save_checkpoint(self.path)
        except WriteError as error:
            log.error("no %s: %s", self.path.name, error)
            return
        if trainer.is_global_zero:
            print(f"stopped at step {trainer.global_step}; saved {self.path}\nresume with: {self.resume_command}",
                  file=sys.stderr, flush=True)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # A finished fit supersedes an interrupted.ckpt it may have resumed from (the run's last.ckpt stays).
        if trainer.is_global_zero:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
