"""Aggregate the results of a sweep: ``python -m splinter.report <dir> [--out DIR]``.

Walks ``<dir>`` (a Hydra multirun directory, any depth) for ``results.json`` files, each holding at least
``model_name`` (str), ``dataset`` (str), ``shots`` (int), ``split_seed`` (int), ``exact_match`` and ``f1``
(numbers, 0-100); other keys are ignored. Writes into ``--out`` (default ``<dir>``):

* ``results.md``: an F1 table and an EM table, one row per model, one column per dataset × shots
  (datasets alphabetically, shots numerically); a cell is ``mean ± std (n=k)`` over the split seeds,
  sample std (ddof=1), ``mean (n=1)`` for a single seed, ``-`` when there is no run. Also printed.
* ``results.csv``: long format ``model,dataset,shots,metric,mean,std,n,seeds`` (std empty when n=1,
  seeds ``;``-separated, ascending).
* ``learning_curve.png``: F1 against the number of training examples (log2 axis), one line per
  model × dataset, error bars = std over seeds.

Choices:

* Two files for the same (model, dataset, shots, split_seed), e.g. a failed seed re-run into the same
  tree: the newest file (mtime; ties: the later path) is kept and a warning names both. Averaging them
  would silently count a seed twice.
* A results.json that cannot be read or lacks a required key is an error (exit 2) naming the file;
  ``--skip-invalid`` turns that into a warning and skips the file.
* No results.json under ``<dir>`` (or no such directory): a one-line error, exit status 2.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import os
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from splinter.errors import DataError, SplinterError

log = logging.getLogger(__name__)

RESULTS_FILE = "results.json"
METRICS = ("f1", "exact_match")
METRIC_TITLES = {"f1": "F1", "exact_match": "Exact match"}
CSV_FIELDS = ("model", "dataset", "shots", "metric", "mean", "std", "n", "seeds")


@dataclass(frozen=True)
class Result:
    model: str
    dataset: str
    shots: int
    seed: int
    exact_match: float
    f1: float
    path: Path
    mtime: float


@dataclass(frozen=True)
class Stat:
    mean: float
    std: float | None  # None when n == 1
    n: int
    seeds: tuple[int, ...]


Key = tuple[str, str, int]  # model, dataset, shots


# --------------------------------------------------------------------------------------------------
# Reading.


def find_result_files(root: Path) -> list[Path]:
    if not root.is_dir():
        raise SplinterError(f"{root}: not a directory")
    return sorted(root.rglob(RESULTS_FILE))


def _as_int(path: Path, data: dict, key: str) -> int:
    value = data[key]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataError(path, f"'{key}' must be an integer, got {value!r}")
    return value


def _as_float(path: Path, data: dict, key: str) -> float:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DataError(path, f"'{key}' must be a finite number, got {value!r}")
    return float(value)


def _as_str(path: Path, data: dict, key: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not value:
        raise DataError(path, f"'{key}' must be a non-empty string, got {value!r}")
    return value


def load_result(path: Path) -> Result:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(path, f"cannot read results: {err}") from None
    if not isinstance(data, dict):
        raise DataError(path, "results must be a JSON object")
    missing = [k for k in ("model_name", "dataset", "shots", "split_seed", *METRICS) if k not in data]
    if missing:
        raise DataError(path, f"missing key(s): {', '.join(missing)}")
    return Result(
        model=_as_str(path, data, "model_name"),
        dataset=_as_str(path, data, "dataset"),
        shots=_as_int(path, data, "shots"),
        seed=_as_int(path, data, "split_seed"),
        exact_match=_as_float(path, data, "exact_match"),
        f1=_as_float(path, data, "f1"),
        path=path,
        mtime=path.stat().st_mtime,
    )


def load_results(root: Path, skip_invalid: bool = False) -> list[Result]:
    """Every valid results.json under ``root``, duplicates resolved (see module doc)."""
    files = find_result_files(root)
    if not files:
        raise SplinterError(f"{root}: no {RESULTS_FILE} found")
    results: list[Result] = []
    for path in files:
        try:
            results.append(load_result(path))
        except DataError as err:
            if not skip_invalid:
                raise
            log.warning("skipping %s", err)
    if not results:
        raise SplinterError(f"{root}: no valid {RESULTS_FILE} found ({len(files)} skipped)")
    return deduplicate(results)


def deduplicate(results: Iterable[Result]) -> list[Result]:
    """One result per (model, dataset, shots, seed): the newest by mtime, then by path."""
    kept: dict[tuple[str, str, int, int], Result] = {}
    for r in sorted(results, key=lambda r: (r.mtime, str(r.path))):
        key = (r.model, r.dataset, r.shots, r.seed)
        if key in kept:
            log.warning(
                "duplicate run %s/%s/%d shots/seed %d: keeping %s (newer), ignoring %s",
                *key,
                r.path,
                kept[key].path,
            )
        kept[key] = r
    return list(kept.values())


# --------------------------------------------------------------------------------------------------
# Aggregation and formatting.


def aggregate(results: Iterable[Result]) -> dict[str, dict[Key, Stat]]:
    """metric → (model, dataset, shots) → mean/std over split seeds."""
    groups: dict[Key, list[Result]] = defaultdict(list)
    for r in results:
        groups[(r.model, r.dataset, r.shots)].append(r)
    out: dict[str, dict[Key, Stat]] = {m: {} for m in METRICS}
    for key, rs in groups.items():
        rs.sort(key=lambda r: r.seed)
        seeds = tuple(r.seed for r in rs)
        for metric in METRICS:
            values = [getattr(r, metric) for r in rs]
            std = statistics.stdev(values) if len(values) > 1 else None
            out[metric][key] = Stat(statistics.fmean(values), std, len(values), seeds)
    return out


def format_cell(stat: Stat | None, digits: int = 1) -> str:
    if stat is None:
        return "-"
    if stat.std is None:
        return f"{stat.mean:.{digits}f} (n={stat.n})"
    return f"{stat.mean:.{digits}f} ± {stat.std:.{digits}f} (n={stat.n})"


def _columns(stats: dict[Key, Stat]) -> list[tuple[str, int]]:
    return sorted({(dataset, shots) for _, dataset, shots in stats})


def markdown_table(stats: dict[Key, Stat], digits: int = 1) -> str:
    columns = _columns(stats)
    models = sorted({model for model, _, _ in stats})
    header = ["model", *(f"{dataset} / {shots}" for dataset, shots in columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for model in models:
        cells = [format_cell(stats.get((model, d, s)), digits) for d, s in columns]
        lines.append("| " + " | ".join([model, *cells]) + " |")
    return "\n".join(lines)


def markdown_report(by_metric: dict[str, dict[Key, Stat]], digits: int = 1) -> str:
    parts = ["# Results", ""]
    for metric in METRICS:
        parts += [
            f"## {METRIC_TITLES[metric]} (mean ± sample std over split seeds)",
            "",
            markdown_table(by_metric[metric], digits),
            "",
        ]
    return "\n".join(parts)


def write_csv(by_metric: dict[str, dict[Key, Stat]], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_FIELDS)
        for metric in METRICS:
            for (model, dataset, shots), st in sorted(by_metric[metric].items()):
                writer.writerow(
                    [
                        model,
                        dataset,
                        shots,
                        metric,
                        f"{st.mean:.6f}",
                        "" if st.std is None else f"{st.std:.6f}",
                        st.n,
                        ";".join(map(str, st.seeds)),
                    ]
                )


def plot_learning_curve(stats: dict[Key, Stat], path: Path, metric: str = "f1") -> None:
    """F1 (or another metric's stats) against shots, log2 x axis, one line per model × dataset."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5), dpi=120)
    FigureCanvasAgg(fig)  # render with Agg whatever the global backend is; no pyplot state involved
    ax = fig.add_subplot()
    lines: dict[tuple[str, str], list[tuple[int, Stat]]] = defaultdict(list)
    for (model, dataset, shots), st in stats.items():
        lines[(model, dataset)].append((shots, st))
    all_shots: set[int] = set()
    for (model, dataset), points in sorted(lines.items()):
        points.sort(key=lambda p: p[0])
        xs = [s for s, _ in points]
        all_shots.update(xs)
        ax.errorbar(
            xs,
            [st.mean for _, st in points],
            yerr=[st.std or 0.0 for _, st in points],
            marker="o",
            capsize=3,
            label=f"{model} / {dataset}",
        )
    if all(s > 0 for s in all_shots):
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(all_shots), [str(s) for s in sorted(all_shots)])
    ax.set_xlabel("training examples")
    ax.set_ylabel(METRIC_TITLES.get(metric, metric))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, format="png")


# --------------------------------------------------------------------------------------------------
# Command line.


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m splinter.report", description=__doc__.split("\n")[0])
    p.add_argument("dir", type=Path, help="sweep directory to search for results.json files")
    p.add_argument("--out", type=Path, default=None, help="output directory (default: DIR)")
    p.add_argument("--digits", type=int, default=1, help="decimals in the Markdown tables (default 1)")
    p.add_argument("--skip-invalid", action="store_true", help="warn about and skip unreadable results")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        results = load_results(args.dir, skip_invalid=args.skip_invalid)
    except SplinterError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = args.out if args.out is not None else args.dir
    os.makedirs(out, exist_ok=True)
    by_metric = aggregate(results)
    text = markdown_report(by_metric, args.digits)
    (out / "results.md").write_text(text, encoding="utf-8")
    write_csv(by_metric, out / "results.csv")
    plot_learning_curve(by_metric["f1"], out / "learning_curve.png")
    print(text)
    log.info("%d runs aggregated; wrote results.md, results.csv, learning_curve.png to %s", len(results), out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
