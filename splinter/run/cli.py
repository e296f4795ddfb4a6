"""Shared by train.py and evaluate.py: logging set-up and one-line errors instead of tracebacks.

A SplinterError ends a single run with `error: <message>` on stderr and exit status 2. Inside a sweep
(`-m`) it ends only its job: the job's directory gets error.json and the sweep goes on
(splinter.run.sweeps lists the failed jobs at the end and exits 2). The line also goes to the run's log
file (Hydra's <output_dir>/<job name>.log).
"""

from __future__ import annotations

import difflib
import functools
import logging
import os
import sys
import warnings
from pathlib import Path

from omegaconf import OmegaConf
from omegaconf.errors import InterpolationResolutionError

from splinter.errors import SplinterError
from splinter.run.names import register_resolvers
from splinter.run.sweeps import clear_failure, record_failure, record_skipped

log = logging.getLogger("splinter")

# A deprecation inside Lightning that says nothing about the run. Warnings about what the trainer did
# (e.g. which checkpoint it loaded) are never filtered.
register_resolvers()  # before Hydra resolves the sweep's job directory names (conf/train.yaml)

_NOISE = (r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",)


def friendly_errors(main):
    """Run a Hydra task function; a SplinterError becomes one line (see the module docstring)."""

    @functools.wraps(main)
    def wrapper(cfg, *args, **kwargs):
        _composition_done()
        log.setLevel(logging.INFO)
        for pattern in _NOISE:
            warnings.filterwarnings("ignore", message=pattern)
        from splinter.run.output_dir import hydra_config  # imports torch: the task does anyway

        hydra = hydra_config()
        output_dir = Path(hydra.runtime.output_dir) if hydra is not None else None
        if output_dir is not None:
            clear_failure(output_dir)
        try:
            try:
                return main(cfg, *args, **kwargs)
            except InterpolationResolutionError as error:  # a `${...}` read before check_config saw it
                from splinter.run.config_checks import interpolation_error

                raise interpolation_error(error) from None
        except SplinterError as error:
            from splinter.run.output_dir import FinishedJob, RunDirectoryError, discard_if_unused

            multirun = hydra is not None and str(hydra.mode) == "RunMode.MULTIRUN"
            if multirun and isinstance(error, FinishedJob):  # a re-run sweep: this job is done already
                record_skipped(output_dir, "results.json")
                print(error, flush=True)
                return None
            if not isinstance(error, RunDirectoryError):  # another run's log is not this run's to append to
                _to_log_files(f"error: {error}")
            # a single run that stopped before doing anything leaves no directory Hydra made for it
            discarded = output_dir is not None and not multirun and discard_if_unused(
                output_dir, f"{hydra.job.name}.log")
            if output_dir is not None and not discarded:
                # a directory that belongs to another run gets no error.json of this one
                # unresolved: an override may itself hold the `${...}` that failed
                overrides = OmegaConf.to_container(hydra.overrides.task, resolve=False)
                # the working directory (predict.py's run dir is ".") is the user's, not a run's: no error.json
                in_working_dir = Path(output_dir).resolve() == Path.cwd().resolve()
                record_failure(output_dir, error, overrides,
                               write_file=not isinstance(error, RunDirectoryError) and not in_working_dir)
            if multirun:
                print(f"error: {error}\n(job {output_dir} failed; the sweep goes on)", file=sys.stderr, flush=True)
                return None
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)
        finally:
            from splinter.run.output_dir import release_output_dir_locks

            release_output_dir_locks()  # the job is over: its directory is free

    return wrapper


def _to_log_files(line: str) -> None:
    """The error line into the log files only (the console gets it once, on stderr)."""
    record = logging.makeLogRecord({"name": log.name, "levelno": logging.ERROR, "levelname": "ERROR", "msg": line})
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


# ---------------------------------------------------------------------------------------------------
# Hydra's composition errors (a mistyped group, option or key) as one line with "did you mean"

_FULL_ERROR = "HYDRA_FULL_ERROR"
_SET_BY_US = "SPLINTER_SET_HYDRA_FULL_ERROR"


def main_with_one_line_errors(main) -> None:
    """Call a `@hydra.main` entry point; a config that cannot be composed is one line on stderr, exit 2.

    Hydra prints such errors itself (17 lines with the search path, and `+key=` advice for a typo);
    HYDRA_FULL_ERROR=1, Hydra's documented switch, makes it raise them instead, so they can be worded
    here. The switch is turned off again when the task starts (`_composition_done`): errors during the
    run keep Hydra's usual report. A user who set HYDRA_FULL_ERROR gets Hydra's full errors.
    """
    if os.environ.get(_FULL_ERROR):
        main()
        return
    os.environ[_FULL_ERROR] = os.environ[_SET_BY_US] = "1"
    try:
        main()
    except Exception as error:
        line = composition_error_line(error)
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        sys.exit(2)
    finally:
        _composition_done()


def _composition_done() -> None:
    if os.environ.pop(_SET_BY_US, None):
        os.environ.pop(_FULL_ERROR, None)


def composition_error_line(error: BaseException) -> str | None:
    """One line for an error Hydra raised while composing the config; None for any other error."""
    from hydra.errors import CompactHydraException, MissingConfigException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError

    if isinstance(error, MissingConfigException) and error.missing_cfg_file and error.options is not None:
        group, _, option = error.missing_cfg_file.rpartition("/")
        return (f"config group '{group}' has no option '{option}'{_did_you_mean(option, error.options)}; "
                f"options: {', '.join(error.options)}")
    cause = error.__cause__
    if isinstance(error, CompactHydraException) and isinstance(cause, (ConfigAttributeError, ConfigKeyError)):
        parent = cause.parent_node
        if cause.full_key and parent is not None and hasattr(parent, "keys"):
            prefix = cause.full_key[: -len(str(cause.key))]  # "data." for data.shotz, "" at the top
            keys = [str(key) for key in parent.keys() if str(key) != "hydra"]
            where = f"under '{prefix[:-1]}'" if prefix else "at the top level"
            suggestion = _did_you_mean(str(cause.key), keys, prefix)
            listing = "" if suggestion else f"; keys {where}: {', '.join(keys)} (a new key: +{cause.full_key}=...)"
            return f"config key '{cause.full_key}' does not exist{suggestion}{listing}"
    if isinstance(error, CompactHydraException):
        return " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    return None


def _did_you_mean(word: str, choices, prefix: str = "") -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{prefix}{close[0]}'?)" if close else ""
