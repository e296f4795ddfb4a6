"""evaluate.py on a training run's model scores it as the run did: with the run's window and decoding
settings (read as QuestionAnswerer reads them), unless the user sets one, which is then named."""

from __future__ import annotations

import json
import logging

import pytest
from run_helpers import compose_config, run_train

from splinter.finetuning.evaluate import run as evaluate_run

# Settings the evaluate config's own values (run_helpers' 128/64, the query's 64, decoding 10) differ from.
RUN_SETTINGS = ["data.max_seq_length=96", "data.doc_stride=40", "data.max_query_length=24",
                "decoding.max_answer_length=6"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    return out, run_train(out, *RUN_SETTINGS)


@pytest.mark.parametrize("model", ["model", "checkpoints/last.ckpt"])
def test_evaluating_a_runs_model_reproduces_the_runs_scores(trained, tmp_path, model):
    out, trained_results = trained
    cfg = compose_config("evaluate", tmp_path, f"checkpoint={out / model}")
    results = evaluate_run(cfg, explicit={"checkpoint"})
    assert (results["exact_match"], results["f1"]) == (trained_results["exact_match"], trained_results["f1"])
    assert (tmp_path / "predictions.json").read_text() == (out / "predictions.json").read_text()
    assert results["num_windows"] == trained_results["num_windows"]
    assert "settings_differ" not in results
    saved = (tmp_path / "config.yaml").read_text()
    assert "max_seq_length: 96" in saved and "max_answer_length: 6" in saved
    # the model's own name (the run's model group), not evaluate.yaml's default model group
    assert results["model_name"] == "tiny"


def test_a_setting_the_user_gives_wins_and_is_named_in_one_line(trained, tmp_path, caplog):
    out, _ = trained
    cfg = compose_config("evaluate", tmp_path, f"checkpoint={out / 'model'}", "data.max_seq_length=128")
    with caplog.at_level(logging.WARNING, logger="splinter"):
        results = evaluate_run(cfg, explicit={"checkpoint", "data.max_seq_length"})
    assert results["settings_differ"] == ["data.max_seq_length=128 (the run: 96)"]
    lines = [r.getMessage() for r in caplog.records if "did not use" in r.getMessage()]
    assert len(lines) == 1 and "data.max_seq_length=128 (the run: 96)" in lines[0]
    assert "max_seq_length: 128" in (tmp_path / "config.yaml").read_text()
    assert "doc_stride: 40" in (tmp_path / "config.yaml").read_text()  # the others are still the run's
    assert json.loads((tmp_path / "results.json").read_text())["settings_from"].endswith("config.yaml")
