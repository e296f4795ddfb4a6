"""The skeleton every run follows: fine-tuning, pretraining and evaluation start, log and finish the
same way, so that each claims its output directory, records its config and seed, and leaves its
results the same way.

    run = Run.start(cfg, resumable=True)  # checks the config, claims the output directory (resumes
                                          # only when asked), writes config.yaml, seeds everything
    run.check_resume(module, datamodule, steps)  # a resume continues the checkpoint's settings only
    with run.logging() as logger:         # the experiment logger, closed also after a failure
        ...                               # build, fit, evaluate: the run's own work
    run.finish(results)                   # rank zero: adds wall time and provenance, writes results.json
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

import splinter
from splinter.config_checks import check_config
from splinter.files import atomic_write, write_json
from splinter.run.output_dir import ResumePoint, claim_output_dir, resume_point
from splinter.run.resume_check import STEPS, run_settings
from splinter.run.trainer import build_logger, finish_logger


@dataclass
class Run:
    cfg: DictConfig
    output_dir: Path
    resume: ResumePoint | None  # the checkpoint a training run continues; None: a fresh run
    started: float  # perf_counter at the start, for results.json's wall_seconds

    @classmethod
    def start(cls, cfg: DictConfig, *, resumable: bool, check: Callable[[DictConfig], None] | None = None) -> Run:
        """Check the config (`check`: the run's own checks, after the shared ones), claim the output
        directory, write the resolved config (a resumed run: in `check_resume`), seed. Nothing is
        written before the checks pass.

        `resumable`: a training run, which may continue a checkpoint (`resume=true` / `ckpt_path=`);
        either kind refuses a directory holding another run's results.json or checkpoints.
        """
        started = time.perf_counter()
        check_config(cfg)
        if check is not None:
            check(cfg)
        output_dir = Path(cfg.output_dir)
        resume = None
        if resumable:
            resume = resume_point(cfg, output_dir)
        else:
            claim_output_dir(output_dir)
        if resume is None:  # a resumed run writes it once its checkpoint passed check_resume
            write_resolved_config(cfg, output_dir)
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
        return cls(cfg, output_dir, resume, started)

    def check_resume(self, module, datamodule, steps: int) -> None:
        """When resuming: stop (one line) unless the checkpoint fits `module` and was trained with the
        hyper-parameters of `module` and `datamodule`, this config's seed etc., and `steps` in all."""
        if self.resume is None:
            return
        self.resume.check_matches(module, datamodule, {**run_settings(self.cfg), STEPS: int(steps)})
        # Only now: a refused resume=true must leave the run's config.yaml saying what it trained with.
        write_resolved_config(self.cfg, self.output_dir)
        print(f"resuming from {self.resume.path} at step {self.resume.step}", flush=True)

    @property
    def ckpt_path(self) -> Path | None:
        """What `trainer.fit(ckpt_path=...)` continues: the resume point's file, or None."""
        return None if self.resume is None else self.resume.path

    @contextmanager
    def logging(self) -> Iterator[Any]:
        """The configured experiment logger (False for none), finished even when the body fails, so the
        next job of a sweep starts its own wandb run."""
        logger = build_logger(self.cfg)
        try:
            yield logger
        finally:
            finish_logger(logger)

    def finish(self, results: dict) -> dict:
        """results.json (written atomically) = the run's results + wall time + version and commit."""
        results = {**results, "wall_seconds": round(time.perf_counter() - self.started, 2), **provenance()}
        write_json(self.output_dir / "results.json", results)
        return results


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
