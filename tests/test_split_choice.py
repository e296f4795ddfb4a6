"""An override that cannot apply stops the run (issue 26): data.shots / data.seed while a train_file is read
whole, as under experiment=demo. Sweep job directories say what each job trained on."""

from __future__ import annotations

import json

import pytest
from run_helpers import FIXTURE_ROOT, TINY, compose_config, run_cli

from splinter.errors import ConfigError
from splinter.run.names import training_data_name

SPLITS = FIXTURE_ROOT / "mrqa-few-shot" / "squad"
SEED_42, SEED_43 = (SPLITS / f"squad-train-seed-{s}-num-examples-16.jsonl" for s in (42, 43))


def test_demo_refuses_a_split_seed_it_would_ignore_with_one_line(tmp_path):
    result = run_cli("train.py", "experiment=demo", "data.seed=43", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1] == (
        "error: config key 'data.seed': data.seed chooses nothing: data.train_file "
        "(data/demo/squad-train-seed-42-num-examples-128.jsonl) is read whole. Set data.train_file=null for the "
        "released split, or data.sample_from_full=true to draw data.shots questions from it with data.seed")
    assert not (tmp_path / "run" / "config.yaml").exists()


@pytest.mark.parametrize("explicit", [{"data.shots"}, {"data.shots", "data.seed"}])
def test_shots_given_beside_a_train_file_stop_the_run_before_it_writes(tmp_path, explicit):
    from splinter.finetuning.finetune import run

    cfg = compose_config("train", tmp_path, f"data.train_file={SEED_43}", "data.shots=17", "data.seed=44")
    with pytest.raises(ConfigError, match="config key 'data.shots': data.shots (and data.seed choose|chooses) nothing"):
        run(cfg, explicit=explicit)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_directory_names_say_what_was_trained():
    assert training_data_name(None, 16, 43) == "16shots-split43"
    assert training_data_name(str(SEED_43), 128, 42) == "squad-train-seed-43-num-examples-16"
    assert training_data_name("corpus/full.jsonl.gz", 64, 3, True) == "full-64shots-sample3"
    assert training_data_name("mrqa-workshop/mrqa:SQuAD", 16, 42) == "mrqa_SQuAD"


def test_a_sweep_over_training_files_names_each_job_by_its_file(tmp_path):
    # the demo-like case: shots/seed say 16/42 for both jobs; the files differ and so must the names
    sweep = tmp_path / "sweep"
    result = run_cli("train.py", "-m", *TINY, "task.max_steps=1", "data.max_eval_examples=4",
                     f"hydra.sweep.dir={sweep}", f"data.train_file={SEED_42},{SEED_43}")
    assert result.returncode == 0, result.stderr[-2000:]
    jobs = sorted(p.parent.name for p in sweep.glob("*/results.json"))
    assert jobs == ["0-tiny-squad-squad-train-seed-42-num-examples-16", "1-tiny-squad-squad-train-seed-43-num-examples-16"]
    files = [json.loads((sweep / job / "results.json").read_text())["train_file"] for job in jobs]
    assert files == [str(SEED_42), str(SEED_43)]
