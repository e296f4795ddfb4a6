"""Shared by the training tests: composing train/evaluate configs for tiny offline runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir

REPO = Path(__file__).resolve().parents[1]
FIXTURE_ROOT = REPO / "tests" / "fixtures" / "root"

# A tiny model on the shipped fixture splits: short windows, a slice of the dev fixture, few steps.
TINY = [
    "model=tiny",
    "logger=none",
    f"data.root={FIXTURE_ROOT}",
    "data.max_seq_length=128",
    "data.doc_stride=64",
    "data.max_eval_examples=40",
    "data.batch_size=4",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
]


def compose_config(name: str, output_dir: Path, *overrides: str):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(name, overrides=[*TINY, f"output_dir={output_dir}", *overrides])


def run_train(output_dir: Path, *overrides: str) -> dict:
    from splinter.finetuning.finetune import run

    return run(compose_config("train", output_dir, "task.max_steps=6", *overrides))


def run_evaluate(output_dir: Path, *overrides: str) -> dict:
    from splinter.finetuning.evaluate import run

    return run(compose_config("evaluate", output_dir, *overrides))


def run_cli(script: str, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """`python <script> args` (a file of the repository) or `python -m <module> args`."""
    target = [script] if script == "-m" else [str(REPO / script)]
    return subprocess.run(
        [sys.executable, *target, *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


class CrashAtStep(pl.Callback):
    """Raises in the middle of training, after `step` optimiser steps (simulates a crash)."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            raise RuntimeError(f"simulated crash at step {self.step}")


class RecordTrainingMode(pl.Callback):
    """Remembers whether the model was in training mode (dropout on) at every training batch."""

    seen: list[bool] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        RecordTrainingMode.seen.append(pl_module.model.training)


class CtrlCAtStep(pl.Callback):
    """Raises KeyboardInterrupt after `step` optimiser steps, as Ctrl-C does; not in a resumed run."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step and trainer.ckpt_path is None:
            raise KeyboardInterrupt


class RecordWindowsPerStep(pl.Callback):
    """Appends the number of windows of each optimiser step, summed over all processes, to `path`."""

    def __init__(self, path: str):
        self.path = path

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        windows = torch.tensor(batch["input_ids"].size(0), dtype=torch.long)
        total = int(trainer.strategy.reduce(windows, reduce_op="sum"))
        if trainer.is_global_zero:
            with open(self.path, "a") as file:
                file.write(f"{trainer.current_epoch} {total}\n")


class CtrlCOnce(pl.Callback):
    """Ctrl-C at the start of a training run, once: `marker` holds how many runs (trainer.fit calls of this
    or later processes) to let through first; it is removed when the interrupt happens, so the same
    command then runs undisturbed (an interrupted and resumed sweep)."""

    def __init__(self, marker: str):
        self.marker = Path(marker)

    def on_train_start(self, trainer, pl_module):
        if not self.marker.exists():
            return
        left = int(self.marker.read_text())
        if left == 0:
            self.marker.unlink()
            raise KeyboardInterrupt
        self.marker.write_text(str(left - 1))


class CtrlCInJob(pl.Callback):
    """Ctrl-C after `step` optimiser steps, in sweep job number `job` only and not when it resumes: a
    sweep killed in its middle."""

    def __init__(self, job: int, step: int):
        self.job, self.step = job, step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.get().job.num == self.job and trainer.global_step == self.step and trainer.ckpt_path is None:
            raise KeyboardInterrupt
