"""Honest few-shot selection (issue 21): folds of the K training questions, the selection block of
results.json, the Optuna study on the selection score (refusal, independence from the evaluation set,
resume), and the report's selection section."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import sqlite3
import subprocess
import sys

import pytest
import yaml
from run_helpers import FIXTURE_ROOT, REPO, TINY, run_train

from splinter.errors import ConfigError
from splinter.selection.folds import kfold, multisplit

IDS = [f"q{i}" for i in range(16)]
DEV = FIXTURE_ROOT / "mrqa-dev" / "SQuAD.jsonl.gz"


# ---------------------------------------------------------------------------------------------- folds


def test_kfold_partitions_the_questions_deterministically():
    folds = kfold(IDS, 4, seed=42)
    held = [set(h) for _, h in folds]
    assert [len(h) for h in held] == [4, 4, 4, 4]
    assert set().union(*held) == set(IDS) and sum(map(len, held)) == len(IDS)  # a partition
    for train, heldout in folds:
        assert not set(train) & set(heldout) and set(train) | set(heldout) == set(IDS)
    assert kfold(list(reversed(IDS)), 4, seed=42) == folds  # not file order: the ids and the seed
    assert kfold(IDS, 4, seed=43) != folds
    with pytest.raises(ConfigError, match="selection.folds"):
        kfold(IDS, 17, seed=42)


def test_multisplit_holds_out_a_fraction_each_time():
    splits = multisplit(IDS, 3, 0.25, seed=42)
    assert [len(dev) for _, dev in splits] == [4, 4, 4]
    assert all(not set(t) & set(d) and set(t) | set(d) == set(IDS) for t, d in splits)
    assert len({tuple(d) for _, d in splits}) == 3 and multisplit(IDS, 3, 0.25, seed=42) == splits


def test_fold_data_hold_out_training_questions_and_never_read_the_evaluation_file(tmp_path):
    from splinter.data.datamodule import QADataModule
    from splinter.selection.runner import HeldOutData
    from splinter.tokenization.tokenizer import load_tokenizer

    tokenizer = load_tokenizer("minilm")
    # an evaluation file that does not exist: a fold that tried to read it would fail
    parent = QADataModule(tokenizer, root=str(FIXTURE_ROOT), max_seq_length=128, doc_stride=64,
                          eval_file=str(tmp_path / "missing.jsonl"), verbose=False)
    parent.setup("fit")
    examples = parent.train_examples
    ids = list(examples["id"])
    train, heldout = kfold(ids, 4, seed=42)[0]
    row = {q: i for i, q in enumerate(ids)}
    fold = HeldOutData.of(parent, examples.select([row[q] for q in train]), examples.select([row[q] for q in heldout]))
    fold.setup("fit")
    fold.prepare_data()
    assert sorted(set(fold.train_examples["id"])) == sorted(train)
    assert sorted(fold.references()) == sorted(heldout)  # scored on held-out training questions
    assert len(fold.evaluation_set.references) == len(heldout)
    with gzip.open(DEV, "rt") as file:
        dev_ids = {qa["qid"] for line in file if '"qas"' in line for qa in json.loads(line)["qas"]}
    assert dev_ids and not dev_ids & set(ids)


# ---------------------------------------------------------------------------------------------- a run


def test_results_json_selection_block_and_the_final_run_is_the_fixed_run(tmp_path):
    fixed = run_train(tmp_path / "fixed", "task.max_steps=3")
    selected = run_train(tmp_path / "kfold", "task.max_steps=3", "selection=kfold", "selection.folds=2")
    block = selected["selection"]
    assert block["method"] == "kfold" and block["folds"] == 2 and block["heldout_questions"] == [8, 8]
    assert len(block["fold_f1"]) == 2 and block["fold_steps"] == [3, 3] and block["oracle"] is False
    mean = sum(block["fold_f1"]) / 2
    assert block["mean"] == pytest.approx(mean)
    assert block["std"] == pytest.approx(abs(block["fold_f1"][0] - block["fold_f1"][1]) / 2 ** 0.5)
    assert block["seconds"] > 0
    assert json.loads((tmp_path / "kfold" / "results.json").read_text())["selection"] == block
    # folds leave their scores, not checkpoints; the final run is exactly the fixed-protocol run
    assert sorted(p.name for p in (tmp_path / "kfold" / "checkpoints").iterdir()) == ["last.ckpt"]
    assert (selected["f1"], selected["steps"]) == (fixed["f1"], fixed["steps"])
    assert "selection" not in fixed

    from splinter.selection import objective

    assert objective(selected) == pytest.approx(mean) and objective(fixed) is None


def test_choose_steps_trains_the_step_count_with_the_best_mean_fold_f1(tmp_path):
    results = run_train(tmp_path, "task.max_steps=3", "selection=multisplit", "selection.splits=2",
                        "selection.choose_steps=true", "selection.eval_every=1")
    block = results["selection"]
    assert block["method"] == "multisplit" and block["heldout_questions"] == [4, 4]
    assert sorted(block["curve"], key=int) == ["1", "2", "3"]
    best = max(block["curve"].values())
    assert block["steps"] == min(int(s) for s, f1 in block["curve"].items() if f1 == best)
    assert results["steps"] == block["steps"]


# ---------------------------------------------------------------------------------------------- studies

STUDY = [
    "hparams_search=optuna", "selection=kfold", "selection.folds=2", *TINY, "data.max_eval_examples=20",
    "hydra.sweeper.n_trials=2", "hydra.sweeper.sampler_seed=7", "hydra.sweeper.evaluate_trials=true",
    "hydra.sweeper.params.steps.low=2", "hydra.sweeper.params.steps.high=3", "hydra.sweeper.params.batch_size=null",
]  # fmt: skip


def sweep(sweep_dir, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "tests")}  # run_helpers' callbacks
    return subprocess.run([sys.executable, str(REPO / "train.py"), "-m", *STUDY, f"hydra.sweep.dir={sweep_dir}", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=600, env=env)


def optimization_results(sweep_dir) -> dict:
    return yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    sweep_dir = tmp_path_factory.mktemp("study") / "baseline"
    result = sweep(sweep_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    return sweep_dir, result


def test_a_study_selects_on_the_selection_score_and_trains_the_best_once(baseline):
    sweep_dir, result = baseline
    found = optimization_results(sweep_dir)
    [study] = found["studies"]
    trials = study["trials"]
    assert [t["state"] for t in trials] == ["complete", "complete"]
    best = max(trials, key=lambda t: (t["selection_score"], -t["number"]))
    assert found["best_selection_score"] == best["selection_score"] == study["best_selection_score"]
    assert found["best_params"] == best["params"] and set(best["params"]) == {"lr", "steps", "warmup"}
    for trial in trials:  # the objective is each trial's mean held-out F1, never its evaluation F1
        selection = json.loads((sweep_dir / trial["output_dir"].split("/")[-1] / "selection.json").read_text())
        assert trial["selection_score"] == pytest.approx(selection["mean"])
    final = study["final_run"]
    assert final["command"].startswith("python train.py hparams_search=optuna selection=kfold")
    assert f"task.min_steps={best['params']['steps']}" in final["command"] and final["command"] in result.stdout
    assert json.loads((sweep_dir / final["output_dir"].split("/")[-1] / "results.json").read_text())["f1"] >= 0
    assert (sweep_dir / "optuna.db").is_file()


def test_the_objective_does_not_depend_on_the_evaluation_file(baseline, tmp_path):
    sweep_dir, _ = baseline
    with gzip.open(DEV, "rt") as file:
        lines = file.readlines()
    other = tmp_path / "other-dev.jsonl"
    other.write_text("".join(lines[:1] + lines[5:8]))  # other evaluation questions
    result = sweep(tmp_path / "other", f"data.eval_file={other}")
    assert result.returncode == 0, result.stderr[-3000:]
    a, b = optimization_results(sweep_dir), optimization_results(tmp_path / "other")
    assert (b["best_params"], b["best_selection_score"]) == (a["best_params"], a["best_selection_score"])
    assert [t["selection_score"] for t in b["studies"][0]["trials"]] == [t["selection_score"] for t in a["studies"][0]["trials"]]
    final = json.loads((tmp_path / "other" / b["studies"][0]["final_run"]["output_dir"].split("/")[-1]
                        / "results.json").read_text())
    assert final["eval_file"] == str(other)  # the evaluation did change


def test_an_interrupted_study_resumes_with_the_same_command(baseline, tmp_path):
    sweep_dir, _ = baseline
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    marker = tmp_path / "interrupt"
    marker.write_text("3")  # trial 0: two folds and its final training; then Ctrl-C in trial 1's first fold
    interrupt = f"callbacks=[{{_target_:run_helpers.CtrlCOnce,marker:'{marker}'}}]"
    first = sweep(resumed, interrupt)
    assert first.returncode != 0 and not marker.exists()
    assert not (resumed / "optimization_results.yaml").exists()
    with sqlite3.connect(resumed / "optuna.db") as db:
        assert sorted(db.execute("select number, state from trials")) == [(0, "COMPLETE"), (1, "RUNNING")]

    again = sweep(resumed, interrupt)  # the same command
    assert again.returncode == 0, again.stderr[-3000:]
    assert "trial 1 was interrupted; marked failed, not counted" in again.stderr
    found, expected = optimization_results(resumed), optimization_results(sweep_dir)
    trials = found["studies"][0]["trials"]
    assert [t["state"] for t in trials] == ["complete", "interrupted", "complete"]
    assert trials[2]["params"] == trials[1]["params"]  # re-run with the interrupted trial's parameters
    # trial 0 was not run again, and the study ends as the uninterrupted one
    assert len(json.loads((resumed / "0-tiny-squad-16shots-split42" / "selection.json").read_text())["fold_f1"]) == 2
    assert found["studies"][0]["finished"] == 2
    assert (found["best_params"], found["best_selection_score"]) == (expected["best_params"], expected["best_selection_score"])


def test_a_study_on_the_evaluation_set_is_refused_unless_marked_oracle(tmp_path):
    args = [a for a in STUDY if a != "selection=kfold" and not a.startswith("selection.folds")]
    refused = subprocess.run([sys.executable, str(REPO / "train.py"), "-m", *args, f"hydra.sweep.dir={tmp_path / 'a'}"],
                             cwd=REPO, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "error: config key 'selection': an Optuna study with selection=none would tune on the evaluation set: "
        "use selection=kfold or selection=multisplit (or selection.oracle=true to study the oracle on purpose; "
        "it is marked oracle in reports)"]
    assert not (tmp_path / "a").exists() or not any((tmp_path / "a").glob("*/results.json"))

    oracle = subprocess.run([sys.executable, str(REPO / "train.py"), "-m", *args, "hydra.sweeper.n_trials=1",
                             "selection.oracle=true", f"hydra.sweep.dir={tmp_path / 'b'}"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert oracle.returncode == 0, oracle.stderr[-3000:]
    [trial] = optimization_results(tmp_path / "b")["studies"][0]["trials"]
    results = json.loads((tmp_path / "b" / trial["output_dir"].split("/")[-1] / "results.json").read_text())
    assert results["selection"] == {"method": "none", "oracle": True, "final_run": True}
    assert trial["selection_score"] == pytest.approx(results["f1"])  # the oracle's objective: evaluation F1

    from splinter.reporting.report import main

    assert main([str(tmp_path / "b"), "--no-paper"]) == 0
    md = (tmp_path / "b" / "results.md").read_text()
    assert "| model | overrides | selected |" in md or "| model | selected |" in md
    assert any(line.startswith("| tiny |") and "| oracle |" in line for line in md.splitlines())


# ---------------------------------------------------------------------------------------------- report


def test_report_selection_section(tmp_path):
    """Fake study: trials with selection scores and evaluation F1, a fixed-protocol run beside it."""
    from splinter.reporting.report import main
    from splinter.reporting.selection import spearman

    def run(name: str, f1: float, selection: dict | None) -> str:
        directory = tmp_path / name
        directory.mkdir(parents=True)
        record = {"model_name": "tiny", "dataset": "squad", "shots": 16, "split_seed": 42, "exact_match": 0.0,
                  "f1": f1, **({"selection": selection} if selection else {})}
        (directory / "results.json").write_text(json.dumps(record))
        (directory / "config.yaml").write_text(yaml.safe_dump({"model": {"name": "tiny"}, "name": name}))
        return str(directory)

    kfold_block = {"method": "kfold", "mean": 0.0, "oracle": False}
    scores = [(10.0, 40.0), (20.0, 50.0), (30.0, 45.0), (40.0, 60.0)]  # (selection score, evaluation F1)
    trials = [{"number": i, "state": "complete", "selection_score": s, "output_dir": run(f"study/{i}", f1, kfold_block)}
              for i, (s, f1) in enumerate(scores)]
    trials.append({"number": 4, "state": "fail", "selection_score": None, "output_dir": str(tmp_path / "study/4")})
    run("fixed", 55.0, None)
    study = {"study": "data.seed=42", "oracle": False, "best_selection_score": 40.0, "trials": trials,
             "final_run": {"output_dir": trials[3]["output_dir"], "command": "python train.py ..."}}
    (tmp_path / "study" / "optimization_results.yaml").write_text(yaml.safe_dump({"studies": [study]}))

    assert main([str(tmp_path), "--no-paper"]) == 0
    md = (tmp_path / "results.md").read_text()
    rho = spearman([s for s, _ in scores], [f for _, f in scores])
    assert rho == pytest.approx(0.8)  # ranks 1 2 3 4 vs 1 3 2 4
    assert "| study/data.seed=42 | kfold | 5 | 40.0 | 60.0 | 55.0 | 60.0 | +0.0 | 0.80 (n=4) |" in md
    rows = {line.split(" | ")[2] for line in md.splitlines() if line.startswith("| tiny |")}
    assert rows == {"kfold", "fixed"}  # each row says how it was selected

    # a copied sweep (e.g. committed under experiments/) still finds its trials beside the study file
    moved = tmp_path.parent / f"{tmp_path.name}-moved"
    shutil.copytree(tmp_path, moved)
    shutil.rmtree(tmp_path)
    (moved / "results.md").unlink()
    assert main([str(moved), "--no-paper"]) == 0
    assert "| study/data.seed=42 | kfold | 5 | 40.0 | 60.0 | 55.0 | 60.0 | +0.0 | 0.80 (n=4) |" in (moved / "results.md").read_text()


def test_failed_trials_are_recorded_and_the_sweep_goes_on(tmp_path):
    # 0 steps (task.epochs=0 under hparams_search=optuna): every trial stops with one line
    result = sweep(tmp_path, "hydra.sweeper.params.steps.low=0", "hydra.sweeper.params.steps.high=0")
    assert result.returncode == 2  # the sweep's failure rule: failed jobs listed, exit status 2
    found = optimization_results(tmp_path)
    assert [t["state"] for t in found["studies"][0]["trials"]] == ["fail", "fail"]  # both trials ran
    assert found["best_params"] is None and found["best_selection_score"] is None
    message = "config key 'task.min_steps': task.epochs=0 and task.min_steps=0 give 0 training steps"
    assert json.loads((tmp_path / "0-tiny-squad-16shots-split42" / "error.json").read_text())["error"] == message
    assert "2 sweep job(s) failed:" in result.stderr and "no trial finished; nothing to train" in result.stderr
