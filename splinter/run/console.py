"""What a run prints through Lightning: every line about what the trainer did, none of its advertising.

- `quiet_lightning()`: a filter on Lightning's rank-zero logger drops the device lines (GPU/TPU
  available, used: what trainer.accelerator already says) and its 💡 tips (litlogger, litmodels).
  Its other lines (e.g. "`Trainer.fit` stopped: `max_steps=6` reached.") pass.
- `RunProgressBar`: with max_epochs=-1 a run is measured in steps, so the bar counts optimiser steps
  towards max_steps ("Training steps 6/6", not Lightning's "Epoch 0/-2"), and the evaluation bar
  says which evaluation it is ("Evaluating before fine-tuning", not "Testing").
- `ParameterSummary`: Lightning's model summary without its FLOPs column and total, which read 0
  for a module without an example_input_array (ours have none).
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig
from pytorch_lightning.callbacks import Callback, ModelSummary
from pytorch_lightning.callbacks.progress.rich_progress import RichProgressBar
from pytorch_lightning.utilities.imports import _RICH_AVAILABLE

log = logging.getLogger(__name__)

# Lightning's own logger for rank_zero_info; the messages below say nothing about this run.
LIGHTNING_LOGGER = "pytorch_lightning.utilities.rank_zero"
_DROPPED_PREFIXES = (
    "GPU available:",
    "TPU available:",
    "💡 Tip:",
    "Trainer already configured with model summary callbacks",  # ours (ParameterSummary), by design
)


class _DropLightningNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_DROPPED_PREFIXES)


def quiet_lightning() -> None:
    """Install the filter on Lightning's rank-zero logger (once)."""
    logger = logging.getLogger(LIGHTNING_LOGGER)
    if not any(isinstance(existing, _DropLightningNoise) for existing in logger.filters):
        logger.addFilter(_DropLightningNoise())


class RunProgressBar(RichProgressBar):
    def __init__(self) -> None:
        super().__init__()
        self.evaluation_label = "Evaluating"

    def _counts_steps(self) -> bool:
        trainer = self.trainer
        return trainer.max_epochs in (None, -1) and trainer.max_steps is not None and trainer.max_steps > 0

    @property
    def total_train_batches(self) -> int | float:
        return self.trainer.max_steps if self._counts_steps() else super().total_train_batches

    def _get_train_description(self, current_epoch: int) -> str:
        return "Training steps" if self._counts_steps() else super()._get_train_description(current_epoch)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        # Counting steps, one bar spans the run: Lightning's reset to 0 at every epoch would restart it.
        if self._counts_steps() and self.train_progress_bar_id is not None:
            return
        super().on_train_epoch_start(trainer, pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not self._counts_steps():
            return super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        # Lightning's bar moves to the epoch's batch index; moving it there and then on to the step count
        # made rich's speed estimate read the back-and-forth as ~200,000 it/s. One move: to the step.
        if not self.is_disabled and self.train_progress_bar_id is None:
            self._initialize_train_progress_bar_id()  # a mid-epoch resume
        self._update(self.train_progress_bar_id, trainer.global_step)
        self._update_metrics(trainer, pl_module)
        self.refresh()

    @property
    def test_description(self) -> str:
        return self.evaluation_label


class ParameterSummary(ModelSummary):
    @staticmethod
    def summarize(summary_data, total_parameters, trainable_parameters, model_size, total_training_modes,
                  total_flops, **summarize_kwargs) -> None:
        from pytorch_lightning.utilities.model_summary.model_summary import get_human_readable_count

        columns = [(name, [str(value) for value in values]) for name, values in summary_data
                   if name != "FLOPs" or total_flops]
        widths = [max(len(name), *(len(value) for value in values)) for name, values in columns]
        rows = [[name for name, _ in columns], *zip(*(values for _, values in columns), strict=True)]
        lines = [" | ".join(f"{cell:<{width}}" for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
        lines.append(
            f"{get_human_readable_count(trainable_parameters).strip()} trainable params, "
            f"{get_human_readable_count(total_parameters - trainable_parameters).strip()} non-trainable, "
            f"{model_size:.1f} MB"
            + (f", {get_human_readable_count(total_flops)} FLOPs" if total_flops else "")
        )
        log.info("model summary:\n%s", "\n".join(lines))


def console_callbacks(trainer_cfg: DictConfig) -> list[Callback]:
    """The progress bar and model summary the trainer's settings ask for (Lightning refuses a progress
    bar callback when enable_progress_bar is false), and the filter on Lightning's messages."""
    quiet_lightning()
    callbacks: list[Callback] = []
    if trainer_cfg.get("enable_progress_bar", True) and _RICH_AVAILABLE:
        callbacks.append(RunProgressBar())
    if trainer_cfg.get("enable_model_summary", True):
        callbacks.append(ParameterSummary())
    return callbacks


def label_evaluation(trainer, label: str) -> None:
    """Name the next evaluation's progress bar (e.g. "Evaluating before fine-tuning")."""
    bar = trainer.progress_bar_callback
    if isinstance(bar, RunProgressBar):
        bar.evaluation_label = label
