"""Training orders that depend only on (seed, epoch) and that a resumed run can continue exactly.

A run resumed from a checkpoint written in the middle of an epoch must see the rest of that epoch's
batches, in the same order, and on every process the same share of them. `EpochOrderSampler` is the
base: each epoch's order is a function of (seed, epoch), cut into batches of `batch_size` (the global
batch), and `skip_batches` drops the batches a checkpoint already consumed. `EpochShuffleSampler`
shuffles; `LengthGroupedSampler` puts windows of similar length into the same batch. Under DDP,
`RankShare` hands each process its slice of every global batch. A stream has no indices to order:
`SkippableStreamLoader` (pretraining's `data.streaming=true`) reads the batches already consumed again
and drops them. All are plain module-level classes so that DataLoader workers and ddp_spawn can
pickle them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import DataLoader, DistributedSampler, Sampler


class EpochOrderSampler(Sampler[int]):
    """Base of the training samplers: `order()` (this epoch's full order) is for subclasses to give."""

    def __init__(self, num_items: int, batch_size: int, seed: int, shuffle: bool = True):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.num_items, self.batch_size, self.seed, self.shuffle = num_items, batch_size, seed, shuffle
        self.epoch = 0
        self._skip_batches = 0

    def order(self) -> list[int]:
        raise NotImplementedError

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def num_batches(self) -> int:
        return -(-self.num_items // self.batch_size)

    def skip_batches(self, count: int) -> int:
        """Drop the first `count` batches of the next iteration (the ones a resumed run already saw);
        returns how many will be skipped.

        A checkpoint taken after the epoch's last batch resumes at the next epoch: nothing to skip.
        """
        self._skip_batches = count if count < self.num_batches else 0
        return self._skip_batches

    def take_skip(self) -> int:
        """The batches to skip in the iteration starting now (once: the next epoch starts at its first)."""
        skip, self._skip_batches = self._skip_batches, 0
        return skip

    def __iter__(self) -> Iterator[int]:
        return iter(self.order()[self.take_skip() * self.batch_size:])

    def __len__(self) -> int:
        return self.num_items


class EpochShuffleSampler(EpochOrderSampler):
    """A seeded shuffle whose order depends only on (seed, epoch)."""

    def __init__(self, num_items: int, seed: int, batch_size: int, shuffle: bool = True):
        super().__init__(num_items, batch_size, seed, shuffle)

    def order(self) -> list[int]:
        if not self.shuffle:
            return list(range(self.num_items))
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(self.num_items, generator=generator).tolist()


class LengthGroupedSampler(EpochOrderSampler):
    """Indices ordered so that consecutive `batch_size` chunks hold windows of similar length.

    Per epoch: permute the indices (seeded by seed + epoch), cut the permutation into mega-batches of
    `mega_batch_factor × batch_size`, sort each by length (longest first) and cut it into batches,
    then shuffle the order of the batches, except that the batch with the longest window goes first
    so that an out-of-memory error shows up at the first step rather than hours later. Without
    `shuffle` the same grouping is applied to 0..n-1 and the batch order kept (deterministic, epoch
    independent). Call `set_epoch` each epoch (Lightning does) for a new order. Every batch but the
    last is full, so skipping k batches on resume skips exactly k × batch_size indices.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int, shuffle: bool = True,
                 mega_batch_factor: int = 50):
        if batch_size < 1 or mega_batch_factor < 1:
            raise ValueError(
                f"batch_size and mega_batch_factor must be >= 1, got {batch_size}, {mega_batch_factor}"
            )
        self.lengths = torch.as_tensor(list(lengths), dtype=torch.long)
        super().__init__(len(self.lengths), batch_size, seed, shuffle)
        self.mega_batch_factor = mega_batch_factor

    def order(self) -> list[int]:
        return self.indices().tolist()

    def indices(self) -> torch.Tensor:
        """This epoch's order as a tensor (a permutation of 0..n-1)."""
        n = len(self.lengths)
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        mega = self.batch_size * self.mega_batch_factor
        batches: list[torch.Tensor] = []
        for chunk in order.split(mega):
            # stable sort: equal lengths keep their (random) order
            by_length = chunk[torch.sort(self.lengths[chunk], descending=True, stable=True).indices]
            batches.extend(by_length.split(self.batch_size))
        if not self.shuffle or len(batches) < 2:
            return torch.cat(batches) if batches else order
        # Only the very last batch can be short; it stays last so that every other batch boundary of
        # the DataLoader falls on a group boundary.
        short = [batches.pop()] if len(batches[-1]) < self.batch_size else []
        batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        if batches:
            longest = max(range(len(batches)), key=lambda i: int(self.lengths[batches[i][0]]))
            batches.insert(0, batches.pop(longest))
        return torch.cat(batches + short)


class RankShare(DistributedSampler):
    """Process `rank`'s slice of every global batch of `sampler`, under DDP with `num_replicas` processes.

    Global batch i of the sampler (`sampler.batch_size` windows) is cut into `num_replicas` equal
    slices, one per process, so that an optimiser step sees exactly the windows of one process's step.
    A last, short batch that does not split evenly is filled up with the epoch's first windows (as
    DistributedSampler pads), fewer than `num_replicas` of them. Skipping k batches on resume skips k
    global batches, so every process continues where it stopped.

    It is a DistributedSampler so that Lightning uses it as it is: for any other sampler Lightning
    substitutes its DistributedSamplerWrapper, which reshuffles the whole epoch's positions with a seed
    of its own and deals them out round-robin, so that a step's windows would be no batch of the
    sampler (length groups broken up) and a resumed run could not skip the batches it saw.
    """

    def __init__(self, sampler: EpochOrderSampler, num_replicas: int, rank: int):
        if sampler.batch_size % num_replicas:
            raise ValueError(f"a global batch of {sampler.batch_size} does not split over {num_replicas} processes")
        super().__init__(range(sampler.num_items), num_replicas=num_replicas, rank=rank, shuffle=False)
        self.sampler = sampler

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.sampler.set_epoch(epoch)

    def skip_batches(self, count: int) -> int:
        return self.sampler.skip_batches(count)

    def _slices(self, order: list[int], skip: int) -> Iterator[list[int]]:
        size = self.sampler.batch_size
        for start in range(skip * size, len(order), size):
            batch = order[start:start + size]
            batch += order[: -len(batch) % self.num_replicas]  # an uneven last batch: padded
            share = len(batch) // self.num_replicas
            yield batch[self.rank * share:(self.rank + 1) * share]

    def __iter__(self) -> Iterator[int]:
        skip = self.sampler.take_skip()
        return (index for piece in self._slices(self.sampler.order(), skip) for index in piece)

    def __len__(self) -> int:
        return sum(len(piece) for piece in self._slices(list(range(self.sampler.num_items)), 0))


class SkippableStreamLoader(DataLoader):
    """A DataLoader over a training stream (pretraining's `data.streaming=true`) that a run resumed
    mid-epoch continues exactly: `skip_batches(k)` drops the first k batches of the next iteration.

    They are read, masked and collated as before and dropped in the main process, so what follows
    them is what the uninterrupted run saw: the masking seed of a passage (its index in the stream)
    and the shuffle buffer are untouched, and with several workers, which take turns by batch, the
    turn order too. The skip must be set before the iterator is created: Lightning fetches a stream's
    first batch ahead, when it builds the loader's iterator (see `PretrainDataModule.resume_stream`).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._skip_batches = 0

    def skip_batches(self, count: int) -> int:
        self._skip_batches = count
        return count

    def __iter__(self):
        iterator = super().__iter__()
        skip, self._skip_batches = self._skip_batches, 0
        # A checkpoint from the end of an epoch: the stream ends while skipping and the epoch is empty.
        for _ in itertools.islice(iterator, skip):
            pass
        return iterator
