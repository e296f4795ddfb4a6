"""The skeleton every run follows: fine-tuning, pretraining and evaluation start, log and finish the
same way, so that each claims its output directory, records its config and seed, and leaves its
results the same way.

    run = Run.start(cfg, resumable=True)  # checks the config, locks and claims the output directory
                                          # (resumes only when asked), writes config.yaml and .hydra/,
                                          # seeds everything
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
from splinter.files import atomic_write, refuse_overwriting_inputs, write_json
from splinter.run.config_checks import check_config
from splinter.run.output_dir import (
    ResumePoint,
    claim_output_dir,
    lock_output_dir,
    release_output_dir_lock,
    resume_point,
    save_hydra_files,
)
from splinter.run.resume_check import STEPS, run_settings
from splinter.run.sweeps import ERROR_FILE, record_continued
from splinter.run.trainer import build_logger, finish_logger


@dataclass
class Run:
    cfg: DictConfig
    output_dir: Path
    resume: ResumePoint | None  # the checkpoint a training run continues; None: a fresh run
    started: float  # perf_counter at the start, for results.json's wall_seconds
    composed: str | None = None  # the config as Hydra composed it (YAML), for .hydra/config.yaml

    @classmethod
    def start(cls, cfg: DictConfig, *, resumable: bool, check: Callable[[DictConfig], None] | None = None,
              writes: tuple[str, ...] = ()) -> Run:
        """Check the config (`check`: the run's own checks, after the shared ones), claim the output
        directory, write the resolved config (a resumed run: in `check_resume`), seed. Nothing is
        written before the checks pass.

        `resumable`: a training run, which may continue a checkpoint (`resume=true` / `ckpt_path=`);
        either kind refuses a directory holding another run's results.json or checkpoints.
        `writes`: the files the run writes into its directory by name besides RUN_FILES (none of them
        may be one of its input files).
        """
        started = time.perf_counter()
        composed = OmegaConf.to_yaml(cfg)  # Hydra's .hydra/config.yaml: as composed, before any check
        check_config(cfg)
        if check is not None:
            check(cfg)
        output_dir = Path(cfg.output_dir)
        outputs = [("output_dir", output_dir / name) for name in (*RUN_FILES, *writes)]
        refuse_overwriting_inputs(outputs, input_files(cfg))
        lock_output_dir(output_dir)  # held until the job ends: a second run into it stops here
        with _release_lock_if_refused(output_dir):
            resume = None
            if resumable:
                resume = resume_point(cfg, output_dir)
            else:
                claim_output_dir(output_dir)
            run = cls(cfg, output_dir, resume, started, composed)
            if resume is None:  # a resumed run writes it once its checkpoint passed check_resume
                run.record_config()
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
        return run

    def check_resume(self, module, datamodule, steps: int) -> None:
        """When resuming: stop (one line) unless the checkpoint fits `module` and was trained with the
        hyper-parameters of `module` and `datamodule`, this config's seed etc., and `steps` in all."""
        if self.resume is None:
            return
        with _release_lock_if_refused(self.output_dir):
            self.resume.check_matches(module, datamodule, {**run_settings(self.cfg), STEPS: int(steps)})
        # Only now: a refused resume=true must leave the run's config.yaml saying what it trained with.
        self.record_config()
        print(f"resuming from {self.resume.path} at step {self.resume.step}", flush=True)
        record_continued(self.output_dir, f"from {self.resume.path.name} at step {self.resume.step}")

    def record_config(self) -> None:
        """config.yaml (resolved) and Hydra's .hydra/ files: written only once the directory is this run's."""
        write_resolved_config(self.cfg, self.output_dir)
        save_hydra_files(self.output_dir, self.composed)

    @property
    def ckpt_path(self) -> Path | None:
        """What `trainer.fit(ckpt_path=...)` continues: the resume point's file, or None."""
        return None if self.resume is None else self.resume.path

    @contextmanager
    def logging(self) -> Iterator[Any]:
        """The configured experiment logger (False for none), finished even when the body fails, so the
        next job of a sweep starts its own wandb run; a failed body also frees the directory's lock."""
        logger = build_logger(self.cfg)
        try:
            with _release_lock_if_refused(self.output_dir):
                yield logger
        finally:
            finish_logger(logger)

    def finish(self, results: dict) -> dict:
        """results.json (written atomically) = the run's results + wall time + version and commit; the
        directory's lock is released."""
        results = {**results, "wall_seconds": round(time.perf_counter() - self.started, 2), **provenance()}
        write_json(self.output_dir / "results.json", results)
        release_output_dir_lock(self.output_dir)  # finished: the directory holds a run, no run in progress
        return results


@contextmanager
def _release_lock_if_refused(output_dir: Path) -> Iterator[None]:
    """A run refused at its start, or failed, frees the directory at once (else the lock goes when
    it finishes or its job ends)."""
    try:
        yield
    except BaseException:
        release_output_dir_lock(output_dir)
        raise


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


# the files every run writes under their own names into its output directory
RUN_FILES = ("results.json", "config.yaml", ERROR_FILE)
_INPUT_KEYS = ("predictions", "checkpoint", "ckpt_path", "data.train_file", "data.eval_file", "data.files")


def input_files(cfg: DictConfig) -> dict[str, Any]:
    """The files named in the config that the run reads, by config key (a list: one entry per file)."""
    found: dict[str, Any] = {}
    for key in _INPUT_KEYS:
        value = OmegaConf.select(cfg, key, default=None, throw_on_missing=False)
        values = list(value) if isinstance(value, (list, tuple)) or OmegaConf.is_list(value) else [value]
        for index, item in enumerate(values):
            if isinstance(item, str) and item:
                found[key if len(values) == 1 else f"{key}[{index}]"] = item
    return found


def write_resolved_config(cfg: DictConfig, output_dir: Path) -> None:
    """Hydra writes .hydra/config.yaml unresolved; this is the config with every interpolation filled."""
    with atomic_write(output_dir / "config.yaml") as file:
        file.write(OmegaConf.to_yaml(cfg, resolve=True).encode("utf-8"))
