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
         "config key 'task.module.warmup_ratio': got 1.5, allowed: a number in [0, 1]"),
        # null is pretraining's "use warmup_steps"; fine-tuning has no warmup_steps to fall back on
        ("task.module.warmup_ratio=null",
         "config key 'task.module.warmup_ratio': got null, allowed: a number in [0, 1]"),
        ("trainer.max_epochs=abc", "config key 'trainer.max_epochs': got 'abc', allowed: an integer >= -1 or null"),
        ("trainer.gradient_clip_val=abc",
         "config key 'trainer.gradient_clip_val': got 'abc', allowed: a number >= 0 or null"),
        ("trainer.devices=0", "config key 'trainer.devices': got 0, allowed: a number of devices >= 1, -1 (all), "
                              "auto, or device indices e.g. [0,1]"),
        ("trainer.precision=17", "config key 'trainer.precision': got 17, allowed: one of 32-true, bf16-mixed, "
                                 "16-mixed, bf16-true, 16-true, 64-true, transformer-engine, "
                                 "transformer-engine-float16"),
        ("trainer.accelerator=quantum",
         "config key 'trainer.accelerator': got 'quantum', allowed: one of auto, gpu, cpu, cuda, mps, tpu"),
        ("trainer.log_every_n_steps=-1",
         "config key 'trainer.log_every_n_steps': got -1, allowed: an integer >= 0 or null"),
        ("trainer.deterministic=sometimes",
         "config key 'trainer.deterministic': got 'sometimes', allowed: true, false, warn or null"),
        ("+trainer.strategy=ddp_spawnn",
         "config key 'trainer.strategy': got 'ddp_spawnn', allowed: auto, a Lightning strategy name (ddp, "
         "ddp_spawn, fsdp, deepspeed, ...: StrategyRegistry.available_strategies()) or a node with _target_"),
        ("trainer.limit_val_batches=1.5", "config key 'trainer.limit_val_batches': got 1.5, allowed: an integer "
                                           ">= 0, or a number in [0, 1], or null"),
        ("data.cache_dir=5", "config key 'data.cache_dir': got 5, allowed: a path (a string) or null"),
        ("model.head_init=bogus", "config key 'model.head_init': got 'bogus', allowed: one of zero, paper"),
        # each length alone is allowed; together they leave no room for the context
        ("data.max_seq_length=40",
         "config key 'data.max_seq_length': must be >= data.max_query_length + 4 = 68, got 40"),
        ("task.module.betas=[0.9]",
         "config key 'task.module.betas': got [0.9], allowed: two numbers in [0, 1), e.g. [0.9,0.999]"),
        ("data.hide_sep=maybe", "config key 'data.hide_sep': got 'maybe', allowed: true or false"),
        ("model.head_type=conv", "config key 'model.head_type': got 'conv', allowed: one of qass, linear"),
        # non-finite settings: 1e400 reads as inf, and lr=inf trains to an all-NaN model
        ("task.module.lr=1e400", "config key 'task.module.lr': got inf, allowed: a finite number"),
        ("task.module.lr=inf", "config key 'task.module.lr': got inf, allowed: a finite number"),
        ("task.module.lr=nan", "config key 'task.module.lr': got nan, allowed: a finite number"),
        ("task.module.betas=[0.9,nan]", "config key 'task.module.betas[1]': got nan, allowed: a finite number"),
        ("+model.config.layer_norm_eps=-inf",
         "config key 'model.config.layer_norm_eps': got -inf, allowed: a finite number"),
        ("seed=-1", "config key 'seed': got -1, allowed: an integer >= 0 and <= 4294967295"),
        ("seed=4294967296", "config key 'seed': got 4294967296, allowed: an integer >= 0 and <= 4294967295"),
        ("data.seed=-1", "config key 'data.seed': got -1, allowed: an integer >= 0"),
    ],
)
def test_a_bad_value_stops_the_run_before_it_writes_anything(tmp_path, override, message):
    with pytest.raises(ConfigError) as error:
        run_train(tmp_path, override)
    assert str(error.value) == message
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_no_key_of_the_rules_takes_a_non_finite_number(value):
    from omegaconf import OmegaConf

    from splinter.run.config_checks import RULES, check_config

    for key in RULES:
        cfg = OmegaConf.create()
        OmegaConf.update(cfg, key, value, force_add=True)
        with pytest.raises(ConfigError, match=rf"^config key '{key}': got {value}, allowed: a finite number$"):
            check_config(cfg, {key: RULES[key]})


def compose(name: str, *overrides: str):
    from hydra import compose, initialize_config_dir
    from run_helpers import REPO

    # output_dir: outside a Hydra run `${hydra:runtime.output_dir}` cannot resolve, and the checks
    # resolve every interpolation
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(name, overrides=["output_dir=unused", *overrides])


@pytest.mark.parametrize("trainer", ["cpu", "gpu", "ddp"])
@pytest.mark.parametrize("task", ["finetune", "pretrain"])
def test_every_shipped_trainer_passes_the_checks(trainer, task):
    from splinter.run.config_checks import check_config

    data = ["data=text", "data.files=[x.txt]"] if task == "pretrain" else []
    check_config(compose("train", f"task={task}", f"trainer={trainer}", *data))


@pytest.mark.parametrize("override", [
    "trainer.devices=[0,1]", "trainer.devices=auto", "trainer.devices=-1", "trainer.devices='0,1'",
    "trainer.precision=bf16-mixed", "trainer.precision=16", "trainer.accelerator=cuda", "trainer.max_epochs=null",
    "trainer.gradient_clip_val=null", "+trainer.strategy=ddp_spawn",
    "+trainer.strategy={_target_:pytorch_lightning.strategies.DDPStrategy}", "trainer.deterministic=warn",
    "data.cache_dir=/tmp/datasets-cache", "model.head_init=paper", "data.max_seq_length=68",
])
def test_the_other_forms_lightning_and_the_data_accept_pass(override):
    from splinter.run.config_checks import check_config

    check_config(compose("train", override))


def test_pretraining_may_leave_the_warmup_ratio_null():
    from splinter.run.config_checks import check_config

    cfg = compose("train", "task=pretrain", "data=text", "data.files=[x.txt]", "task.module.warmup_ratio=null",
                  "task.module.warmup_steps=500")
    check_config(cfg)  # pretraining then warms up over task.module.warmup_steps
    assert cfg.task.module.warmup_ratio is None and cfg.task.module.warmup_steps == 500


def test_a_pretraining_warmup_longer_than_the_run_is_refused_in_one_line():
    from splinter.run.config_checks import check_config

    cfg = compose("train", "task=pretrain", "data=text", "data.files=[x.txt]", "task.max_steps=20",
                  "task.module.warmup_steps=100")
    with pytest.raises(ConfigError) as error:
        check_config(cfg)
    assert str(error.value) == (
        "config key 'task.module.warmup_steps': a warm-up of 100 steps is longer than the run (20 steps): "
        "lower it, or set it to null to warm up over task.module.warmup_ratio of the steps"
    )
    check_config(compose("train", "task=pretrain", "data=text", "data.files=[x.txt]", "task.max_steps=20",
                         "task.module.warmup_steps=20"))  # as long as the run: allowed


def test_evaluation_checks_its_window_lengths_with_the_full_key(tmp_path):
    with pytest.raises(ConfigError) as error:
        run_evaluate(tmp_path, "data.max_query_length=130")  # run_helpers' max_seq_length is 128
    assert str(error.value) == "config key 'data.max_seq_length': must be >= data.max_query_length + 4 = 134, got 128"
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_a_trainer_argument_lightning_refuses_is_one_line_naming_the_node(tmp_path):
    # not in the checks' table: Lightning refuses it when the trainer is built
    with pytest.raises(ConfigError) as error:
        run_train(tmp_path, "+trainer.bogus_flag=1")
    assert str(error.value) == ("config key 'trainer': pytorch_lightning.Trainer: TypeError: Trainer.__init__() got "
                                "an unexpected keyword argument 'bogus_flag'")


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


def test_a_node_that_cannot_be_built_is_one_line_naming_its_key():
    from omegaconf import OmegaConf

    from splinter.run.instantiate import instantiate_node

    cfg = OmegaConf.create({"callbacks": [{"_target_": "no_such_module.Callback"}]})
    with pytest.raises(ConfigError) as error:
        instantiate_node(cfg.callbacks[0])
    assert str(error.value) == (
        "config key 'callbacks[0]': no_such_module.Callback: ImportError: Error loading 'no_such_module.Callback': "
        "ModuleNotFoundError(\"No module named 'no_such_module'\") Are you sure that module 'no_such_module' is "
        "installed?")


def test_a_splinter_error_of_the_target_surfaces_as_itself():
    from omegaconf import OmegaConf

    from splinter.run.instantiate import instantiate_node

    node = OmegaConf.create({"_target_": "splinter.data.windows.WindowSettings", "doc_stride": 0})
    with pytest.raises(ConfigError) as error:
        instantiate_node(node)
    assert str(error.value) == "config key 'doc_stride': must be >= 1, got 0"


def test_windows_longer_than_the_models_positions_are_refused_at_the_start(tmp_path):
    """Before: training started and stopped at the first forward with the encoder's ValueError."""
    import torch

    from splinter import SplinterConfig, SplinterForQuestionAnswering
    from splinter.qa.answerer import QuestionAnswerer
    from splinter.tokenization.tokenizer import load_tokenizer

    message = ("config key 'data.max_seq_length': got 128, but the model has only 100 positions "
               "(max_position_embeddings); use at most 100")
    with pytest.raises(ConfigError) as error:
        run_train(tmp_path / "train", "model.config.max_position_embeddings=100")
    assert str(error.value) == message
    assert not (tmp_path / "train" / "checkpoints").exists() and not (tmp_path / "train" / "results.json").exists()
    torch.manual_seed(0)
    model = SplinterForQuestionAnswering(SplinterConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1,
                                                        num_attention_heads=2, intermediate_size=37,
                                                        max_position_embeddings=100))
    model.save_pretrained(tmp_path / "model", tokenizer=load_tokenizer("minilm"))
    with pytest.raises(ConfigError) as error:
        run_evaluate(tmp_path / "eval", f"checkpoint={tmp_path / 'model'}")
    assert str(error.value) == message
    with pytest.raises(ConfigError, match=r"^config key 'max_seq_length': got 384, but the model has only 100 "):
        QuestionAnswerer(model, load_tokenizer("minilm"))


def test_the_default_logger_names_a_pretraining_run():
    # the wandb logger's name interpolated data.dataset, which a pretraining corpus has not (issue 26)
    from omegaconf import OmegaConf

    cfg = compose("train", "task=pretrain", "data=text", "data.files=[x.txt]", "model=tiny")
    assert OmegaConf.to_container(cfg, resolve=True)["logger"]["name"] == "tiny-pretrain-rss-s42"
    assert compose("train", "model=tiny", "data.shots=32").logger.name == "tiny-squad-32-s42"


def test_a_broken_interpolation_is_one_line_naming_its_key(tmp_path):
    with pytest.raises(ConfigError) as error:
        run_train(tmp_path, "logger=csv", "logger.name=${data.nothing}")
    assert str(error.value) == ("config key 'logger.name': cannot be resolved: "
                                "Interpolation key 'data.nothing' not found")
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_a_broken_interpolation_read_before_the_checks_is_one_line_on_the_command_line(tmp_path):
    from run_helpers import run_cli

    done = run_cli("train.py", "task.run=${task.nothing}", f"hydra.run.dir={tmp_path}/run")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == ("error: config key 'task.run': cannot be resolved: "
                                                    "Interpolation key 'task.nothing' not found")
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("settings", "message"), [
    # before: use_max_context="maybe" was taken as true; each decoding key now has one rule (RULES)
    ({"use_max_context": "maybe"}, "config key 'use_max_context': got 'maybe', allowed: true or false"),
    ({"n_best": 0}, "config key 'n_best': got 0, allowed: an integer >= 1"),
])
def test_decoding_settings_are_checked_by_the_rules_table(settings, message):
    from splinter.qa.answerer import DecodingSettings

    with pytest.raises(ConfigError) as error:
        DecodingSettings(**settings)
    assert str(error.value) == message


def test_window_lengths_of_a_config_are_checked_by_the_window_rule(tmp_path):
    """data.doc_stride / max_query_length have one rule (splinter.data.windows.check_window_lengths):
    the config check names the full key before anything is written."""
    with pytest.raises(ConfigError) as error:
        run_train(tmp_path / "train", "data.doc_stride=0")
    assert str(error.value) == "config key 'data.doc_stride': must be >= 1, got 0"
    assert not (tmp_path / "train").exists()


def test_the_cluster_order_rule_offers_exactly_the_implemented_orders():
    # run/ sits below pretraining/, so the rules table names the options itself: they must stay equal
    from splinter.pretraining.recurring_spans import CLUSTER_ORDERS
    from splinter.run.config_checks import RULES

    assert RULES["data.cluster_order"].allowed == "one of " + ", ".join(CLUSTER_ORDERS)
