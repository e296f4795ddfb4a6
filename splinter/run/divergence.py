"""A training loss that is not finite stops the run: the model has diverged (e.g. task.module.lr far too
high), and training on would end in an all-NaN model whose results.json reads as a valid score of 0."""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from splinter.errors import TrainingDiverged


def stop_if_diverged(module: pl.LightningModule, loss: torch.Tensor) -> None:
    """Raise TrainingDiverged (one line: the step and the loss) when `loss` is inf or nan on any rank.

    Every rank takes the same decision (one all-reduce of a flag): a rank that raised alone would leave
    the others waiting in the gradient all-reduce. The exception propagates out of `trainer.fit`, so no
    results.json is written, and InterruptedCheckpoint saves no checkpoint of the diverged weights.
    """
    finite = bool(torch.isfinite(loss.detach()).all())
    trainer = getattr(module, "_trainer", None)  # None: training_step called directly, outside a fit
    if trainer is None and finite or trainer is not None and trainer.strategy.reduce_boolean_decision(finite, all=True):
        return
    # the optimiser step this batch belongs to (1 = the first)
    step = (trainer.global_step if trainer is not None else 0) + 1
    lr = module.hparams.get("lr")
    hint = f" (task.module.lr={lr} may be too high)" if lr is not None else ""
    shown = "not finite on another rank" if finite else loss.detach().float().item()
    raise TrainingDiverged(f"training diverged at step {step}: the loss is {shown}; the run stopped and "
                           f"wrote no results{hint}")
