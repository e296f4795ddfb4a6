"""The warm-up length both training modules use (splinter.run.optim.warmup_length)."""

from __future__ import annotations

import pytest

from splinter.run.optim import warmup_length


@pytest.mark.parametrize(
    ("total", "ratio", "steps", "expected"),
    [
        (200, 0.1, None, 20),  # fine-tuning's default: 10 % of the steps
        (6, 0.1, None, 1),  # round(0.6)
        (5, 0.5, None, 2),  # round(2.5): Python rounds halves to even, as the modules always did
        (7, 0.5, None, 4),  # round(3.5)
        (2_400_000, 0.0041667, None, 10_000),  # pretraining's default: the paper's 10k of 2.4M steps
        (20, 0.0041667, None, 0),  # ... and of a 20-step run: none, not 10,000 (issue 26)
        (4, 0.5, 3, 3),  # an absolute warm-up replaces the ratio
        (4, None, 10_000, 10_000),  # warmup_length does not judge; PretrainModule refuses it (check_warmup)
    ],
)
def test_a_ratio_of_the_total_else_the_steps(total, ratio, steps, expected):
    assert warmup_length(total, ratio, steps) == expected


def test_neither_a_ratio_nor_steps_is_refused():
    with pytest.raises(ValueError, match="got neither"):
        warmup_length(100, None)
