"""splinter.data.batches: dynamic padding and the length-grouped sampler."""

from __future__ import annotations

import pickle
import random

import pytest
import torch
from torch.utils.data import DataLoader

from splinter.data.batches import Collator, collate
from splinter.data.samplers import LengthGroupedSampler


def _window(n: int, question_position: int = 3, **extra) -> dict:
    return {
        "input_ids": list(range(10, 10 + n)),
        "token_type_ids": [0] * 5 + [1] * (n - 5),
        "attention_mask": [1] * (n - 1) + [0],
        "question_position": question_position,
        **extra,
    }


def test_padding_shapes_and_values():
    batch = collate([_window(11), _window(7, question_position=2)], pad_to_multiple_of=8, pad_token_id=99)
    assert set(batch) == {"input_ids", "attention_mask", "token_type_ids", "question_positions"}
    assert batch["input_ids"].shape == (2, 16) and batch["input_ids"].dtype == torch.long
    assert batch["input_ids"][0].tolist() == list(range(10, 21)) + [99] * 5
    assert batch["input_ids"][1].tolist() == list(range(10, 17)) + [99] * 9
    assert batch["attention_mask"][1].tolist() == [1] * 6 + [0] + [0] * 9
    assert batch["token_type_ids"][1].tolist() == [0] * 5 + [1] * 2 + [0] * 9
    assert batch["question_positions"].tolist() == [[3], [2]]
    assert all(t.dtype == torch.long for t in batch.values())


@pytest.mark.parametrize(
    "multiple, longest, expected", [(8, 11, 16), (8, 16, 16), (8, 17, 24), (None, 11, 11), (1, 5, 5)]
)
def test_pad_to_multiple_of(multiple, longest, expected):
    batch = collate([_window(longest), _window(5)], pad_to_multiple_of=multiple)
    assert batch["input_ids"].shape == (2, expected)


def test_training_labels_and_dropped_columns():
    features = [_window(9, start_position=4, end_position=6, example_id="a", offsets=[[0, 1]] * 9,
                        max_context=[1] * 9),
                _window(6, start_position=0, end_position=0, example_id="b", offsets=[[0, 1]] * 6,
                        max_context=[0] * 6)]
    batch = collate(features)
    assert batch["start_positions"].tolist() == [4, 0] and batch["end_positions"].tolist() == [6, 0]
    assert batch["start_positions"].shape == (2,)
    assert not {"example_id", "offsets", "max_context", "start_position"} & set(batch)


def test_window_index_for_evaluation():
    batch = collate([_window(6, window_index=17), _window(9, window_index=3)])
    assert batch["window_index"].tolist() == [17, 3] and batch["window_index"].dtype == torch.long
    assert "start_positions" not in batch


def test_collator_is_picklable_and_works_in_a_dataloader():
    collator = pickle.loads(pickle.dumps(Collator(pad_to_multiple_of=4, pad_token_id=7)))
    loader = DataLoader([_window(5), _window(6), _window(9)], batch_size=2, collate_fn=collator)
    shapes = [b["input_ids"].shape for b in loader]
    assert shapes == [(2, 8), (1, 12)]
    assert next(iter(loader))["input_ids"][0, -1].item() == 7
    with pytest.raises(ValueError):
        collate([])


_RNG = random.Random(0)
LENGTHS = [_RNG.randint(8, 384) for _ in range(1003)]


def _spread(order: list[int], batch_size: int) -> float:
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    return sum(max(LENGTHS[i] for i in b) - min(LENGTHS[i] for i in b) for b in batches) / len(batches)


def test_sampler_is_a_deterministic_permutation():
    sampler = LengthGroupedSampler(LENGTHS, batch_size=12, seed=3)
    order = list(sampler)
    assert sorted(order) == list(range(len(LENGTHS))) and len(sampler) == len(LENGTHS)
    assert list(LengthGroupedSampler(LENGTHS, batch_size=12, seed=3)) == order
    assert list(LengthGroupedSampler(LENGTHS, batch_size=12, seed=4)) != order
    restored = pickle.loads(pickle.dumps(sampler))
    assert list(restored) == order


def test_sampler_changes_with_epoch():
    sampler = LengthGroupedSampler(LENGTHS, batch_size=12, seed=3)
    epoch0 = list(sampler)
    sampler.set_epoch(1)
    epoch1 = list(sampler)
    assert epoch1 != epoch0 and sorted(epoch1) == sorted(epoch0)
    sampler.set_epoch(0)
    assert list(sampler) == epoch0


def test_sampler_groups_lengths():
    batch_size = 12
    grouped = _spread(list(LengthGroupedSampler(LENGTHS, batch_size, seed=0)), batch_size)
    shuffled = list(range(len(LENGTHS)))
    random.Random(0).shuffle(shuffled)
    assert grouped < _spread(shuffled, batch_size) / 10
    order = list(LengthGroupedSampler(LENGTHS, batch_size, seed=0))
    assert max(LENGTHS[i] for i in order[:batch_size]) == max(LENGTHS)  # longest batch first
    # 1003 = 83·12 + 7: the short batch stays last, so every DataLoader batch is one sorted group
    batches = [[LENGTHS[i] for i in order[j:j + batch_size]] for j in range(0, len(order), batch_size)]
    assert all(b == sorted(b, reverse=True) for b in batches) and len(batches[-1]) == 7


def test_sampler_without_shuffle_is_epoch_independent_and_grouped():
    sampler = LengthGroupedSampler(LENGTHS, batch_size=12, seed=0, shuffle=False)
    order = list(sampler)
    sampler.set_epoch(5)
    assert list(sampler) == order and sorted(order) == list(range(len(LENGTHS)))
    first_mega = order[:600]
    assert [LENGTHS[i] for i in first_mega] == sorted((LENGTHS[i] for i in range(600)), reverse=True)


def test_sampler_small_inputs():
    assert list(LengthGroupedSampler([], 4, seed=0)) == []
    assert sorted(LengthGroupedSampler([5, 3, 9], 4, seed=0)) == [0, 1, 2]
    # mega-batches [0, 1] [2, 3] [4], each sorted longest first
    sampler = LengthGroupedSampler([3, 5, 1, 9, 2], 2, seed=0, mega_batch_factor=1, shuffle=False)
    assert list(sampler) == [1, 0, 3, 2, 4]
