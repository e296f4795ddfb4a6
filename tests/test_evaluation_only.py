"""Evaluating a model: no training data is touched, and the forward pass that keeps evaluation memory flat
(torch's kernels instead of oneDNN's per-shape primitives) gives the same predictions and scores."""

from __future__ import annotations

import contextlib

import pytest
import pytorch_lightning as pl
import torch
from run_helpers import FIXTURE_ROOT

from splinter.data import windows as windows_module
from splinter.data.datamodule import QADataModule
from splinter.finetuning import module as qa_module
from splinter.finetuning.finetune import evaluate
from splinter.finetuning.module import QAModule, without_onednn
from splinter.model.factory import load_model

TINY_MODEL = dict(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=64, max_position_embeddings=512)


@pytest.fixture(scope="module")
def tokenizer():
    from splinter.tokenization.tokenizer import load_tokenizer

    return load_tokenizer("minilm")


def datamodule(tokenizer, cache_dir, **kw) -> QADataModule:
    kw = {"root": FIXTURE_ROOT, "max_eval_examples": 24, "max_seq_length": 128, "doc_stride": 64,
          "eval_batch_size": 5, "cache_dir": str(cache_dir), "verbose": False, **kw}
    return QADataModule(tokenizer, **kw)


def tiny_module() -> QAModule:
    torch.manual_seed(0)
    return QAModule(load_model(config=TINY_MODEL))


def make_trainer(**kw) -> pl.Trainer:
    return pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                      enable_model_summary=False, enable_checkpointing=False, **kw)


@pytest.fixture
def built(monkeypatch) -> list[bool]:
    """The `training` flag of every build_windows call, in order."""
    calls = []
    real = windows_module.build_windows

    def spy(examples, tokenizer, settings, training, **kw):
        calls.append(training)
        return real(examples, tokenizer, settings, training=training, **kw)

    monkeypatch.setattr(windows_module, "build_windows", spy)
    return calls


def test_evaluation_only_run_builds_no_training_windows(tokenizer, tmp_path, built):
    # Seed 44 has no training split under the fixture root: preparing one would fail.
    dm = datamodule(tokenizer, tmp_path, seed=44)
    _, metrics = evaluate(make_trainer(), tiny_module(), dm)

    assert built and True not in built  # evaluation windows only (prepare_data + setup)
    assert dm.train_windows is None and dm.train_examples is None
    assert len(dm.eval_windows) == metrics["num_windows"] > 0
    assert metrics["num_questions"] == 24
    info = dm.data_info()
    assert "train_file" not in info and info["eval_questions"] == 24


def test_fitting_still_prepares_both_sets(tokenizer, tmp_path, built):
    dm = datamodule(tokenizer, tmp_path)
    make_trainer(max_steps=1, limit_val_batches=0).fit(tiny_module(), datamodule=dm)
    assert built[:2] == [True, False]  # prepare_data: the training windows, then the evaluation ones
    assert dm.train_windows is not None and len(dm.train_windows) == 37


def test_evaluation_forward_runs_without_onednn_and_predicts_the_same(tokenizer, tmp_path, monkeypatch):
    dm = datamodule(tokenizer, tmp_path)
    module = tiny_module()
    flags = []
    module.model.register_forward_pre_hook(lambda model, args: flags.append(torch.backends.mkldnn.enabled))
    enabled_before = torch.backends.mkldnn.enabled
    without = evaluate(make_trainer(), module, dm)
    batches = len(dm.test_dataloader())
    assert batches > 1 and flags == [False] * batches  # every batch's forward ran with oneDNN off
    assert torch.backends.mkldnn.enabled == enabled_before  # restored afterwards

    # The same evaluation with oneDNN left as it is (what evaluation did before).
    monkeypatch.setattr(qa_module, "without_onednn", contextlib.nullcontext)
    flags.clear()
    predictions, metrics = evaluate(make_trainer(), module, dm)
    assert flags == [enabled_before] * batches
    assert predictions == without[0]
    for key in ("exact_match", "f1", "num_questions", "num_windows"):
        assert metrics[key] == without[1][key]


def test_without_onednn_restores_the_flag_after_an_error():
    enabled = torch.backends.mkldnn.enabled
    with pytest.raises(RuntimeError, match="boom"), without_onednn():
        assert torch.backends.mkldnn.enabled is False
        raise RuntimeError("boom")
    assert torch.backends.mkldnn.enabled == enabled
