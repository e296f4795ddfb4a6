"""Exact mid-epoch resumption.

Lightning restores model, optimiser, scheduler and loop counters from a checkpoint, but a checkpoint
written mid-epoch (Ctrl-C, a crash, a periodic save) restarts the epoch's data from its first batch and
does not restore the random state that drives dropout. Both matter for a 200-step few-shot run: the
resumed run would see a different data order and different dropout masks, and so finish with different
metrics. `splinter.data.batches.EpochShuffleSampler` derives each epoch's order from (seed, epoch) and can skip the batches
already consumed; `ResumeState` records the consumed-batch count and the RNG state at the last completed
step and puts both back on load.
"""

from __future__ import annotations

import random

import numpy as np
import torch
from torch.utils.data import Sampler

from splinter.data.batches import EpochShuffleSampler


def _rng_snapshot() -> dict:
    # Only tensors and plain Python values, so checkpoints still load with torch.load(weights_only=True).
    name, keys, position, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy": (name, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached),
        "python": random.getstate(),
    }


def _rng_restore(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    random.setstate(state["python"])


class ResumeState:
    """Tracks what a mid-epoch checkpoint needs; owned by the LightningModule (see QAModule hooks).

    Lightning restores a checkpoint before it builds the training dataloader, so the number of batches
    to skip is held back until training starts (`training_started`), when the sampler exists.
    """

    KEY = "splinter_resume"

    def __init__(self) -> None:
        self.batches_in_epoch = 0
        self.rng = _rng_snapshot()
        self._pending_skip = 0

    def training_started(self, sampler: Sampler | None) -> None:
        """Once per fit, after the checkpoint (if any) was restored and the dataloader built.

        Lightning does not call on_train_epoch_start for an epoch it resumes in the middle, so the
        skip is applied here. Under DDP Lightning swaps in its DistributedSampler, which cannot skip:
        the resumed epoch then starts over (documented limitation).
        """
        pending, self._pending_skip = self._pending_skip, 0
        if isinstance(sampler, EpochShuffleSampler):
            self.batches_in_epoch = sampler.skip_batches(pending)

    def epoch_started(self) -> None:
        self.batches_in_epoch = 0

    def batch_finished(self) -> None:
        # Called at the end of training_step: the forward pass has drawn its dropout masks and nothing
        # after it (backward, optimiser step) draws random numbers. Callbacks that checkpoint in
        # on_train_batch_end therefore see a count and RNG state that match the step they save.
        self.batches_in_epoch += 1
        self.rng = _rng_snapshot()

    def save(self, checkpoint: dict) -> None:
        checkpoint[self.KEY] = {"batches_in_epoch": self.batches_in_epoch, "rng": self.rng}

    def load(self, checkpoint: dict) -> None:
        state = checkpoint.get(self.KEY)
        if state is None:
            return
        _rng_restore(state["rng"])
        self.rng = state["rng"]
        self._pending_skip = state["batches_in_epoch"]
