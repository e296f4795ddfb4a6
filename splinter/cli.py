"""Shared by train.py and evaluate.py: logging set-up and one-line errors instead of tracebacks.

A SplinterError ends a single run with `error: <message>` on stderr and exit status 2. Inside a sweep
(`-m`) it ends only its job: the job's directory gets error.json and the sweep goes on
(splinter.sweeps lists the failed jobs at the end and exits 2). The line also goes to the run's log
file (Hydra's <output_dir>/<job name>.log).
"""

from __future__ import annotations

import functools
import logging
import sys
import warnings
from pathlib import Path

from omegaconf import OmegaConf
from omegaconf.errors import InterpolationResolutionError

from splinter.errors import SplinterError
from splinter.run.names import register_resolvers
from splinter.sweeps import clear_failure, record_failure

log = logging.getLogger("splinter")

# A deprecation inside Lightning that says nothing about the run. Warnings about what the trainer did
# (e.g. which checkpoint it loaded) are never filtered.
register_resolvers()  # before Hydra resolves the sweep's job directory names (conf/train.yaml)

_NOISE = (r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",)


def friendly_errors(main):
    """Run a Hydra task function; a SplinterError becomes one line (see the module docstring)."""

    @functools.wraps(main)
    def wrapper(cfg, *args, **kwargs):
        log.setLevel(logging.INFO)
        for pattern in _NOISE:
            warnings.filterwarnings("ignore", message=pattern)
        hydra = _hydra()
        output_dir = Path(hydra.runtime.output_dir) if hydra is not None else None
        if output_dir is not None:
            clear_failure(output_dir)
        try:
            try:
                return main(cfg, *args, **kwargs)
            except InterpolationResolutionError as error:  # a `${...}` read before check_config saw it
                from splinter.config_checks import interpolation_error

                raise interpolation_error(error) from None
        except SplinterError as error:
            from splinter.run.output_dir import RunDirectoryError

            _to_log_files(f"error: {error}")
            if output_dir is not None:
                # a directory that belongs to another run gets no error.json of this one
                # unresolved: an override may itself hold the `${...}` that failed
                overrides = OmegaConf.to_container(hydra.overrides.task, resolve=False)
                record_failure(output_dir, error, overrides,
                               write_file=not isinstance(error, RunDirectoryError))
            if hydra is not None and str(hydra.mode) == "RunMode.MULTIRUN":
                print(f"error: {error}\n(job {output_dir} failed; the sweep goes on)", file=sys.stderr, flush=True)
                return None
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)

    return wrapper


def _hydra():
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get() if HydraConfig.initialized() else None


def _to_log_files(line: str) -> None:
    """The error line into the log files only (the console gets it once, on stderr)."""
    record = logging.makeLogRecord({"name": log.name, "levelno": logging.ERROR, "levelname": "ERROR", "msg": line})
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)
