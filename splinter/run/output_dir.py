"""A run's output directory: never silently reused, resumed only when asked.

A training run writes results.json and checkpoints/ into its output directory. Starting another run in
a directory that already holds them would mix two runs (Lightning would even continue the old weights),
so it is refused, with the two ways out: a new directory, or an explicit resume. Resuming is explicit:
`ckpt_path=<file.ckpt>`, or `resume=true`, which continues the directory's own checkpoints/
interrupted.ckpt (else last.ckpt). Either way the run says which file it continues and at which step,
and stops when the checkpoint was trained with other settings than the config's (splinter.run.resume_check).

A run holds a lock on its directory (`.lock`, flock) from the moment it claims it until it ends, so two
runs started at once into one directory cannot both go on: the second stops with one line. Hydra's own
`.hydra/` files (config.yaml, overrides.yaml, hydra.yaml) are written by the run once it has claimed the
directory (conf: `hydra.output_subdir: null`), so a refused run leaves another run's files as they were.
Inside a sweep (`-m`), a job whose directory holds a finished run of the same overrides (a re-run of
the sweep) is skipped, and `resume=true` starts the jobs that have nothing to continue
(splinter.run.sweeps lists both at the end). A single run that stops before claiming a directory that
Hydra created for it leaves no directory behind (`discard_if_unused`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from splinter.errors import CheckpointError, ConfigError, SplinterError
from splinter.files import check_directory_path, load_torch_file, write_text
from splinter.model.factory import state_mismatch

CHECKPOINTS = "checkpoints"
INTERRUPTED = "interrupted.ckpt"
LAST = "last.ckpt"
LOCK_FILE = ".lock"
HYDRA_SUBDIR = ".hydra"  # where Hydra would write config.yaml, hydra.yaml and overrides.yaml


class RunDirectoryError(SplinterError):
    """The output directory belongs to another run."""


class FinishedJob(RunDirectoryError):
    """A sweep job's directory holds this job's finished run (a re-run of the sweep): nothing to do."""


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
        # imported here: resume_check imports Lightning, which commands that only answer (predict.py,
        # serve.py: their Hydra callback imports this module) never need
        from splinter.run.resume_check import ResumeMismatch, settings_mismatch

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
    sweep = _in_sweep()
    if "results.json" in previous and sweep and _same_job(output_dir):
        raise FinishedJob(f"job {output_dir} finished in an earlier run of this sweep: skipped")
    if "results.json" in previous:
        raise RunDirectoryError(
            f"output directory {output_dir} already holds a finished run (results.json): choose a new "
            f"directory ({new_dir}), or resume explicitly from one of its checkpoints into a new "
            f"directory (ckpt_path=<file.ckpt>)"
        )
    if resume and sweep and not previous:
        # a re-run sweep with resume=true: this job never reached a checkpoint, so it starts from scratch
        print(f"resume=true: {output_dir} holds no checkpoint to continue; starting the job", flush=True)
        return None
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
    from splinter.run.resume_check import RUN_KEY  # lazily: see ResumePoint.check_matches

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


def hydra_config():
    """This Hydra job's config (`hydra.*`), or None outside a Hydra run."""
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get() if HydraConfig.initialized() else None


def _in_sweep() -> bool:
    hydra = hydra_config()
    return hydra is not None and str(hydra.mode) == "RunMode.MULTIRUN"


def _new_directory_hint() -> str:
    return "hydra.sweep.dir=..." if _in_sweep() else "hydra.run.dir=..."


_RESUME_KEYS = ("resume", "ckpt_path")


def _job_overrides(overrides) -> list[str]:
    """A job's overrides without those that only say how to resume it."""
    return [str(o) for o in overrides if str(o).split("=", 1)[0].lstrip("+~") not in _RESUME_KEYS]


def _same_job(output_dir: Path) -> bool:
    """The finished run in `output_dir` was started with this job's overrides (its .hydra/overrides.yaml)."""
    recorded = output_dir / HYDRA_SUBDIR / "overrides.yaml"
    try:
        earlier = OmegaConf.to_container(OmegaConf.load(recorded))
    except Exception:  # noqa: BLE001 - absent or unreadable: not known to be the same job
        return False
    return isinstance(earlier, list) and _job_overrides(earlier) == _job_overrides(hydra_config().overrides.task)


# --------------------------------------------------------------------------------------------------
# Hydra's .hydra/ files, written once the run owns the directory.


def save_hydra_files(output_dir: Path, composed: str | None = None) -> None:
    """Hydra's .hydra/config.yaml (the composed config, unresolved: `composed`, else taken now),
    hydra.yaml and overrides.yaml, as Hydra writes them; nothing outside a Hydra run, or when Hydra
    writes them itself (`hydra.output_subdir` set on the command line)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized() or HydraConfig.get().output_subdir is not None:
        return
    target = Path(output_dir) / HYDRA_SUBDIR
    hydra_cfg = HydraConfig.instance().cfg
    if composed is not None:
        write_text(target / "config.yaml", composed)
    write_text(target / "hydra.yaml", OmegaConf.to_yaml(hydra_cfg))
    write_text(target / "overrides.yaml", OmegaConf.to_yaml(hydra_cfg.hydra.overrides.task))


# --------------------------------------------------------------------------------------------------
# The lock that keeps two runs out of one directory.

_locks: dict[str, int] = {}  # realpath of a locked directory -> the lock file's descriptor


def lock_output_dir(output_dir: Path) -> None:
    """Hold `output_dir/.lock` (flock) until `release_output_dir_locks` or the process ends; one line if
    another process holds it. Re-entrant within a process (its jobs run one after the other). Only the
    first process of a multi-process run (rank 0) locks: the others run the same job."""
    if _rank() != 0:
        return
    key = os.path.realpath(output_dir)
    if key in _locks:
        return
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    path = Path(key) / LOCK_FILE
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 100, 0).decode(errors="replace").strip() or "unknown"
            os.close(descriptor)
            raise RunDirectoryError(
                f"output directory {output_dir} is in use by another run (process {holder}): wait for it "
                f"to end or choose a new directory ({_new_directory_hint()})"
            ) from None
        # the holder before us may have removed the file between our open and our lock: lock the file
        # that is there now, else two runs could each hold a lock on a different file
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path).st_ino == os.fstat(descriptor).st_ino:
                break
        os.close(descriptor)
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
    _locks[key] = descriptor


def release_output_dir_lock(output_dir: Path) -> None:
    """The run in `output_dir` ended or was refused: the directory is free (the lock file is removed)."""
    key = os.path.realpath(output_dir)
    descriptor = _locks.pop(key, None)
    if descriptor is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(Path(key) / LOCK_FILE)
        os.close(descriptor)


def release_output_dir_locks() -> None:
    """End of a job: every directory it locked is free for the next run."""
    for key in list(_locks):
        release_output_dir_lock(Path(key))


def _rank() -> int:
    for name in ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 0


# --------------------------------------------------------------------------------------------------
# No empty directory from a run that stopped before doing anything.

# run directory -> the topmost directory Hydra created for it (itself, or a new parent such as the date)
_created: dict[str, Path] = {}


class NewRunDirectory(Callback):
    """Before Hydra creates the run's (or sweep's) directory: one line, not Hydra's traceback, when it
    cannot be a directory (a file, or below one); notes whether a single run's directory is new
    (`discard_if_unused`)."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        run_dir = _configured_dir(config, "run")
        if run_dir is None:
            return
        top = None
        for directory in (run_dir, *run_dir.parents):
            if directory.exists() or directory.is_symlink():
                break
            top = directory
        if top is not None:
            _created[str(run_dir)] = top

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        _configured_dir(config, "sweep")


def _configured_dir(config: DictConfig, mode: str) -> Path | None:
    """`hydra.<mode>.dir`, absolute; stops the command with one line if it cannot be a directory."""
    try:
        directory = Path(str(config.hydra[mode].dir)).absolute()
    except Exception:  # noqa: BLE001 - a directory Hydra cannot name fails there, not here
        return None
    try:
        check_directory_path(directory, f"hydra.{mode}.dir")
    except SplinterError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        sys.exit(2)
    return directory


def discard_if_unused(output_dir: Path, log_file: str | None) -> bool:
    """Remove a single run's directory when Hydra created it for this run and the run left nothing in it
    but its log (and its lock): it stopped before doing any work and said why on stderr. Parents created
    with it go too while empty. Never a directory that existed before the run. True if removed."""
    output_dir = Path(output_dir).absolute()
    top = _created.get(str(output_dir))
    if top is None:
        return False
    ours = {LOCK_FILE, log_file}
    if any(entry.name not in ours or not entry.is_file() for entry in output_dir.iterdir()):
        return False
    shutil.rmtree(output_dir)
    for parent in output_dir.parents:
        if not parent.is_relative_to(top):
            break
        with contextlib.suppress(OSError):  # not empty: something else lives there
            parent.rmdir()
    del _created[str(output_dir)]
    return True


def resume_command(output_dir: Path) -> str:
    """The command line that continues this run from its interrupted.ckpt."""
    hydra = hydra_config()
    if hydra is None:  # called from Python, not through train.py
        return f"ckpt_path={output_dir / CHECKPOINTS / INTERRUPTED}"
    keep = [o for o in hydra.overrides.task if o.split("=", 1)[0].lstrip("+~") not in ("resume", "ckpt_path")]
    words = ["python", sys.argv[0], *keep, f"hydra.run.dir={output_dir}", "resume=true"]
    return " ".join(shlex.quote(word) for word in words)
