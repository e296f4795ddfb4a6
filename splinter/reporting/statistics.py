"""The statistics of a paired comparison (splinter.reporting.compare): intervals and a test on paired
differences. Standard library and numpy only (scipy is not a dependency).

* `t_interval`: mean ± t(0.975, n − 1) · s / √n. The t quantile is exact: `t_quantile` inverts the
  closed-form Student t distribution function for an integer number of degrees of freedom
  (Abramowitz & Stegun 26.7.3 / 26.7.4, a finite sum in cos θ, θ = atan(t / √ν)) by bisection, so no
  table and no normal approximation (which would give 1.96 instead of 2.776 for five seeds).
* `bootstrap_interval`: percentile bootstrap of the mean (resample the values with replacement, take
  the 2.5 % and 97.5 % quantiles of the resampled means, numpy's default linear interpolation), seeded.
* `sign_flip_p`: two-sided paired permutation test of "no difference": under it each difference is as
  likely to have either sign, so the p-value is the share of the 2^n sign assignments whose |sum| is at
  least the observed |sum|, enumerated exactly for n <= 10, else estimated from seeded random
  assignments as (1 + hits) / (1 + draws), which never gives 0.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

LEVEL = 0.95
BOOTSTRAP_RESAMPLES = 10_000
PERMUTATION_RESAMPLES = 100_000
EXACT_MAX = 10  # sign-flip test enumerated exactly up to 2^10 = 1024 assignments
_CHUNK = 1 << 21  # numbers drawn at a time: bounded memory for 10,000 resamples of 10,000 questions


def t_central_probability(t: float, df: int) -> float:
    """P(|T| <= t) for Student's t with `df` (integer >= 1) degrees of freedom, exactly (A&S 26.7.3/4)."""
    if df < 1 or int(df) != df:
        raise ValueError(f"degrees of freedom must be a positive integer, got {df}")
    theta = math.atan(abs(t) / math.sqrt(df))
    cos2 = math.cos(theta) ** 2
    if df % 2:  # odd: (2/π)(θ + sin θ (cos θ + 2/3 cos³θ + ... + (2·4···(ν−3))/(1·3···(ν−2)) cos^(ν−2) θ))
        if df == 1:
            return 2 * theta / math.pi
        term = total = math.cos(theta)
        for k in range(3, df - 1, 2):
            term *= (k - 1) / k * cos2
            total += term
        return 2 / math.pi * (theta + math.sin(theta) * total)
    term = total = 1.0  # even: sin θ (1 + 1/2 cos²θ + (1·3)/(2·4) cos⁴θ + ... + (1·3···(ν−3))/(2·4···(ν−2)) cos^(ν−2) θ)
    for k in range(2, df - 1, 2):
        term *= (k - 1) / k * cos2
        total += term
    return math.sin(theta) * total


def t_quantile(level: float, df: int) -> float:
    """The t such that P(|T| <= t) = level: the half-width factor of a two-sided `level` interval."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    low, high = 0.0, 1.0
    while t_central_probability(high, df) < level:
        low, high = high, high * 2
    for _ in range(200):  # bisection: 200 halvings are far below float precision
        middle = (low + high) / 2
        if middle in (low, high):
            break
        if t_central_probability(middle, df) < level:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def t_interval(values: Sequence[float], level: float = LEVEL) -> tuple[float, float] | None:
    """The t-interval of the mean; None for a single value (no spread to estimate). Equal values give
    the point itself (a zero-width interval: the data show no spread, which five seeds can do)."""
    n = len(values)
    if n < 2:
        return None
    mean = math.fsum(values) / n
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile(level, n - 1) * sd / math.sqrt(n)
    return mean - half, mean + half


def bootstrap_interval(
    values: Sequence[float], seed: int, resamples: int = BOOTSTRAP_RESAMPLES, level: float = LEVEL
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (resampled with replacement), seeded."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        raise ValueError("no values to resample")
    if np.all(data == data[0]):  # every resample has this mean: say so exactly, not up to rounding
        return float(data[0]), float(data[0])
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    per_chunk = max(1, _CHUNK // data.size)
    for start in range(0, resamples, per_chunk):
        count = min(per_chunk, resamples - start)
        means[start:start + count] = data[rng.integers(0, data.size, size=(count, data.size))].mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def sign_flip_p(
    values: Sequence[float], seed: int, exact_max: int = EXACT_MAX, resamples: int = PERMUTATION_RESAMPLES
) -> tuple[float, str]:
    """(two-sided p-value, how it was computed) of the paired sign-flip permutation test."""
    data = np.asarray(values, dtype=np.float64)
    n = data.size
    if n == 0:
        raise ValueError("no differences to test")
    observed = abs(float(data.sum()))
    # sums equal up to rounding count as "at least as large": a tie with the observed sum is a hit
    tolerance = 1e-9 * (float(np.abs(data).sum()) + 1.0)
    if n <= exact_max:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
        hits = int(np.count_nonzero(np.abs(signs @ data) >= observed - tolerance))
        return hits / len(signs), f"exact, {len(signs)} sign assignments"
    rng = np.random.default_rng(seed)
    hits = 0
    per_chunk = max(1, _CHUNK // n)
    for start in range(0, resamples, per_chunk):
        count = min(per_chunk, resamples - start)
        signs = rng.choice(np.array([1.0, -1.0]), size=(count, n))
        hits += int(np.count_nonzero(np.abs(signs @ data) >= observed - tolerance))
    return (1 + hits) / (1 + resamples), f"Monte Carlo, {resamples} random sign assignments"
