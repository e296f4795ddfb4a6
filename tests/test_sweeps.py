"""A sweep survives a failing job: error.json in its directory, the other jobs run, the end lists it."""

from __future__ import annotations

import json
import os

import pytest
from run_helpers import TINY, run_cli

ERROR = "config key 'data.shots': no released split with 17 examples (valid: 16, 32, 64, 128, 256, 512, 1024)"


def test_a_failing_job_does_not_stop_the_sweep_and_the_sweep_exits_2(tmp_path):
    sweep = tmp_path / "sweep"
    args = [*TINY, "task.max_steps=1"]
    result = run_cli("train.py", "-m", *args, f"hydra.sweep.dir={sweep}", "data.shots=17,16")
    assert result.returncode == 2, result.stderr[-2000:]
    failed, finished = sweep / "0-tiny-squad-17shots-split42", sweep / "1-tiny-squad-16shots-split42"

    assert json.loads((failed / "error.json").read_text()) == {
        "status": "failed",
        "error": ERROR,
        "error_type": "ConfigError",
        # the job's own overrides, as Hydra's sweeper hands them to it (booleans spelt the Python way)
        "overrides": [*(a.replace("=false", "=False") for a in args), "data.shots=17"],
    }
    assert not (failed / "results.json").exists() and not (failed / "checkpoints").exists()
    assert f"[ERROR] - error: {ERROR}" in (failed / "train.log").read_text()  # also in the job's log file

    assert json.loads((finished / "results.json").read_text())["shots"] == 16  # the next job ran
    assert not (finished / "error.json").exists()
    assert result.stderr.strip().splitlines()[-2:] == ["1 sweep job(s) failed:", f"  {failed}: {ERROR}"]


def test_a_single_run_still_ends_with_one_line_and_status_2(tmp_path):
    result = run_cli("train.py", *TINY, f"hydra.run.dir={tmp_path}", "task.max_steps=0")
    message = "config key 'task.max_steps': got 0, allowed: an integer >= 1 or null"
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"error: {message}"
    assert "Traceback" not in result.stderr
    assert json.loads((tmp_path / "error.json").read_text())["error"] == message
    assert f"error: {message}" in (tmp_path / "train.log").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hydra", "error.json", "train.log"]  # nothing else


def test_the_end_of_sweep_list_counts_this_sweeps_failures_only_also_with_coarse_file_times(tmp_path, capsys):
    from omegaconf import OmegaConf

    from splinter.run.sweeps import ERROR_FILE, FailedJobsReport

    report = FailedJobsReport()
    report.on_multirun_start(OmegaConf.create({}))
    # error.json files as jobs in other processes (submitit) write them: found on disk, not in this process
    for job, age in (("0", 0.0), ("1", 0.9), ("2", 3600.0)):  # now; rounded down to the second; an old sweep's
        (tmp_path / job).mkdir()
        (tmp_path / job / ERROR_FILE).write_text(json.dumps({"status": "failed", "error": f"job {job} failed"}))
        when = report.started - age
        os.utime(tmp_path / job / ERROR_FILE, (when, when))
    with pytest.raises(SystemExit) as ended:
        report.on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}}))
    assert ended.value.code == 2
    err = capsys.readouterr().err
    assert "2 sweep job(s) failed:" in err and "job 0 failed" in err and "job 1 failed" in err
    assert "job 2 failed" not in err
