"""Exact mid-epoch resumption.

Lightning restores model, optimiser, scheduler and loop counters from a checkpoint, but a checkpoint
written mid-epoch (Ctrl-C, a crash, a periodic save) restarts the epoch's data from its first batch and
does not restore the random state that drives dropout. Both matter for a 200-step few-shot run: the
resumed run would see a different data order and different dropout masks, and so finish with different
metrics. The training samplers (`splinter.data.samplers`: shuffled or grouped by length, and under
DDP each process's `RankShare` of them) derive each epoch's order from (seed, epoch) and can skip the
batches already consumed; `ResumeState` records the consumed-batch count and the RNG state at the last
completed step (under DDP, every process's) and puts both back on load. A sampler that cannot skip
stops the run with one line (`InexactResume`) rather than resuming with another data order.
Pretraining uses the same: `EpochShuffleSampler` for a map-style corpus, `SkippableStreamLoader` for
a streamed one (`skipper` finds which of the two a DataLoader has); its masks are fixed per passage.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Sampler

from splinter.errors import SplinterError


class InexactResume(SplinterError):
    """A checkpoint cannot be continued exactly where it stopped."""


def _world() -> tuple[int, int]:
    """(rank, number of processes) of this process; (0, 1) outside DDP."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def skipper(dataloader: DataLoader | None):
    """What skips a resumed epoch's first batches: a loader that can (a stream's,
    `splinter.data.samplers.SkippableStreamLoader`) itself, any other its sampler."""
    if callable(getattr(dataloader, "skip_batches", None)):
        return dataloader
    return getattr(dataloader, "sampler", None)


def _rng_snapshot() -> dict:
    # Only tensors and plain Python values, so checkpoints still load with torch.load(weights_only=True).
    name, keys, position, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": (name, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached),
        "python": random.getstate(),
    }
    # On a GPU dropout draws from the CUDA generator of this process's device, not the CPU one.
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def _rng_restore(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    # A checkpoint written on the CPU has no CUDA state; one written on a GPU and resumed on a CPU
    # has no generator to give it to (its dropout draws from the CPU generator restored above).
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])
    name, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    random.setstate(state["python"])


@contextmanager
def rng_untouched() -> Iterator[None]:
    """Whatever runs inside (an evaluation before fine-tuning: its DataLoader iterator draws a base
    seed from the global torch RNG) leaves the python, numpy, torch and CUDA random streams as it found
    them, so training's dropout masks and data order are those of a run that did not run it."""
    state = _rng_snapshot()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    try:
        yield
    finally:
        _rng_restore(state)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


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
        skip is applied here; a sampler without `skip_batches` would restart the epoch with batches
        already trained on, so that stops the run instead.
        """
        pending, self._pending_skip = self._pending_skip, 0
        if not pending:
            return
        self.batches_in_epoch = pending  # kept, should the checkpoint be written again on the way out
        skip = getattr(sampler, "skip_batches", None)
        if not callable(skip):
            raise InexactResume(
                f"cannot resume in the middle of an epoch exactly: the training sampler "
                f"({type(sampler).__name__}) cannot skip the {pending} batches the checkpoint already trained on"
            )
        self.batches_in_epoch = skip(pending)

    def nothing_to_skip(self) -> None:
        """The checkpoint was written after the last batch of its epoch (known to the caller: a stream's
        length is not), so the run goes on with the next epoch from its first batch."""
        self._pending_skip = 0

    def epoch_started(self) -> None:
        self.batches_in_epoch = 0

    def batch_finished(self) -> None:
        # Called at the end of training_step: the forward pass has drawn its dropout masks and nothing
        # after it (backward, optimiser step) draws random numbers. Callbacks that checkpoint in
        # on_train_batch_end therefore see a count and RNG state that match the step they save.
        self.batches_in_epoch += 1
        self.rng = _rng_snapshot()

    def save(self, checkpoint: dict) -> None:
        """Called on every process (Lightning builds the checkpoint everywhere, rank 0 writes it); under
        DDP each process's RNG state is gathered, since each draws its own dropout masks."""
        _, world = _world()
        states = [self.rng]
        if world > 1:
            states = [None] * world
            dist.all_gather_object(states, self.rng)
        checkpoint[self.KEY] = {"batches_in_epoch": self.batches_in_epoch, "rng": states[0], "rng_by_rank": states}

    def load(self, checkpoint: dict) -> None:
        state = checkpoint.get(self.KEY)
        if state is None:
            return
        rank, world = _world()
        states = state.get("rng_by_rank") or [state["rng"]]
        if len(states) != world:
            raise InexactResume(f"cannot resume exactly: the checkpoint was written by {len(states)} processes "
                                f"(their random states), this run has {world}")
        _rng_restore(states[rank])
        self.rng = states[rank]
        self._pending_skip = state["batches_in_epoch"]
