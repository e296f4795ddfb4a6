"""Fine-tuning end to end on the shipped fixtures with a tiny model: outputs, determinism, resume."""

from __future__ import annotations

import json
import re

import pytest
import torch
from run_helpers import run_train

from splinter import SplinterForQuestionAnswering
from splinter.finetuning.finetune import training_steps
from splinter.qa.metrics import squad_scores


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    return out, run_train(out)


def test_run_writes_results_predictions_config_and_model(trained):
    out, results = trained
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(results))
    assert on_disk["steps"] == 6 and on_disk["num_questions"] == 40
    assert on_disk["dataset"] == on_disk["eval_dataset"] == "squad"
    assert on_disk["shots"] == 16 and on_disk["split_seed"] == 42
    assert len(on_disk["train_file_sha256"]) == 64 and on_disk["train_file"].endswith("num-examples-16.jsonl")
    assert on_disk["splinter_version"] and on_disk["wall_seconds"] > 0
    assert on_disk["data"]["summaries"][0]["kept"] == 16

    predictions = json.loads((out / "predictions.json").read_text())
    assert len(predictions) == 40 and all(isinstance(text, str) for text in predictions.values())
    # results.json holds exactly the score of predictions.json against the evaluation references
    from splinter.data.formats.readers import read_examples

    examples, _ = read_examples(on_disk["eval_file"], training=False)
    references = {i: g for i, g in zip(examples["id"], examples["gold_answers"], strict=True) if i in predictions}
    assert squad_scores(predictions, references) == pytest.approx(
        {"exact_match": on_disk["exact_match"], "f1": on_disk["f1"]}
    )
    assert "model: tiny" not in (out / "config.yaml").read_text()  # resolved config, not the defaults list
    assert "hidden_size: 32" in (out / "config.yaml").read_text()


def test_saved_model_reloads_and_transformers_loads_it(trained):
    out, _ = trained
    ours = SplinterForQuestionAnswering.from_pretrained(out / "model").eval()
    transformers = pytest.importorskip("transformers")
    theirs = transformers.SplinterForQuestionAnswering.from_pretrained(out / "model").eval()
    ids = torch.tensor([[101, 2054, 104, 1012, 102, 3000, 3001, 3002, 102]])
    with torch.no_grad():
        a, b = ours(input_ids=ids), theirs(input_ids=ids)
    torch.testing.assert_close(a.start_logits, b.start_logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a.end_logits, b.end_logits, atol=1e-5, rtol=1e-5)


def test_same_config_and_seed_give_identical_results(trained, tmp_path):
    out, first = trained
    second = run_train(tmp_path)
    assert (second["exact_match"], second["f1"]) == (first["exact_match"], first["f1"])
    assert (tmp_path / "predictions.json").read_text() == (out / "predictions.json").read_text()
    a = SplinterForQuestionAnswering.from_pretrained(out / "model").state_dict()
    b = SplinterForQuestionAnswering.from_pretrained(tmp_path / "model").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_another_seed_trains_another_model(trained, tmp_path):
    out, _ = trained
    run_train(tmp_path, "seed=7")
    a = SplinterForQuestionAnswering.from_pretrained(out / "model").state_dict()
    b = SplinterForQuestionAnswering.from_pretrained(tmp_path / "model").state_dict()
    assert not all(torch.equal(a[k], b[k]) for k in a)


def test_crash_leaves_a_checkpoint_and_resuming_matches_the_uninterrupted_run(trained, tmp_path):
    out, uninterrupted = trained
    crash = "callbacks=[{_target_: run_helpers.CrashAtStep, step: 4}]"
    with pytest.raises(RuntimeError, match="simulated crash at step 4"):
        run_train(tmp_path / "crashed", crash)
    last = tmp_path / "crashed" / "checkpoints" / "interrupted.ckpt"
    assert last.is_file()
    saved = torch.load(last, map_location="cpu", weights_only=True)  # loadable without pickle code
    assert saved["global_step"] == 4 and saved["splinter_resume"]["batches_in_epoch"] == 4

    resumed = run_train(tmp_path / "resumed", f"ckpt_path={last}")
    assert resumed["steps"] == 6
    assert (resumed["exact_match"], resumed["f1"]) == (uninterrupted["exact_match"], uninterrupted["f1"])
    a = SplinterForQuestionAnswering.from_pretrained(out / "model").state_dict()
    b = SplinterForQuestionAnswering.from_pretrained(tmp_path / "resumed" / "model").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_mid_epoch_skips_the_batches_already_seen(trained, tmp_path):
    # Crash in the third batch of the second epoch: the case where the data order of a resumed epoch
    # matters (the first test crashes inside the first epoch).
    _, results = trained
    per_epoch = -(-results["data"]["train_windows"] // 4)  # batch_size=4
    crash_step, total = per_epoch + 2, per_epoch + 4
    run_train(tmp_path / "full", f"task.max_steps={total}")
    crash = f"callbacks=[{{_target_: run_helpers.CrashAtStep, step: {crash_step}}}]"
    with pytest.raises(RuntimeError):
        run_train(tmp_path / "crashed", f"task.max_steps={total}", crash)
    saved = tmp_path / "crashed" / "checkpoints" / "interrupted.ckpt"
    assert torch.load(saved, map_location="cpu", weights_only=True)["splinter_resume"]["batches_in_epoch"] == 2
    run_train(tmp_path / "resumed", f"task.max_steps={total}", f"ckpt_path={saved}")
    a = SplinterForQuestionAnswering.from_pretrained(tmp_path / "full" / "model").state_dict()
    b = SplinterForQuestionAnswering.from_pretrained(tmp_path / "resumed" / "model").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_mid_epoch_with_length_grouped_batches_matches_the_uninterrupted_run(tmp_path):
    # 37 windows in batches of 4: 10 batches an epoch; the crash after 12 steps is 2 batches into the
    # second epoch, which the length-grouped sampler must skip on resume.
    grouped = ["data.group_by_length=true", "task.max_steps=14"]
    full = run_train(tmp_path / "full", *grouped)
    with pytest.raises(RuntimeError, match="simulated crash at step 12"):
        run_train(tmp_path / "crashed", *grouped, "callbacks=[{_target_: run_helpers.CrashAtStep, step: 12}]")
    saved = tmp_path / "crashed" / "checkpoints" / "interrupted.ckpt"
    assert torch.load(saved, map_location="cpu", weights_only=True)["splinter_resume"]["batches_in_epoch"] == 2
    resumed = run_train(tmp_path / "resumed", *grouped, f"ckpt_path={saved}")
    assert full["data"]["train_windows"] == 37 and resumed["steps"] == full["steps"] == 14
    assert (resumed["exact_match"], resumed["f1"]) == (full["exact_match"], full["f1"])
    assert (tmp_path / "resumed" / "predictions.json").read_text() == (tmp_path / "full" / "predictions.json").read_text()
    a = SplinterForQuestionAnswering.from_pretrained(tmp_path / "full" / "model").state_dict()
    b = SplinterForQuestionAnswering.from_pretrained(tmp_path / "resumed" / "model").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_sampler_that_cannot_skip_stops_a_mid_epoch_resume_with_one_line():
    from torch.utils.data import SequentialSampler

    from splinter.run.resume import InexactResume, ResumeState

    state = ResumeState()
    state.load({"splinter_resume": {"batches_in_epoch": 3, "rng": state.rng}})
    with pytest.raises(InexactResume) as stopped:
        state.training_started(SequentialSampler(range(8)))
    assert str(stopped.value) == ("cannot resume in the middle of an epoch exactly: the training sampler "
                                  "(SequentialSampler) cannot skip the 3 batches the checkpoint already trained on")
    assert state.batches_in_epoch == 3  # a checkpoint written on the way out still records them


def test_the_saved_random_state_includes_the_cuda_generator_when_a_gpu_is_in_use(monkeypatch):
    # On a GPU, dropout draws from the CUDA generator: a checkpoint without its state resumes with other
    # dropout masks (tests/test_cuda.py checks the round trip on a real GPU). Faked here for the CPU.
    from splinter.run.resume import ResumeState

    cuda_state = torch.arange(16, dtype=torch.uint8)
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda *a, **k: cuda_state.clone())
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, *a, **k: restored.append(state))
    state = ResumeState()
    state.batch_finished()
    checkpoint: dict = {}
    state.save(checkpoint)
    assert torch.equal(checkpoint["splinter_resume"]["rng"]["cuda"], cuda_state)
    ResumeState().load(checkpoint)
    assert len(restored) == 1 and torch.equal(restored[0], cuda_state)


def test_paper_length_is_max_of_ten_epochs_and_200_steps():
    assert training_steps(16, 12, epochs=10, min_steps=200, max_steps=None) == 200
    assert training_steps(1100, 12, epochs=10, min_steps=200, max_steps=None) == 920
    assert training_steps(1100, 12, epochs=10, min_steps=200, max_steps=50) == 50


def test_pretrained_model_is_fine_tuned_with_dropout_on(tmp_path):
    from run_helpers import RecordTrainingMode

    RecordTrainingMode.seen = []
    # from_pretrained returns an eval-mode model: fine-tuning must still switch dropout on
    run_train(tmp_path / "a", "task.max_steps=1")
    run_train(tmp_path / "b", f"model.checkpoint={tmp_path / 'a' / 'model'}", "task.max_steps=2",
              "callbacks=[{_target_: run_helpers.RecordTrainingMode}]")
    assert RecordTrainingMode.seen == [True, True]


def test_a_diverging_run_stops_with_one_line_and_no_results(tmp_path):
    """lr=1e6 turns the tiny model's loss to nan within a few steps: the run stops there (exit 2, one line
    naming the step and the loss), writes no results.json that reads as a score of 0 and no checkpoint of
    the nan weights."""
    from run_helpers import TINY, run_cli

    result = run_cli("train.py", *TINY, f"hydra.run.dir={tmp_path}", "task.module.lr=1e6", "task.max_steps=20")
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert re.fullmatch(r"error: training diverged at step (\d+): the loss is nan; the run stopped and wrote no "
                        r"results \(task\.module\.lr=1000000\.0 may be too high\)", last), last
    assert 1 <= int(re.search(r"step (\d+)", last)[1]) < 20
    assert not (tmp_path / "results.json").exists() and not (tmp_path / "predictions.json").exists()
    assert not (tmp_path / "checkpoints" / "interrupted.ckpt").exists()


def test_evaluating_before_fine_tuning_leaves_training_unchanged(trained, tmp_path):
    """task.evaluate_before scores the untrained model first; it must not draw from the training RNG
    streams (dropout, data order), so the trained weights are bit-identical with and without it."""
    out, without = trained
    with_before = run_train(tmp_path, "task.evaluate_before=true")
    assert "f1_before" in with_before
    a = SplinterForQuestionAnswering.from_pretrained(out / "model").state_dict()
    b = SplinterForQuestionAnswering.from_pretrained(tmp_path / "model").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (with_before["exact_match"], with_before["f1"]) == (without["exact_match"], without["f1"])


def test_bf16_mixed_precision_trains_with_gradient_clipping_and_the_fused_optimizer(tmp_path):
    # trainer=gpu's precision (bf16-mixed) with the default gradient_clip_val 1.0: Lightning refused to clip
    # for the fused AdamW ("does not allow for gradient clipping"), a rule for fp16's gradient scaler.
    results = run_train(tmp_path, "trainer.precision=bf16-mixed", "task.max_steps=2")
    assert results["steps"] == 2


def test_model_compile_compiles_the_encoder_in_place_with_the_same_outputs_and_weight_names():
    # model.compile=true: the encoder's layer stack is torch.compiled in place, so checkpoints keep
    # their keys; traced here with the "eager" backend (the same graph capture, no code generation).
    from tiny_config import TINY

    from splinter.finetuning.module import QAModule, compile_encoder
    from splinter.model.factory import load_model

    torch.manual_seed(0)
    plain = QAModule(load_model(config=TINY), compile=False)
    configured = QAModule(load_model(config=TINY), compile=True)
    assert configured.model.splinter.encoder._compiled_call_impl is not None
    assert plain.model.splinter.encoder._compiled_call_impl is None
    assert list(configured.model.state_dict()) == list(plain.model.state_dict())
    compiled = SplinterForQuestionAnswering(plain.model.config)
    compiled.load_state_dict(plain.model.state_dict())
    compile_encoder(compiled, backend="eager")
    ids = torch.tensor([[101, 2054, 104, 1012, 102, 30, 31, 32, 102, 0, 0, 0], [101, 7, 104, 102, 40, 41, 42, 43, 44,
                                                                               45, 46, 102]]) % 128
    mask = (ids != 0).long()
    for model in (plain.model, compiled):
        model.eval()
    with torch.no_grad():
        a, b = plain.model(input_ids=ids, attention_mask=mask), compiled(input_ids=ids, attention_mask=mask)
    torch.testing.assert_close(a.start_logits, b.start_logits)
    torch.testing.assert_close(a.end_logits, b.end_logits)
