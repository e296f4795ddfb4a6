"""train.py / evaluate.py as a user runs them: config errors, sweeps, evaluation modes, the report."""

from __future__ import annotations

import json

import pytest
from run_helpers import FIXTURE_ROOT, REPO, TINY, run_cli, run_evaluate, run_train

from splinter.errors import ConfigError
from splinter.qa.metrics import squad_scores


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("data.shots=17", "config key 'data.shots': no released split with 17 examples (valid: 16, 32, 64, 128"),
        ("data.seed=41", "config key 'data.seed': no released split for seed 41 (valid: 42, 43, 44, 45, 46)"),
        ("data.shots=1024", "config key 'data.root': split file not found:"),
    ],
)
def test_config_mistakes_are_one_clear_line(tmp_path, override, expected):
    result = run_cli("train.py", *TINY, f"hydra.run.dir={tmp_path}", override)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {expected}")
    assert "Traceback" not in result.stderr


def test_a_bad_trainer_value_is_one_line_before_the_run_writes_its_config(tmp_path):
    result = run_cli("train.py", *TINY, f"hydra.run.dir={tmp_path}", "trainer.max_epochs=abc")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: config key 'trainer.max_epochs': got 'abc', allowed: an integer >= -1 or null")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "config.yaml").exists()


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("data=squadd", "error: config group 'data' has no option 'squadd' (did you mean 'squad'?); options: "
                        "bioasq, custom, hotpotqa, mrqa, naturalquestions, newsqa, searchqa, squad, text, textbookqa, "
                        "triviaqa"),
        ("data.shotz=3", "error: config key 'data.shotz' does not exist (did you mean 'data.shots'?)"),
        ("modle.name=x", "error: config key 'modle' does not exist (did you mean 'model'?)"),
    ],
)
def test_a_mistyped_group_option_or_key_is_one_line_with_did_you_mean(tmp_path, override, expected):
    # Hydra printed 17 lines (the search path, HYDRA_FULL_ERROR) or `+data.shotz=3` advice for a typo
    result = run_cli("train.py", *TINY, f"hydra.run.dir={tmp_path}", override)
    assert result.returncode == 2
    assert result.stderr.strip() == expected
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_train_help_shows_examples_and_the_groups():
    result = run_cli("train.py", "--help")
    assert result.returncode == 0
    assert "== Examples ==" in result.stdout and "python train.py experiment=demo" in result.stdout
    assert "task: finetune, pretrain" in result.stdout
    assert "powered by Hydra" not in result.stdout


def test_in_process_config_error_is_the_splinter_error(tmp_path):
    with pytest.raises(ConfigError, match="data.shots"):
        run_train(tmp_path, "data.shots=17")


def test_sweep_runs_one_job_per_directory_and_the_report_aggregates_it(tmp_path):
    result = run_cli(
        "train.py", "-m", *TINY, "task.max_steps=2", f"hydra.sweep.dir={tmp_path / 'sweep'}", "data.seed=42,43"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    jobs = sorted(p.parent.name for p in (tmp_path / "sweep").glob("*/results.json"))
    assert jobs == ["0-tiny-squad-16shots-split42", "1-tiny-squad-16shots-split43"]
    seeds = {json.loads(p.read_text())["split_seed"] for p in (tmp_path / "sweep").glob("*/results.json")}
    assert seeds == {42, 43}
    assert not list(tmp_path.glob("outputs")), "no stray single-run output directory"

    report = run_cli("-m", "splinter.reporting.report", str(tmp_path / "sweep"), "--out", str(tmp_path / "table"))
    assert report.returncode == 0, report.stderr
    table = (tmp_path / "table" / "results.md").read_text()
    assert "tiny" in table and "(n=2)" in table
    assert (tmp_path / "table" / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("trained")
    return out, run_train(out)


def test_evaluate_a_saved_model_directory_gives_the_training_score(trained, tmp_path):
    out, results = trained
    again = run_evaluate(tmp_path, f"checkpoint={out / 'model'}")
    assert (again["exact_match"], again["f1"]) == (results["exact_match"], results["f1"])
    assert json.loads((tmp_path / "results.json").read_text())["num_questions"] == 40


def test_evaluate_a_lightning_checkpoint(trained, tmp_path):
    out, _ = trained
    crash = "callbacks=[{_target_: run_helpers.CrashAtStep, step: 3}]"
    with pytest.raises(RuntimeError):
        run_train(tmp_path / "crashed", crash)
    ckpt = tmp_path / "crashed" / "checkpoints" / "interrupted.ckpt"
    # the .ckpt carries its tokenizer: the model group's (here a path that does not exist) is not needed
    scored = run_evaluate(tmp_path / "eval", f"checkpoint={ckpt}", "model.tokenizer=/nonexistent")
    assert scored["num_questions"] == 40
    # The same weights and tokenizer, saved as a model directory, score exactly the same.
    from splinter.finetuning.evaluate import load_module_from_ckpt

    module, tokenizer = load_module_from_ckpt(ckpt, {})
    module.model.save_pretrained(tmp_path / "same-weights", tokenizer=tokenizer)
    same = run_evaluate(tmp_path / "dir", f"checkpoint={tmp_path / 'same-weights'}")
    assert (scored["exact_match"], scored["f1"]) == (same["exact_match"], same["f1"])
    on_disk = json.loads((tmp_path / "eval" / "predictions.json").read_text())
    assert on_disk == json.loads((tmp_path / "dir" / "predictions.json").read_text())
    # ... and not those of the finished run: the .ckpt's step-3 weights were the ones evaluated.
    assert on_disk != json.loads((out / "predictions.json").read_text())


def test_evaluate_scores_a_predictions_file_like_the_official_script(trained, tmp_path):
    out, results = trained
    scored = run_evaluate(tmp_path, f"predictions={out / 'predictions.json'}", "model.tokenizer=/nonexistent")
    assert (scored["exact_match"], scored["f1"]) == (results["exact_match"], results["f1"])

    predictions = json.loads((out / "predictions.json").read_text())
    first = next(iter(predictions))
    from splinter.data.formats.readers import read_examples

    examples, _ = read_examples(FIXTURE_ROOT / "mrqa-dev" / "SQuAD.jsonl.gz", training=False)
    gold = dict(zip(examples["id"], examples["gold_answers"], strict=True))
    predictions[first] = gold[first][0]  # one answer made right moves the score by exactly that question
    (tmp_path / "edited.json").write_text(json.dumps(predictions))
    edited = run_evaluate(tmp_path / "edited", f"predictions={tmp_path / 'edited.json'}")
    references = {i: gold[i] for i in predictions}
    assert edited["f1"] == pytest.approx(squad_scores(predictions, references)["f1"])
    assert edited["f1"] > results["f1"] or results["f1"] == 100


def test_evaluate_rejects_a_broken_predictions_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": "x",\n "b": }')
    result = run_cli("evaluate.py", *TINY, f"hydra.run.dir={tmp_path / 'run'}", f"predictions={bad}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {bad}:2: not valid JSON")


def test_the_demo_runs_offline_and_prints_scores_before_and_after(tmp_path):
    # `make demo` with its step count cut to 1 and 8 evaluation questions: the same files, model and code
    result = run_cli("train.py", "experiment=demo", "logger=none", "task.max_steps=1", "data.max_eval_examples=8",
                     "trainer.enable_progress_bar=false", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "minilm on 8 squad questions after 1 steps on 128 examples:" in result.stdout
    assert "before fine-tuning  EM" in result.stdout and "after fine-tuning   EM" in result.stdout
    assert f"outputs: {tmp_path}" in result.stdout
    results = json.loads((tmp_path / "results.json").read_text())
    assert {"f1", "f1_before", "exact_match_before"} <= set(results)


def test_sweep_through_the_submitit_launcher_runs_every_job(tmp_path):
    # submitit's local executor stands in for SLURM: the same launcher plugin, jobs as subprocesses
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    result = run_cli("train.py", "-m", "hydra/launcher=submitit_local", *TINY, "task.max_steps=1",
                     "data.max_eval_examples=10", f"hydra.sweep.dir={tmp_path}", "data.seed=42,43")
    assert result.returncode == 0, result.stderr[-2000:]
    seeds = sorted(json.loads(p.read_text())["split_seed"] for p in tmp_path.glob("*/results.json"))
    assert seeds == [42, 43]


def test_slurm_launcher_asks_for_one_task_per_device():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=["hydra/launcher=slurm", "trainer=ddp", "trainer.devices=4",
                                          "trainer.num_nodes=2"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.tasks_per_node, launcher.gpus_per_node, launcher.nodes) == (4, 4, 2)
