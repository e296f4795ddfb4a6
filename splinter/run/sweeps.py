"""Failed jobs of a Hydra sweep (`train.py -m ...`): recorded, listed at the end, never fatal to the sweep.

A job that stops with a SplinterError writes `error.json` into its own output directory
(`{"status": "failed", "error": <the one-line message>, "error_type": <exception class>,
"overrides": [<the job's task overrides>]}`) and returns, so that the launcher runs the next job.
`FailedJobsReport`, a Hydra callback (conf/train.yaml `hydra.callbacks`), lists the failed jobs when
the sweep ends and exits with status 2 if there were any. It finds them by their error.json files
written during this sweep (jobs of any launcher, also submitit's subprocesses), plus the jobs of this
process that were refused without one (an output directory that belongs to another run).

Re-running a sweep (after a crash, into the same `hydra.sweep.dir`): a job whose directory holds its
finished run (results.json, same overrides) is skipped, not failed; an interrupted job (checkpoints, no
results.json) is refused unless `resume=true`, which continues it from its interrupted.ckpt (else
last.ckpt) and starts the jobs that have no checkpoint. The end of the sweep lists what was skipped,
continued and failed (jobs of this process; failures also from error.json); the exit status is 2 only
when a job failed in this invocation.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from splinter.files import write_json

ERROR_FILE = "error.json"
MTIME_RESOLUTION = 2.0  # seconds: the coarsest modification-time resolution of common filesystems

# (job directory, message) of the jobs of this process that failed, were skipped as finished, or
# continued a checkpoint: the basic launcher runs them here.
_failed_here: list[tuple[str, str]] = []
_skipped_here: list[tuple[str, str]] = []
_continued_here: list[tuple[str, str]] = []


def record_failure(output_dir: Path, error: Exception, overrides: list[str], write_file: bool = True) -> None:
    """Remember a failed job; unless told otherwise, also write its error.json."""
    _failed_here.append((str(output_dir), str(error)))
    if write_file:
        from splinter.run.output_dir import save_hydra_files

        if not (output_dir / ".hydra").exists():  # stopped before the run recorded it: the report reads it
            save_hydra_files(output_dir)
        write_json(output_dir / ERROR_FILE, {
            "status": "failed",
            "error": str(error),
            "error_type": type(error).__name__,
            "overrides": [str(o) for o in overrides],
        })


def record_skipped(output_dir: Path, reason: str) -> None:
    """A job of a re-run sweep that had finished before: not run again, not a failure."""
    _skipped_here.append((str(output_dir), reason))


def record_continued(output_dir: Path, how: str) -> None:
    """A job that continued a checkpoint (resume=true / ckpt_path=)."""
    _continued_here.append((str(output_dir), how))


def clear_failure(output_dir: Path) -> None:
    """A job that starts again in its directory drops the error.json of an earlier attempt."""
    (output_dir / ERROR_FILE).unlink(missing_ok=True)


class FailedJobsReport(Callback):
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.started = time.time()
        for jobs in (_failed_here, _skipped_here, _continued_here):
            jobs.clear()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        failed = dict(_failed_here)
        sweep_dir = Path(config.hydra.sweep.dir)
        # Filesystems keep modification times at 1-2 s resolution (rounded down), so a job that failed
        # in the sweep's first second may look older than the sweep; an older error.json of a job that
        # ran again was removed when it restarted (clear_failure).
        since = getattr(self, "started", 0) - MTIME_RESOLUTION
        for path in sorted(sweep_dir.glob(f"*/{ERROR_FILE}")):
            if path.stat().st_mtime >= since:
                failed.setdefault(str(path.parent), json.loads(path.read_text())["error"])
        lines = []
        for jobs, what in ((_skipped_here, "skipped (finished in an earlier run of this sweep)"),
                           (_continued_here, "continued from a checkpoint")):
            if jobs:
                lines += [f"{len(jobs)} sweep job(s) {what}:"] + [f"  {d}: {how}" for d, how in sorted(jobs)]
        if not failed:
            if lines:
                print("\n".join(lines), file=sys.stderr, flush=True)
            return
        lines += [f"{len(failed)} sweep job(s) failed:"]
        lines += [f"  {directory}: {message}" for directory, message in sorted(failed.items())]
        print("\n".join(lines), file=sys.stderr, flush=True)
        sys.exit(2)
