"""Every numeric or choice key is checked at start: one line with the full key, the value, what is allowed."""

from __future__ import annotations

import json

import pytest
from run_helpers import FIXTURE_ROOT, run_evaluate, run_train

from splinter.errors import ConfigError, DataError


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("task.max_steps=0", "config key 'task.max_steps': got 0, allowed: an integer >= 1 or null"),
        ("task.max_steps=-1", "config key 'task.max_steps': got -1, allowed: an integer >= 1 or null"),
        ("task.max_steps=abc", "config key 'task.max_steps': got 'abc', allowed: an integer >= 1 or null"),
        ("task.module.lr=fast", "config key 'task.module.lr': got 'fast', allowed: a number > 0"),
        ("data.shots=abc", "config key 'data.shots': got 'abc', allowed: an integer >= 1"),
        ("data.batch_size=0", "config key 'data.batch_size': got 0, allowed: an integer >= 1"),
        ("task.module.warmup_ratio=1.5",
         "config key 'task.module.warmup_ratio': got 1.5, allowed: a number in [0, 1] or null"),
        ("task.module.betas=[0.9]",
         "config key 'task.module.betas': got [0.9], allowed: two numbers in [0, 1), e.g. [0.9,0.999]"),
        ("data.hide_sep=maybe", "config key 'data.hide_sep': got 'maybe', allowed: true or false"),
        ("model.head_type=conv", "config key 'model.head_type': got 'conv', allowed: one of qass, linear"),
    ],
)
def test_a_bad_value_stops_the_run_before_it_writes_anything(tmp_path, override, message):
    with pytest.raises(ConfigError) as error:
        run_train(tmp_path, override)
    assert str(error.value) == message
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_pretraining_keys_are_checked_too(tmp_path):
    from hydra import compose, initialize_config_dir
    from run_helpers import REPO

    from splinter.pretraining.run import run

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=["task=pretrain", "data=text", "model=tiny", "logger=none",
                                          "data.files=[x.txt]", "data.cluster_order=shortest",
                                          f"output_dir={tmp_path}"])
    with pytest.raises(ConfigError) as error:
        run(cfg)
    assert str(error.value) == "config key 'data.cluster_order': got 'shortest', allowed: one of longest, random"


def test_a_global_batch_that_does_not_split_over_the_processes_is_one_line(tmp_path):
    with pytest.raises(ConfigError) as error:
        run_train(tmp_path, "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "data.batch_size=5")
    assert str(error.value) == ("config key 'data.batch_size': the global batch of 5 windows does not split "
                                "evenly over 2 processes (use a multiple of 2)")


def test_evaluate_with_custom_data_needs_no_train_file(tmp_path):
    (tmp_path / "predictions.json").write_text(json.dumps({"56be4db0acb8001400a502ec": "Denver Broncos"}))
    scored = run_evaluate(tmp_path / "run", "data=custom", f"data.eval_file={FIXTURE_ROOT / 'mrqa-dev' / 'SQuAD.jsonl.gz'}",
                          f"predictions={tmp_path / 'predictions.json'}")
    # one exact answer of 40 questions; the other 39 are unanswered and score 0
    assert scored["num_questions"] == 40 and scored["f1"] == scored["exact_match"] == 2.5
    assert (scored["unanswered"], scored["unknown_ids"]) == (39, 0)


@pytest.mark.parametrize("content", [{}, {"not-a-question": "foo"}])
def test_predictions_of_another_evaluation_set_are_one_line_not_a_score_of_zero(tmp_path, content):
    predictions = tmp_path / "predictions.json"
    predictions.write_text(json.dumps(content))
    eval_file = FIXTURE_ROOT / "mrqa-dev" / "SQuAD.jsonl.gz"
    with pytest.raises(DataError) as error:
        run_evaluate(tmp_path / "run", "data=custom", f"data.eval_file={eval_file}", f"predictions={predictions}")
    example = " (e.g. 'not-a-question')" if content else ""
    assert str(error.value) == (f"{predictions}: none of its {len(content)} ids is a question of {eval_file}{example}: "
                                "predictions for another evaluation set?")
    assert not (tmp_path / "run" / "results.json").exists()


def test_training_with_custom_data_names_the_missing_train_file(tmp_path):
    with pytest.raises(ConfigError) as error:
        run_train(tmp_path, "data=custom", f"data.eval_file={FIXTURE_ROOT / 'mrqa-dev' / 'SQuAD.jsonl.gz'}")
    assert str(error.value) == "config key 'data.train_file': is required: give data.train_file=..."
