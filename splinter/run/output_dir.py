"""A run's output directory: never silently reused, resumed only when asked.

A training run writes results.json and checkpoints/ into its output directory. Starting another run in
a directory that already holds them would mix two runs (Lightning would even continue the old weights),
so it is refused, with the two ways out: a new directory, or an explicit resume. Resuming is explicit:
`ckpt_path=<file.ckpt>`, or `resume=true`, which continues the directory's own checkpoints/
interrupted.ckpt (else last.ckpt). Either way the run says which file it continues and at which step,
and stops when the checkpoint was trained with other settings than the config's (splinter.run.resume_check).
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from splinter.errors import CheckpointError, ConfigError, SplinterError
from splinter.files import load_torch_file
from splinter.model.checkpoints import state_mismatch
from splinter.run.resume_check import RUN_KEY, ResumeMismatch, settings_mismatch

CHECKPOINTS = "checkpoints"
INTERRUPTED = "interrupted.ckpt"
LAST = "last.ckpt"


class RunDirectoryError(SplinterError):
    """The output directory belongs to another run."""


@dataclass
class ResumePoint:
    path: Path
    step: int
    state_dict: dict[str, torch.Tensor]
    # what it was trained with: hyper_parameters, datamodule_hyper_parameters and RunRecord's entry
    settings: dict[str, Any] = field(default_factory=dict)

    def check_matches(self, module, datamodule, run: dict[str, Any]) -> None:
        """The checkpoint's weights fit the model this run built, and it was trained with the settings of
        this run's module, datamodule and `run` (`resume_check.run_settings` + the length in steps);
        else one line."""
        problem = state_mismatch(module.state_dict(), self.state_dict)
        self.state_dict = {}  # checked: Lightning reads the file itself when it resumes
        if problem:
            raise CheckpointError(f"{self.path}: does not match the configured model ({problem})")
        problem = settings_mismatch(self.settings, module, datamodule, run)
        if problem:
            raise ResumeMismatch(f"{self.path}: {problem}; resume with the checkpoint's settings or start a new run")


def previous_outputs(output_dir: Path) -> list[str]:
    """What in `output_dir` belongs to an earlier run: results.json and checkpoint files."""
    found = ["results.json"] if (output_dir / "results.json").is_file() else []
    checkpoints = output_dir / CHECKPOINTS
    if checkpoints.is_dir():
        found += [f"{CHECKPOINTS}/{p.name}" for p in sorted(checkpoints.glob("*.ckpt"))]
    return found


def claim_output_dir(output_dir: Path) -> None:
    """For a run that trains nothing (evaluation): refuse a directory holding another run's results.json
    or checkpoints, which its results.json and config.yaml would otherwise overwrite or mislabel."""
    previous = previous_outputs(output_dir)
    if previous:
        raise RunDirectoryError(
            f"output directory {output_dir} already holds a run ({', '.join(previous)}): choose a new "
            f"directory ({_new_directory_hint()})"
        )


def resume_point(cfg: DictConfig, output_dir: Path) -> ResumePoint | None:
    """The checkpoint this run continues (None: a fresh run); refuses an output directory in use."""
    ckpt_path, resume = cfg.get("ckpt_path"), bool(cfg.get("resume", False))
    if ckpt_path and resume:
        raise ConfigError("resume", "give either resume=true or ckpt_path=<file>, not both")
    previous = previous_outputs(output_dir)
    new_dir = _new_directory_hint()
    if "results.json" in previous:
        raise RunDirectoryError(
            f"output directory {output_dir} already holds a finished run (results.json): choose a new "
            f"directory ({new_dir}), or resume explicitly from one of its checkpoints into a new "
            f"directory (ckpt_path=<file.ckpt>)"
        )
    if resume:
        path = _directory_checkpoint(output_dir)
    elif ckpt_path:
        path = Path(str(ckpt_path))
    elif previous:
        raise RunDirectoryError(
            f"output directory {output_dir} already holds a run ({', '.join(previous)}): choose a new "
            f"directory ({new_dir}) or resume it explicitly (resume=true, or ckpt_path=<file.ckpt>)"
        )
    else:
        return None
    return read_resume_point(path)  # Run.check_resume says "resuming from ..." once it fits the config


def read_resume_point(path: Path) -> ResumePoint:
    checkpoint = load_torch_file(path, what="checkpoint", mmap=True)
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint or "global_step" not in checkpoint:
        raise CheckpointError(f"{path}: not a training checkpoint written by train.py (no state_dict/global_step)")
    settings = {key: checkpoint.get(key) for key in ("hyper_parameters", "datamodule_hyper_parameters", RUN_KEY)}
    return ResumePoint(Path(path), int(checkpoint["global_step"]), checkpoint["state_dict"], settings)


def _directory_checkpoint(output_dir: Path) -> Path:
    for name in (INTERRUPTED, LAST):
        path = output_dir / CHECKPOINTS / name
        if path.is_file():
            return path
    raise RunDirectoryError(
        f"resume=true: {output_dir / CHECKPOINTS} holds neither {INTERRUPTED} nor {LAST}; "
        "give the checkpoint with ckpt_path=<file.ckpt>, or drop resume=true to start a new run"
    )


def _hydra():
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get() if HydraConfig.initialized() else None


def _new_directory_hint() -> str:
    hydra = _hydra()
    if hydra is not None and str(hydra.mode) == "RunMode.MULTIRUN":
        return "hydra.sweep.dir=..."
    return "hydra.run.dir=..."


def resume_command(output_dir: Path) -> str:
    """The command line that continues this run from its interrupted.ckpt."""
    hydra = _hydra()
    if hydra is None:  # called from Python, not through train.py
        return f"ckpt_path={output_dir / CHECKPOINTS / INTERRUPTED}"
    keep = [o for o in hydra.overrides.task if o.split("=", 1)[0].lstrip("+~") not in ("resume", "ckpt_path")]
    words = ["python", sys.argv[0], *keep, f"hydra.run.dir={output_dir}", "resume=true"]
    return " ".join(shlex.quote(word) for word in words)
