"""Every offline command of the documentation's ```bash blocks (README.md, docs/*.md) runs as written
(issues 22, 26): the docs are a contract.

Convention (docs/development.md; read by tests/doc_commands.py): a command line may end with a shell
comment `# needs: <what>`. `download` means it reads the released data: it runs here on the tests'
fixture data root. Any other need (hub, gpu, slurm, network, ...) means it cannot run offline here; such
commands are composed and checked by tests/test_docs.py instead. Every other command runs as written, in
a scratch directory that looks like a checkout (train.py, evaluate.py, conf/, data/ linked), with small
step counts appended as later Hydra overrides (a later `key=value` wins), so the command's own words are
exactly the page's. A command written on several pages runs once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from doc_commands import Command, all_commands
from run_helpers import FIXTURE_ROOT, REPO

# Run directories the README's later commands read: the command that writes each, by its exact text.
RUN_DIRS = {
    "python train.py model=minilm data.max_eval_examples=300 task.max_steps=60 trainer=cpu":
        "outputs/2026-11-21/12-00-00",
    "python train.py task=pretrain data=text data.files='[corpus/*.txt]' model=tiny task.max_steps=1000":
        "outputs/2026-11-21/13-00-00",
}
SWEEP = "multirun/2026-11-21/12-00-00"  # the report command's sweep: built from the fine-tuning run above
# Appended to keep each run to seconds on a CPU: a few steps, a few evaluation questions, short windows.
FINETUNE = ["task.max_steps=2", "data.max_eval_examples=8", "data.max_seq_length=128", "data.doc_stride=64",
            "data.batch_size=4", "data.eval_batch_size=8", "trainer.enable_progress_bar=false"]
PRETRAIN = ["task.max_steps=2", "data.max_seq_length=64", "data.batch_size=4", "data.num_workers=0",
            "trainer.enable_progress_bar=false"]
EVALUATE = ["data.max_eval_examples=8", "trainer.enable_progress_bar=false"]
# The default suite runs these (the pretraining quick start and the fine-tune → evaluate path); -m slow all.
FAST = {*RUN_DIRS, "python evaluate.py checkpoint=outputs/2026-11-21/12-00-00/model data=squad",
        "python evaluate.py predictions=outputs/2026-11-21/12-00-00/predictions.json data=squad"}


COMMANDS = all_commands()
# Not run from inside the suite they start: their recipes are checked instead (test_make_test_...).
SUITES = {"make test", "make test-all"}


def distinct(commands) -> list[Command]:
    """Each command text once, where it is first written."""
    first: dict[str, Command] = {}
    for command in commands:
        first.setdefault(command.text, command)
    return list(first.values())


def test_the_readme_has_the_commands_this_test_runs():
    texts = [c.text for c in COMMANDS if c.page == "README.md"]
    assert set(RUN_DIRS) | FAST <= set(texts), "a command this test runs is no longer in README.md"
    assert "make demo" in texts


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """A scratch directory that looks like a checkout, with the README's example corpora, and an
    environment in which `python` is this interpreter and nothing reaches the network."""
    root = tmp_path_factory.mktemp("readme")
    for name in ("train.py", "evaluate.py", "predict.py", "conf", "data", "Makefile", "pyproject.toml",
                 "mkdocs.yml", "docs"):
        (root / name).symlink_to(REPO / name)
    sample = (REPO / "tests" / "fixtures" / "pretrain" / "sample.txt").read_text()
    (root / "corpus").mkdir()
    (root / "corpus" / "sample.txt").write_text(sample)
    (root / "corpus.txt").write_text(sample)
    with open(root / "corpus.jsonl", "w") as file:
        for document in sample.split("\n\n"):
            if document.strip():
                file.write(json.dumps({"text": document.strip()}) + "\n")
    # `python` is this interpreter: its own bin directory first (a venv is found from the path it runs by)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(REPO),
           "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "WANDB_MODE": "disabled",
           "SPLINTER_DATA_ROOT": str(FIXTURE_ROOT), "HF_DATASETS_CACHE": str(root / "hf-cache")}
    return root, env


def appended(command: Command, number: int) -> list[str]:
    """What the test adds after the command's own words (later Hydra overrides win)."""
    text = command.text
    if text.startswith("make "):
        return ["PY=python", "STAMP="]  # the checkout's interpreter instead of (re)building .venv
    if text.startswith(("python -m ", "python predict.py")):  # no training, no run directory of its own
        return []
    if " -m " in text:  # a sweep
        return [f"hydra.sweep.dir=sweeps/{number}", *FINETUNE]
    run_dir = ["hydra.run.dir=" + RUN_DIRS.get(text, f"runs/{number}")]
    if text.startswith("python evaluate.py"):
        return [*EVALUATE, *run_dir]
    return [*(PRETRAIN if "task=pretrain" in text else FINETUNE), *run_dir]


def run(command: Command, number: int, root: Path, env: dict) -> subprocess.CompletedProcess:
    if SWEEP in command.text and not (root / SWEEP).exists():
        shutil.copytree(root / RUN_DIRS[next(iter(RUN_DIRS))], root / SWEEP / "0-minilm-squad-16shots-split42")
    line = " ".join([command.text, *(f"'{a}'" if "=" in a else a for a in appended(command, number))])
    result = subprocess.run(["bash", "-c", line], cwd=root, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{command.where}: {line}\n{result.stdout[-1500:]}\n{result.stderr[-3000:]}"
    return result


def check_outputs(command: Command, root: Path) -> None:
    """What the command must have left: a run's results, the report's table."""
    run_dir = RUN_DIRS.get(command.text)
    if run_dir:
        results = json.loads((root / run_dir / "results.json").read_text())
        assert results["steps"] == 2 and (root / run_dir / "model").is_dir()
    if command.text.startswith("python -m splinter.report"):
        assert any(root.glob(f"{SWEEP}/**/results.md")) or any(root.glob("**/results.md"))


def test_the_quick_start_commands_run_as_written(checkout):
    root, env = checkout
    fast = distinct(c for c in COMMANDS if c.text in FAST)
    assert len(fast) == len(FAST)
    for number, command in enumerate(fast):
        run(command, number, root, env)
        check_outputs(command, root)
    # evaluate.py scores the run's model exactly as the run scored it (the run's window settings)
    trained = json.loads((root / "outputs/2026-11-21/12-00-00/results.json").read_text())
    scored = [json.loads(p.read_text()) for p in sorted((root / "runs").glob("*/results.json"))]
    assert [(s["exact_match"], s["f1"]) for s in scored] == [(trained["exact_match"], trained["f1"])] * 2


@pytest.mark.slow
def test_every_offline_command_of_the_docs_runs_as_written(tmp_path_factory, checkout):
    root, env = checkout
    for folder in ("outputs", "runs", "multirun", "sweeps"):
        shutil.rmtree(root / folder, ignore_errors=True)
    for number, command in enumerate(c for c in distinct(COMMANDS) if c.runs_here and c.text not in SUITES):
        run(command, number, root, env)
        check_outputs(command, root)


def test_make_test_runs_the_offline_suite():
    # not run from inside the suite it starts: its recipe is checked instead
    for target in ("test", "test-all"):
        result = subprocess.run(["make", "-n", target, "PY=python", "STAMP="], cwd=REPO, capture_output=True,
                                text=True)
        assert result.returncode == 0 and "HF_HUB_OFFLINE=1" in result.stdout and "-m pytest" in result.stdout


