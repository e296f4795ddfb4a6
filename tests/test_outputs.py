"""Where outputs go: never over an input, never over a special file, with the umask's permissions, no
empty folders from runs that did nothing, one run per directory, and sweeps that can be re-run."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir
from run_helpers import FIXTURE_ROOT, REPO, TINY, run_cli, run_train

from splinter.errors import ConfigError
from splinter.files import WriteError, atomic_write, write_text
from splinter.run.output_dir import RunDirectoryError

QUESTIONS = '{"id": "a", "question": "Who wrote it?", "context": "Ann wrote it."}\n'
TRAIN_FILE = FIXTURE_ROOT / "mrqa-few-shot" / "squad" / "squad-train-seed-42-num-examples-16.jsonl"


# ---------------------------------------------------------------------------------------------------
# atomic_write: regular files only, the umask's permissions, one line for a parent that is a file


def test_a_fifo_is_refused_before_anything_is_written_and_stays_a_fifo(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(WriteError) as refused, atomic_write(fifo) as file:
        file.write(b"never")
    assert str(refused.value) == f"{fifo}: is a FIFO, not a regular file; only regular files are written (give a file path)"
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]  # no temporary file left


@pytest.fixture
def umask_027():
    previous = os.umask(0o027)
    yield
    os.umask(previous)


def test_new_files_follow_the_umask_and_a_replaced_file_keeps_its_mode(tmp_path, umask_027):
    write_text(tmp_path / "new.json", "{}")
    assert stat.S_IMODE(os.stat(tmp_path / "new.json").st_mode) == 0o640  # 0o666 & ~0o027, not mkstemp's 0600
    (tmp_path / "old.json").write_text("old")
    os.chmod(tmp_path / "old.json", 0o604)
    write_text(tmp_path / "old.json", "new")
    assert (tmp_path / "old.json").read_text() == "new"
    assert stat.S_IMODE(os.stat(tmp_path / "old.json").st_mode) == 0o604


def test_an_output_below_a_file_is_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(WriteError) as refused:
        write_text(tmp_path / "file" / "sub" / "out.json", "{}")
    assert str(refused.value) == f"{tmp_path / 'file' / 'sub' / 'out.json'}: its parent {tmp_path / 'file'} is a file, not a directory"


def test_download_root_that_is_a_file_is_one_line(tmp_path):
    (tmp_path / "root").write_text("x")
    for root, where in ((tmp_path / "root", "is a file"), (tmp_path / "root" / "data", f"is below {tmp_path / 'root'}, which is a file")):
        result = run_cli("-m", "splinter.data.release.download", "--root", str(root), "--archive", str(tmp_path / "none.zip"))
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [f"error: {root}: --root {where}, not a directory"]


def test_a_run_directory_below_a_file_is_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    for mode in ("run", "sweep"):
        result = run_cli("train.py", *(["-m"] if mode == "sweep" else []), *TINY,
                         f"hydra.{mode}.dir={tmp_path / 'file' / 'out'}")
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [
            f"error: {tmp_path / 'file' / 'out'}: hydra.{mode}.dir is below {tmp_path / 'file'}, which is a file, "
            "not a directory"]


# ---------------------------------------------------------------------------------------------------
# predict.py: the answers never replace an input; no folder of its own


def _predict(tmp_path, output, *overrides: str):
    from splinter.qa.predict import run

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("predict", overrides=["checkpoint=no-such-dir/", f"input={tmp_path / 'q.jsonl'}",
                                            f"output={output}", *overrides])
    return run(cfg)


@pytest.mark.parametrize("how", ["same path", "relative path", "symlink", "hard link"])
def test_an_output_that_is_the_input_is_refused_before_anything_is_read(tmp_path, monkeypatch, how):
    questions = tmp_path / "q.jsonl"
    questions.write_text(QUESTIONS)
    monkeypatch.chdir(tmp_path)
    output = {"same path": questions, "relative path": "sub/../q.jsonl", "symlink": tmp_path / "link.jsonl",
              "hard link": tmp_path / "hard.jsonl"}[how]
    if how == "symlink":
        os.symlink(questions, output)
    if how == "hard link":
        os.link(questions, output)
    if how == "relative path":
        (tmp_path / "sub").mkdir()
    with pytest.raises(ConfigError) as refused:  # the checkpoint does not exist: reaching it would say so
        _predict(tmp_path, output)
    assert str(refused.value) == (f"config key 'output': {output} is the input file input={questions}: it would be "
                                  "overwritten; give another output path")
    assert questions.read_text() == QUESTIONS


def test_predict_into_a_fifo_is_refused_before_the_model_is_loaded(tmp_path):
    (tmp_path / "q.jsonl").write_text(QUESTIONS)
    os.mkfifo(tmp_path / "answers")
    with pytest.raises(WriteError, match="is a FIFO, not a regular file"):
        _predict(tmp_path, tmp_path / "answers")
    assert stat.S_ISFIFO(os.stat(tmp_path / "answers").st_mode)


def test_predict_leaves_no_output_folder_and_its_answers_follow_the_umask(tmp_path):
    (tmp_path / "q.jsonl").write_text(QUESTIONS)
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run(
        ["sh", "-c", f'umask 022 && exec "{sys.executable}" "{REPO / "predict.py"}" checkpoint=minilm '
                     f'input={tmp_path / "q.jsonl"} output={tmp_path / "a.jsonl"} progress=false'],
        cwd=work, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((tmp_path / "a.jsonl").read_text())["id"] == "a"
    assert stat.S_IMODE(os.stat(tmp_path / "a.jsonl").st_mode) == 0o644
    assert list(work.iterdir()) == []  # no outputs/predict/<date>/<time>/ with a log and .hydra/


def test_a_failed_predict_leaves_nothing_in_the_working_directory(tmp_path):
    # predict.py's run directory is ".": a failure wrote error.json and .hydra/ into the user's folder
    (tmp_path / "q.jsonl").write_text(QUESTIONS)
    (tmp_path / "file").write_text("")
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run([sys.executable, str(REPO / "predict.py"), "checkpoint=minilm",
                             f"input={tmp_path / 'q.jsonl'}", f"output={tmp_path / 'file' / 'a.jsonl'}"],
                            cwd=work, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1].endswith("is a file, not a directory")
    assert list(work.iterdir()) == []


# ---------------------------------------------------------------------------------------------------
# train.py / evaluate.py: inputs, .hydra/, empty folders, the lock


def test_a_training_file_where_the_run_writes_its_predictions_is_refused(tmp_path):
    shutil.copy(TRAIN_FILE, tmp_path / "predictions.json")
    os.symlink(tmp_path / "predictions.json", tmp_path / "train.jsonl")
    kept = (tmp_path / "predictions.json").read_bytes()
    with pytest.raises(ConfigError) as refused:
        run_train(tmp_path, f"data.train_file={tmp_path / 'train.jsonl'}")
    assert str(refused.value) == (
        f"config key 'output_dir': {tmp_path / 'predictions.json'} is the input file data.train_file="
        f"{tmp_path / 'train.jsonl'}: it would be overwritten; give another output path")
    assert (tmp_path / "predictions.json").read_bytes() == kept
    assert not (tmp_path / "config.yaml").exists()


def test_a_refused_rerun_leaves_the_finished_runs_hydra_files_as_they_were(tmp_path):
    run_dir = tmp_path / "run"
    first = run_cli("train.py", *TINY, "task.max_steps=1", f"hydra.run.dir={run_dir}")
    assert first.returncode == 0, first.stderr[-2000:]
    hydra_files = {name: (run_dir / ".hydra" / name).read_bytes() for name in ("config.yaml", "overrides.yaml", "hydra.yaml")}
    assert b"task.max_steps=1" in hydra_files["overrides.yaml"]
    kept = {p.relative_to(run_dir): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}  # train.log too

    again = run_cli("train.py", *TINY, "task.max_steps=2", "seed=7", f"hydra.run.dir={run_dir}")
    assert again.returncode == 2
    assert again.stderr.strip().splitlines()[-1].startswith(f"error: output directory {run_dir} already holds a finished run")
    assert {p.relative_to(run_dir): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == kept


def test_a_run_that_stops_before_doing_anything_leaves_no_folder_it_made(tmp_path):
    # a config error: nothing of the new directory (nor its new parent) stays; an existing one is kept
    result = run_cli("train.py", *TINY, "task.max_steps=0", f"hydra.run.dir={tmp_path / 'day' / 'run'}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: config key 'task.max_steps'")
    assert list(tmp_path.iterdir()) == []
    result = run_cli("evaluate.py", *TINY, "checkpoint=minilm", "trainer.max_epochs=abc", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.stderr.strip().splitlines()[-1].startswith("error: config key 'trainer.max_epochs'")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "mine").mkdir()  # a directory that was there before the run stays, with what says why
    result = run_cli("train.py", *TINY, "task.max_steps=0", f"hydra.run.dir={tmp_path / 'mine'}")
    assert result.returncode == 2
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == [".hydra", "error.json", "train.log"]


def _hold_lock(directory):
    """Another process holding `directory`'s lock, as a run in progress does."""
    code = ("import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
            "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, str(os.getpid()).encode()); print('locked', flush=True); "
            "time.sleep(120)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(directory / ".lock")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_a_second_run_into_a_directory_in_use_stops_with_one_line(tmp_path):
    holder = _hold_lock(tmp_path)
    try:
        with pytest.raises(RunDirectoryError) as refused:
            run_train(tmp_path)
        assert str(refused.value) == (f"output directory {tmp_path} is in use by another run (process {holder.pid}): "
                                      "wait for it to end or choose a new directory (hydra.run.dir=...)")
        assert sorted(p.name for p in tmp_path.iterdir()) == [".lock"]  # nothing written
    finally:
        holder.kill()
        holder.wait()
    from splinter.run.output_dir import release_output_dir_locks

    run_train(tmp_path, "task.max_steps=1")  # the lock is free once its holder is gone
    release_output_dir_locks()
    assert (tmp_path / "results.json").is_file() and not (tmp_path / ".lock").exists()


# ---------------------------------------------------------------------------------------------------
# A sweep killed in its middle, run again


def test_a_killed_sweep_run_again_skips_finished_jobs_and_continues_the_interrupted_one(tmp_path):
    sweep = tmp_path / "sweep"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), os.environ.get("PYTHONPATH", "")])}
    args = [str(REPO / "train.py"), "-m", *TINY, "task.max_steps=3", "data.max_eval_examples=8",
            "callbacks=[{_target_: run_helpers.CtrlCInJob, job: 1, step: 2}]", f"hydra.sweep.dir={sweep}", "seed=1,2,3"]

    def sweep_run(*extra):
        return subprocess.run([sys.executable, *args, *extra], cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=600)

    jobs = [sweep / f"{n}-tiny-squad-16shots-split42" for n in range(3)]
    killed = sweep_run()  # job 0 finishes, job 1 is stopped at step 2, job 2 never starts
    assert killed.returncode != 0
    assert (jobs[0] / "results.json").is_file() and (jobs[1] / "checkpoints" / "interrupted.ckpt").is_file()
    assert not jobs[2].exists()
    finished = (jobs[0] / "results.json").read_bytes()

    again = sweep_run()  # without resume=true: the interrupted job is refused, the others are not failures
    assert again.returncode == 2, again.stderr[-3000:]
    tail = again.stderr.strip().splitlines()
    assert tail[-4:-1] == ["1 sweep job(s) skipped (finished in an earlier run of this sweep):",
                           f"  {jobs[0]}: results.json", "1 sweep job(s) failed:"]
    assert tail[-1].startswith(f"  {jobs[1]}: output directory {jobs[1]} already holds a run (checkpoints/interrupted.ckpt")
    assert "resume it explicitly (resume=true" in tail[-1]
    assert (jobs[2] / "results.json").is_file()
    assert (jobs[0] / "results.json").read_bytes() == finished

    resumed = sweep_run("resume=true")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    tail = resumed.stderr.strip().splitlines()
    assert tail[-5:] == [
        "2 sweep job(s) skipped (finished in an earlier run of this sweep):", f"  {jobs[0]}: results.json",
        f"  {jobs[2]}: results.json", "1 sweep job(s) continued from a checkpoint:",
        f"  {jobs[1]}: from interrupted.ckpt at step 2"]
    assert json.loads((jobs[1] / "results.json").read_text())["steps"] == 3
    assert (jobs[0] / "results.json").read_bytes() == finished
