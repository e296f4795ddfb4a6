"""Output directories are never silently reused; resuming is explicit and says what it continues."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys

import pytest
import torch
from run_helpers import REPO, TINY, run_evaluate, run_train

from splinter.data.formats.readers import file_sha256
from splinter.errors import ConfigError
from splinter.run.output_dir import RunDirectoryError
from splinter.run.resume_check import ResumeMismatch

CRASH_AT_4 = "callbacks=[{_target_: run_helpers.CrashAtStep, step: 4}]"


@pytest.fixture(scope="module")
def crashed(tmp_path_factory):
    """A run that crashed after 4 of its 6 steps: checkpoints/interrupted.ckpt, no results.json."""
    out = tmp_path_factory.mktemp("crashed")
    with pytest.raises(RuntimeError, match="simulated crash at step 4"):
        run_train(out, CRASH_AT_4)
    return out


def test_a_finished_run_directory_is_refused_and_left_as_it_was(tmp_path):
    run_train(tmp_path, "task.max_steps=2")
    before = (tmp_path / "results.json").read_text()
    with pytest.raises(RunDirectoryError) as refused:
        run_train(tmp_path, "task.max_steps=2", "data.seed=43")
    assert str(refused.value) == (
        f"output directory {tmp_path} already holds a finished run (results.json): choose a new directory "
        "(hydra.run.dir=...), or resume explicitly from one of its checkpoints into a new directory "
        "(ckpt_path=<file.ckpt>)"
    )
    assert (tmp_path / "results.json").read_text() == before
    assert not (tmp_path / "error.json").exists()


def test_an_evaluation_into_another_runs_directory_is_refused_before_writing_anything(crashed, tmp_path):
    run_train(tmp_path, "task.max_steps=2")
    for run_dir, holds in ((tmp_path, "results.json, checkpoints/last.ckpt"), (crashed, "checkpoints/interrupted.ckpt")):
        kept = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
        with pytest.raises(RunDirectoryError) as refused:
            run_evaluate(run_dir, f"checkpoint={tmp_path / 'model'}")
        assert str(refused.value) == (
            f"output directory {run_dir} already holds a run ({holds}): choose a new directory (hydra.run.dir=...)"
        )
        assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == kept


def test_a_directory_with_checkpoints_is_refused_naming_them_and_the_two_ways_out(crashed):
    with pytest.raises(RunDirectoryError) as refused:
        run_train(crashed)
    assert str(refused.value) == (
        f"output directory {crashed} already holds a run (checkpoints/interrupted.ckpt): choose a new "
        "directory (hydra.run.dir=...) or resume it explicitly (resume=true, or ckpt_path=<file.ckpt>)"
    )


def test_resume_true_continues_the_interrupted_checkpoint_and_says_from_which_step(crashed, tmp_path, capsys):
    # a copy, so that the module's crashed run stays crashed for the other tests
    run_dir = tmp_path / "run"
    shutil.copytree(crashed, run_dir)
    results = run_train(run_dir, "resume=true")
    assert f"resuming from {run_dir / 'checkpoints' / 'interrupted.ckpt'} at step 4" in capsys.readouterr().out
    assert results["steps"] == 6
    assert json.loads((run_dir / "results.json").read_text())["steps"] == 6
    # the interrupted checkpoint is superseded by the finished run; last.ckpt holds its final step
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["last.ckpt"]
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 6


def test_resume_true_without_checkpoints_is_one_line(tmp_path):
    with pytest.raises(RunDirectoryError) as refused:
        run_train(tmp_path, "resume=true")
    assert str(refused.value) == (
        f"resume=true: {tmp_path / 'checkpoints'} holds neither interrupted.ckpt nor last.ckpt; give the "
        "checkpoint with ckpt_path=<file.ckpt>, or drop resume=true to start a new run"
    )


def test_resume_and_ckpt_path_together_are_refused(crashed, tmp_path):
    with pytest.raises(ConfigError, match="give either resume=true or ckpt_path=<file>, not both"):
        run_train(tmp_path, "resume=true", f"ckpt_path={crashed / 'checkpoints' / 'interrupted.ckpt'}")


def test_no_interrupted_checkpoint_when_the_run_stops_before_its_first_step(tmp_path):
    with pytest.raises(RuntimeError, match="simulated crash at step 0"):
        run_train(tmp_path, "callbacks=[{_target_: run_helpers.CrashAtStep, step: 0}]")
    assert not (tmp_path / "checkpoints" / "interrupted.ckpt").exists()
    run_train(tmp_path, "task.max_steps=1")  # nothing to resume: the directory is free for a new run


def _python(*args: str) -> subprocess.CompletedProcess:
    # run_helpers must be importable by the child: the callbacks below live there
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_ctrl_c_prints_the_exact_command_that_resumes_the_run(tmp_path):
    run_dir = tmp_path / "run"
    args = [*TINY, "task.max_steps=4", "data.max_eval_examples=8",
            "callbacks=[{_target_: run_helpers.CtrlCAtStep, step: 3}]"]
    stopped = _python(str(REPO / "train.py"), *args, f"hydra.run.dir={run_dir}")
    assert stopped.returncode == 1, stopped.stderr[-2000:]  # Lightning's status after Ctrl-C
    lines = stopped.stderr.strip().splitlines()
    assert lines[-2] == f"stopped at step 3; saved {run_dir / 'checkpoints' / 'interrupted.ckpt'}"
    expected = ["python", str(REPO / "train.py"), *args, f"hydra.run.dir={run_dir}", "resume=true"]
    assert lines[-1] == "resume with: " + shlex.join(expected)

    command = shlex.split(lines[-1].removeprefix("resume with: "))
    assert command[0] == "python"
    resumed = _python(*command[1:])  # the printed command, run as it is
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming from {run_dir / 'checkpoints' / 'interrupted.ckpt'} at step 3" in resumed.stdout
    assert json.loads((run_dir / "results.json").read_text())["steps"] == 4


KEEP = "; resume with the checkpoint's settings or start a new run"


@pytest.mark.parametrize(("overrides", "problem"), [
    (["data.seed=43"], "was trained with data.seed=42, this run says 43"),
    (["task.module.lr=0.5"], "was trained with task.module.lr=3e-05, this run says 0.5"),
    (["seed=7"], "was trained with seed=42, this run says 7"),
    (["model.head_init=paper"], "was trained with model.head_init=zero, this run says paper"),
    (["data.group_by_length=true"], "was trained with data.group_by_length=False, this run says True"),
    (["trainer.gradient_clip_val=0.5"], "was trained with trainer.gradient_clip_val=1.0, this run says 0.5"),
    (["task.max_steps=8"], "was trained for 6 steps in all, this run says 8 (task.max_steps; the lr schedule "
                           "spans the whole run, so to train longer start a new run from its model)"),
])
def test_resuming_with_other_settings_stops_naming_the_first_difference(crashed, tmp_path, overrides, problem):
    checkpoint = crashed / "checkpoints" / "interrupted.ckpt"
    with pytest.raises(ResumeMismatch) as refused:
        run_train(tmp_path, f"ckpt_path={checkpoint}", *overrides)
    assert str(refused.value) == f"{checkpoint}: {problem}{KEEP}"
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no config.yaml, results.json, checkpoints


def test_a_refused_resume_true_leaves_the_runs_config_as_it_was(crashed, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(crashed, run_dir)
    before = (run_dir / "config.yaml").read_text()
    with pytest.raises(ResumeMismatch, match="was trained with task.module.lr=3e-05, this run says 0.5"):
        run_train(run_dir, "resume=true", "task.module.lr=0.5")
    assert (run_dir / "config.yaml").read_text() == before


def test_resuming_may_change_where_data_are_cached_and_how_the_model_is_evaluated(crashed, tmp_path):
    results = run_train(tmp_path, f"ckpt_path={crashed / 'checkpoints' / 'interrupted.ckpt'}",
                        f"data.cache_dir={tmp_path / 'cache'}", "data.max_eval_examples=8", "decoding.n_best=5")
    assert results["steps"] == 6 and results["num_questions"] == 8


def test_resuming_after_the_training_file_was_edited_stops_naming_the_file(tmp_path):
    """Same name, same settings, other contents: the checkpoint's recorded sha256 tells, and the resume
    stops with one line naming the file (else part of the run would have used the old file)."""
    from run_helpers import FIXTURE_ROOT

    train = tmp_path / "train.jsonl"
    shutil.copy(FIXTURE_ROOT / "mrqa-few-shot" / "squad" / "squad-train-seed-42-num-examples-16.jsonl", train)
    custom = ["data=custom", f"data.train_file={train}",
              f"data.eval_file={FIXTURE_ROOT / 'mrqa-dev' / 'SQuAD.jsonl.gz'}", "data.max_eval_examples=8"]
    with pytest.raises(RuntimeError, match="simulated crash at step 3"):
        run_train(tmp_path / "run", *custom, "callbacks=[{_target_: run_helpers.CrashAtStep, step: 3}]")
    checkpoint = tmp_path / "run" / "checkpoints" / "interrupted.ckpt"
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)["splinter_run"]["data_files"]
    assert saved["data.train_file"] == {"path": str(train), "sha256": file_sha256(train)}

    lines = train.read_text().splitlines(keepends=True)
    train.write_text("".join(lines[:-1]))  # the last context dropped: another training set, same name
    with pytest.raises(ResumeMismatch) as refused:
        run_train(tmp_path / "resumed", *custom, f"ckpt_path={checkpoint}")
    assert str(refused.value) == (
        f"{checkpoint}: was trained on {train} with sha256 {saved['data.train_file']['sha256'][:12]}..., the file "
        f"now has sha256 {file_sha256(train)[:12]}... (data.train_file was edited since){KEEP}")
    assert not (tmp_path / "resumed").exists() or not any((tmp_path / "resumed").iterdir())
