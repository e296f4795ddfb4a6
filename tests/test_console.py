"""What a run prints (issue 26): every line about what the trainer did, none of Lightning's advertising,
device lines or zero FLOPs, a step-counting bar instead of `Epoch 0/-2`, labelled evaluation bars, and
one line for a fresh head."""

from __future__ import annotations

import logging

import pytest
from run_helpers import TINY, run_cli

from splinter.run.console import LIGHTNING_LOGGER, ParameterSummary, quiet_lightning

NOISE = ("GPU available", "TPU available", "Tip:", "litlogger", "litmodels", "FLOPs", "Total Flops", "/-2",
         "Testing", "Some weights", "You should probably TRAIN", "splinter_qass.")


@pytest.fixture(scope="module")
def encoder_checkpoint(tmp_path_factory):
    """A tiny encoder without a QASS head, as a pretrained checkpoint before fine-tuning is."""
    from splinter.model.config import SplinterConfig
    from splinter.model.encoder import SplinterModel

    directory = tmp_path_factory.mktemp("encoder")
    config = SplinterConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=64, max_position_embeddings=512)
    SplinterModel(config).save_pretrained(directory)
    return directory


def test_a_tiny_run_prints_what_the_trainer_did_and_no_noise(tmp_path, encoder_checkpoint):
    result = run_cli(
        "train.py", *TINY, f"hydra.run.dir={tmp_path / 'run'}", "task.max_steps=12", "task.evaluate_before=true",
        "trainer.enable_progress_bar=true", "trainer.enable_model_summary=true",
        f"model.checkpoint={encoder_checkpoint}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    for noise in NOISE:
        assert noise not in output, noise
    assert "fresh QASS head (18 tensors)" in output  # the 18 keys, in one line
    assert "`Trainer.fit` stopped: `max_steps=12` reached." in output  # what the trainer did stays
    assert "Evaluating before fine-tuning" in output and "Evaluating after fine-tuning" in output
    assert "Training steps" in output and "12/12" in output  # 12 steps over 2 epochs of 10 batches
    assert "SplinterForQuestionAnswering | 1.0 M" in output and "1.0 M trainable params" in output
    assert "before fine-tuning  EM" in output


def test_the_filter_drops_only_lightnings_device_lines_and_tips(caplog):
    quiet_lightning()
    quiet_lightning()  # installed once
    logger = logging.getLogger(LIGHTNING_LOGGER)
    assert len([f for f in logger.filters if type(f).__name__ == "_DropLightningNoise"]) == 1
    with caplog.at_level(logging.INFO, logger=LIGHTNING_LOGGER):
        for line in ("GPU available: False, used: False", "💡 Tip: try litlogger",
                     "`Trainer.fit` stopped: `max_steps=6` reached.", "Restored all states from the checkpoint"):
            logger.info(line)
    assert caplog.messages == ["`Trainer.fit` stopped: `max_steps=6` reached.", "Restored all states from the checkpoint"]


def test_the_summary_keeps_flops_when_lightning_counted_some(caplog):
    data = [(" ", ["0"]), ("Name", ["model"]), ("Type", ["Net"]), ("Params", ["1.0 K"]), ("Mode", ["train"]),
            ("FLOPs", ["2.0 K"])]
    with caplog.at_level(logging.INFO, logger="splinter.run.console"):
        ParameterSummary.summarize(data, 1000, 1000, 0.004, {"train": 1, "eval": 0}, total_flops=0)
        ParameterSummary.summarize(data, 1000, 1000, 0.004, {"train": 1, "eval": 0}, total_flops=2000)
    without, with_flops = caplog.messages
    assert "FLOPs" not in without and "| 2.0 K" in with_flops and "2.0 K FLOPs" in with_flops
