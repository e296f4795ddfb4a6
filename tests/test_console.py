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


def test_the_step_bar_only_moves_forward_across_epochs():
    """Counting steps over several epochs, the bar's completed count goes 1, 2, ... max_steps and never
    back: moving it to the epoch's batch index first (and resetting it at each epoch) made rich read the
    back-and-forth as a speed of ~200,000 it/s."""
    import pytorch_lightning as pl
    import torch

    from splinter.run.console import RunProgressBar

    class Recording(RunProgressBar):
        def __init__(self):
            super().__init__()
            self.seen = []

        def _init_progress(self, trainer):
            super()._init_progress(trainer)
            update, reset = self.progress.update, self.progress.reset

            def recorded_update(task, completed=None, **kwargs):
                if task == self.train_progress_bar_id and completed is not None:
                    self.seen.append(completed)
                return update(task, completed=completed, **kwargs)

            def recorded_reset(task, **kwargs):
                if task == self.train_progress_bar_id:
                    self.seen.append(kwargs.get("completed", 0))
                return reset(task, **kwargs)

            self.progress.update, self.progress.reset = recorded_update, recorded_reset

    class Linear(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch, batch_idx):
            return self.layer(batch[0]).pow(2).mean()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(10, 2)), batch_size=1)
    bar = Recording()
    trainer = pl.Trainer(max_steps=25, max_epochs=-1, callbacks=[bar], logger=False, enable_checkpointing=False,
                         enable_model_summary=False, accelerator="cpu")
    trainer.fit(Linear(), data)
    assert bar.seen == list(range(1, 26))
