"""Failed jobs of a Hydra sweep (`train.py -m ...`): recorded, listed at the end, never fatal to the sweep.

A job that stops with a SplinterError writes `error.json` into its own output directory
(`{"status": "failed", "error": <the one-line message>, "error_type": <exception class>,
"overrides": [<the job's task overrides>]}`) and returns, so that the launcher runs the next job.
`FailedJobsReport`, a Hydra callback (conf/train.yaml `hydra.callbacks`), lists the failed jobs when
the sweep ends and exits with status 2 if there were any. It finds them by their error.json files
written during this sweep (jobs of any launcher, also submitit's subprocesses), plus the jobs of this
process that were refused without one (an output directory that belongs to another run).
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

# (job directory, message) of the jobs of this process that failed: the basic launcher runs them here.
_failed_here: list[tuple[str, str]] = []


def record_failure(output_dir: Path, error: Exception, overrides: list[str], write_file: bool = True) -> None:
    """Remember a failed job; unless told otherwise, also write its error.json."""
    _failed_here.append((str(output_dir), str(error)))
    if write_file:
        write_json(output_dir / ERROR_FILE, {
            "status": "failed",
            "error": str(error),
            "error_type": type(error).__name__,
            "overrides": [str(o) for o in overrides],
        })


def clear_failure(output_dir: Path) -> None:
    """A job that starts again in its directory drops the error.json of an earlier attempt."""
    (output_dir / ERROR_FILE).unlink(missing_ok=True)


class FailedJobsReport(Callback):
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.started = time.time()
        _failed_here.clear()

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
        if not failed:
            return
        lines = [f"{len(failed)} sweep job(s) failed:"]
        lines += [f"  {directory}: {message}" for directory, message in sorted(failed.items())]
        print("\n".join(lines), file=sys.stderr, flush=True)
        sys.exit(2)
