"""Training samplers: a resumed epoch skips exactly the batches already seen; under DDP every process
gets its slice of each global batch (splinter/data/samplers.py)."""

from __future__ import annotations

import pickle

import pytest

from splinter.data.samplers import EpochShuffleSampler, LengthGroupedSampler, RankShare

LENGTHS = [(i * 37) % 101 + 5 for i in range(23)]  # 23 windows: batches of 4 leave a short last one


def _batches(order: list[int], size: int) -> list[list[int]]:
    return [order[i:i + size] for i in range(0, len(order), size)]


@pytest.mark.parametrize("make", [
    lambda: LengthGroupedSampler(LENGTHS, batch_size=4, seed=3, mega_batch_factor=2),
    lambda: EpochShuffleSampler(len(LENGTHS), seed=3, batch_size=4),
])
def test_a_skip_drops_exactly_the_first_batches_of_the_epoch_once(make):
    sampler = make()
    sampler.set_epoch(2)
    full = list(sampler)
    assert sampler.skip_batches(4) == 4
    assert list(sampler) == full[16:]  # the rest of epoch 2, in the same order
    assert list(sampler) == full  # the next iteration starts at its first batch again
    assert sampler.skip_batches(6) == 0  # a checkpoint after the epoch's last batch: nothing to skip
    assert list(sampler) == full


def test_the_length_grouped_order_depends_only_on_seed_and_epoch():
    a, b = (LengthGroupedSampler(LENGTHS, batch_size=4, seed=3) for _ in range(2))
    a.set_epoch(1)
    list(a)  # iterating does not advance anything
    b.set_epoch(1)
    assert list(a) == list(b) == list(pickle.loads(pickle.dumps(b)))


@pytest.mark.parametrize("group", [True, False])
def test_two_processes_split_every_global_batch_and_skip_together(group):
    def sampler():
        if group:
            return LengthGroupedSampler(LENGTHS, batch_size=4, seed=0)
        return EpochShuffleSampler(len(LENGTHS), seed=0, batch_size=4)

    order = list(sampler())
    shares = [RankShare(sampler(), num_replicas=2, rank=rank) for rank in (0, 1)]
    per_rank = [_batches(list(share), 2) for share in shares]
    # 23 = 5·4 + 3: five full batches, then 3 windows padded with the epoch's first to 4
    expected = _batches(order, 4)
    expected[-1] = expected[-1] + order[:1]
    assert [a + b for a, b in zip(*per_rank, strict=True)] == expected
    assert [len(share) for share in shares] == [12, 12]

    for share in shares:
        share.set_epoch(0)
        assert share.skip_batches(3) == 3
    resumed = [_batches(list(share), 2) for share in shares]
    assert resumed == [batches[3:] for batches in per_rank]
