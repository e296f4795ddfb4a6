"""Placing runs into the table: which settings define a row, which runs are duplicates, cell statistics.

A cell is (row, column). The column is (training dataset, evaluation dataset, shots). The row is the
model plus every setting that was swept: a config key is row-defining when two jobs with the same
(model, column) hold different values for it. The split seed (``data.seed``) is the one dimension a
cell averages over, as the paper averages over its five released splits. The training ``seed`` is an
ordinary setting: a sweep over it gives one row per training seed, each averaged over split seeds, so
the table shows the spread due to the training seed instead of folding it into the split-seed std.

Comparing two jobs: when both have a whole config, a key that one lacks differs; a key that only a
partial config (overrides.yaml, or no config at all) lacks is unknown and compared with nothing.
Runs that still share (row, column, split seed) are duplicates: the newest is kept and the report says
so and why (identical resolved configs, or configs too incomplete to tell them apart).
"""

from __future__ import annotations

import logging
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from splinter.reporting.runs import CELL_KEYS, FailedJob, RunResult, Settings, SkippedFile

log = logging.getLogger("splinter.reporting.report")

UNSET = "unset"  # a whole config that lacks the key
UNKNOWN = "?"  # a partial config that does not say


@dataclass(frozen=True, order=True)
class Column:
    dataset: str
    eval_dataset: str  # "" when evaluated on the training dataset's own dev set
    shots: int

    @property
    def label(self) -> str:
        data = f"{self.dataset} → {self.eval_dataset}" if self.eval_dataset else self.dataset
        return f"{data} / {self.shots}"


@dataclass(frozen=True, order=True)
class Row:
    model: str
    settings: tuple[tuple[str, str], ...]  # (key, value) of every row-defining key, sorted by key
    selected: str = "fixed"  # how the row's configuration was chosen (splinter.reporting.selection)

    @property
    def overrides(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.settings)

    @property
    def label(self) -> str:
        label = f"{self.model} [{self.overrides}]" if self.settings else self.model
        return label if self.selected == "fixed" else f"{label} ({self.selected})"

    def sort_key(self) -> tuple:
        """Model, then values, numbers by value (seed=2 before seed=10)."""

        def value(text: str) -> tuple:
            try:
                return (0, float(text), "")
            except ValueError:
                return (1, 0.0, text)

        return (self.model, tuple((key, value(text)) for key, text in self.settings), self.selected)


@dataclass(frozen=True)
class Stat:
    mean: float
    std: float | None  # None when n == 1
    n: int
    seeds: tuple[int, ...]


@dataclass
class Cell:
    runs: list[RunResult]
    failed: list[FailedJob]

    def stat(self, metric: str) -> Stat | None:
        if not self.runs:
            return None
        # a run that did not record the metric (f1_before without task.evaluate_before) is left out
        runs = sorted((r for r in self.runs if getattr(r, metric) is not None),
                      key=lambda r: (r.split_seed is not None, r.split_seed or 0))
        if not runs:
            return None
        values = [getattr(r, metric) for r in runs]
        std = statistics.stdev(values) if len(values) > 1 else None
        return Stat(statistics.fmean(values), std, len(values), tuple(r.split_seed for r in runs))


Job = RunResult | FailedJob
Table = dict[tuple[Row, Column], Cell]


def column_of(job: Job) -> Column:
    return Column(job.dataset, job.eval_dataset or "", job.shots)


def row_keys(jobs: Iterable[Job]) -> list[str]:
    """The keys whose values differ between two jobs of the same (model, column)."""
    groups: dict[tuple[str, Column], list[Job]] = defaultdict(list)
    for job in jobs:
        groups[(job.model, column_of(job))].append(job)
    keys: set[str] = set()
    for group in groups.values():
        candidates = set().union(*(j.settings.values for j in group)) - CELL_KEYS - keys
        whole = [j.settings.values for j in group if j.settings.complete]
        for key in candidates:
            known = {j.settings.values.get(key) for j in group} - {None}
            in_whole = {v.get(key, UNSET) for v in whole} - {None}  # a lacking key is unset in a whole config
            if len(known) > 1 or len(in_whole) > 1:
                keys.add(key)
    return sorted(keys)


def setting(settings: Settings, key: str) -> str:
    """The value of ``key`` as a row shows it: unset (a whole config lacks it) or ? (not known)."""
    if key not in settings.values:
        return UNSET if settings.complete else UNKNOWN
    value = settings.values[key]
    return UNKNOWN if value is None else value


def row_of(job: Job, keys: Sequence[str]) -> Row:
    return Row(job.model, tuple((key, setting(job.settings, key)) for key in keys), job.selected)


def build_table(runs: Sequence[RunResult], failed: Sequence[FailedJob]) -> tuple[Table, list[SkippedFile]]:
    """Cells of every run and placed failed job; the duplicates that were set aside."""
    placed = [f for f in failed if f.placed]
    keys = row_keys([*runs, *placed])
    by_seed: dict[tuple[Row, Column, int | None], list[RunResult]] = defaultdict(list)
    for run in runs:
        by_seed[(row_of(run, keys), column_of(run), run.split_seed)].append(run)
    table: Table = {}
    duplicates: list[SkippedFile] = []
    for (row, column, seed), same in sorted(by_seed.items(), key=lambda kv: str(kv[0])):
        same.sort(key=lambda r: (r.mtime, str(r.path)))
        kept = same[-1]
        for older in same[:-1]:
            why = _why_duplicate(older, kept)
            log.warning(
                "duplicate run %s, %s, split seed %s: keeping %s (newest), ignoring %s (%s)",
                row.label,
                column.label,
                seed,
                kept.path,
                older.path,
                why,
            )
            duplicates.append(SkippedFile(older.path, f"duplicate of {kept.path} (newer): {why}"))
        table.setdefault((row, column), Cell([], [])).runs.append(kept)
    for job in placed:
        table.setdefault((row_of(job, keys), column_of(job)), Cell([], [])).failed.append(job)
    return table, duplicates


def _why_duplicate(a: RunResult, b: RunResult) -> str:
    if a.settings.complete and b.settings.complete and a.settings.values == b.settings.values:
        return f"identical resolved configs ({a.settings.source})"
    sources = sorted({s.source or "no config" for s in (a.settings, b.settings)})
    return f"the same run as far as its config tells ({', '.join(sources)})"
