"""Out-of-domain evaluation: `data.eval_set=<name>` scores a model trained on one dataset's split on another
dataset's evaluation file, and results.json says which (`eval_dataset`)."""

from __future__ import annotations

import json
import shutil

import pytest
from run_helpers import FIXTURE_ROOT, run_evaluate, run_train


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """The fixture root plus an out-of-domain dev set (a copy of the SQuAD dev fixture, as DROP)."""
    root = tmp_path_factory.mktemp("root")
    shutil.copytree(FIXTURE_ROOT, root, dirs_exist_ok=True)
    shutil.copy(root / "mrqa-dev" / "SQuAD.jsonl.gz", root / "mrqa-dev" / "DROP.jsonl.gz")
    return root


def test_a_run_trained_on_squad_is_scored_on_another_set(root, tmp_path):
    results = run_train(tmp_path, f"data.root={root}", "data.eval_set=DROP", "task.max_steps=2")
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk["dataset"] == "squad" and on_disk["eval_dataset"] == "drop" == results["eval_dataset"]
    assert on_disk["eval_file"] == str(root / "mrqa-dev" / "DROP.jsonl.gz")
    assert on_disk["train_file"] == str(root / "mrqa-few-shot/squad/squad-train-seed-42-num-examples-16.jsonl")
    assert on_disk["data"]["eval_dataset"] == "drop" and on_disk["num_questions"] == 40


def test_evaluate_reports_the_eval_set_too(root, tmp_path):
    predictions = tmp_path / "predictions.json"
    predictions.write_text(json.dumps({"56be4db0acb8001400a502ec": "Denver Broncos"}))
    results = run_evaluate(tmp_path / "drop", f"data.root={root}", f"predictions={predictions}", "data.eval_set=drop")
    assert results["eval_dataset"] == "drop" and results["eval_file"].endswith("DROP.jsonl.gz")
    results = run_evaluate(tmp_path / "squad", f"data.root={root}", f"predictions={predictions}")
    assert results["eval_dataset"] == "squad" and results["eval_file"].endswith("SQuAD.jsonl.gz")
