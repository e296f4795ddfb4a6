"""Aggregate the results of a sweep: ``python -m splinter.report <dir> [--out DIR] [--no-paper]``.

Walks ``<dir>`` (a Hydra multirun directory, any depth) for job directories (see reporting/runs.py):
``results.json`` holds at least ``model_name``, ``dataset``, ``shots``, ``split_seed``, ``exact_match``
and ``f1`` (0-100), optionally ``eval_dataset``; ``error.json`` marks a failed job. Writes into ``--out``
(default ``<dir>``):

* ``results.md``: an F1 table and an EM table. Rows: model, plus every setting that differs between
  runs of the same cell (shown in an ``overrides`` column: a training-seed sweep gives a row per seed);
  columns: dataset × shots, ``train → eval`` when a run was evaluated on another dataset's dev set.
  A ``selected`` column, when some run was not fixed, says how each row's configuration was chosen
  (fixed / kfold / multisplit / oracle: results.json's ``selection``; splinter.reporting.selection).
  A cell is ``mean ± std (n=k)`` over the split seeds (sample std), ``mean (n=1)`` for one seed,
  ``-`` without a run, ``k failed`` added when jobs of that cell failed. With ``--paper`` (the default)
  an F1 cell for which the paper publishes a number also shows it and the difference. Then the failed
  jobs with their reasons and every file not averaged in (another kind of run, a duplicate, an invalid
  file under ``--skip-invalid``). Below a study's ``optimization_results.yaml``, a "Selection" section:
  the selected run's F1 against the fixed protocol's and the best trial's (oracle), and the Spearman
  correlation of selection score and evaluation F1 over the trials. Also printed.
* ``results.csv``: long format, one line per cell and metric (``CSV_FIELDS``; ``overrides`` as
  ``key=value; ...``, ``n`` 0 and ``mean`` empty for a cell of failed jobs only, ``paper`` always filled
  where published).
* ``learning_curve.png``: F1 against the number of training examples (log2 axis), one line per row ×
  dataset; error bars (std over split seeds) only where n > 1, single-seed points labelled n=1; a
  title naming the evaluation set and its size, a subtitle with the settings all runs share, the
  before-fine-tuning score where runs recorded it (``task.evaluate_before``), y from 0.

Exit status 2 with one line: no such directory, nothing to report, or an invalid results.json /
error.json (unreadable, a key missing or of the wrong type, a score outside 0-100) unless
``--skip-invalid``, which lists it in the report instead.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from splinter.errors import SplinterError
from splinter.files import atomic_path, write_text
from splinter.reporting.cells import Cell, Column, Row, Stat, Table, build_table
from splinter.reporting.compare import write_comparison
from splinter.reporting.paper import SOURCE as PAPER_SOURCE
from splinter.reporting.paper import paper_f1
from splinter.reporting.runs import METRICS, FailedJob, SkippedFile, read_sweep
from splinter.reporting.selection import selection_section

log = logging.getLogger(__name__)

METRIC_TITLES = {"f1": "F1", "exact_match": "Exact match"}
CSV_FIELDS = (
    "model", "overrides", "dataset", "eval_dataset", "shots", "metric",
    "mean", "std", "n", "seeds", "failed", "paper", "selected",
)  # fmt: skip


def paper_number(row: Row, column: Column, metric: str) -> float | None:
    """The paper's F1 for an in-domain cell of its model; the paper reports no EM."""
    if metric != "f1" or column.eval_dataset:
        return None
    return paper_f1(row.model, column.dataset, column.shots)


# --------------------------------------------------------------------------------------------------
# Markdown and CSV.


def format_cell(cell: Cell | None, metric: str, digits: int = 1, paper: float | None = None) -> str:
    stat = cell.stat(metric) if cell is not None else None
    failed = f"{len(cell.failed)} failed" if cell is not None and cell.failed else ""
    if stat is None:
        text = f"- ({failed})" if failed else "-"
    else:
        spread = "" if stat.std is None else f" ± {stat.std:.{digits}f}"
        text = f"{stat.mean:.{digits}f}{spread} (n={stat.n}{', ' + failed if failed else ''})"
    if paper is not None:
        text += f" · paper {paper:.1f}"
        if stat is not None:
            text += f" ({stat.mean - paper:+.{digits}f})"
    return text


def markdown_table(table: Table, metric: str, digits: int = 1, paper: bool = True) -> str:
    columns = sorted({column for _, column in table})
    rows = sorted({row for row, _ in table}, key=Row.sort_key)
    with_overrides = any(row.settings for row in rows)
    with_selected = any(row.selected != "fixed" for row in rows)  # a column only when some row was selected
    header = ["model", *(["overrides"] if with_overrides else []), *(["selected"] if with_selected else []),
              *(c.label for c in columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [
            format_cell(table.get((row, c)), metric, digits, paper_number(row, c, metric) if paper else None)
            for c in columns
        ]
        texts = [row.model, *([row.overrides] if with_overrides else []),
                 *([row.selected] if with_selected else []), *cells]
        lines.append("| " + " | ".join(text.replace("|", "\\|") for text in texts) + " |")
    return "\n".join(lines)


def _failed_line(job: FailedJob) -> str:
    reason = f"{job.error_type}: {job.error}" if job.error_type else job.error
    line = f"- `{job.directory}`: {reason}"
    if job.overrides:
        line += f" (overrides: {' '.join(job.overrides)})"
    if not job.placed:
        line += " (not in the table: its config does not name the model, dataset and shots)"
    return line


def markdown_report(
    table: Table,
    failed: Sequence[FailedJob] = (),
    skipped: Sequence[SkippedFile] = (),
    digits: int = 1,
    paper: bool = True,
) -> str:
    parts = ["# Results", ""]
    for metric in METRICS:
        parts += [
            f"## {METRIC_TITLES[metric]} (mean ± sample std over split seeds)",
            "",
            markdown_table(table, metric, digits, paper),
            "",
        ]
        if paper and any(paper_number(row, column, metric) is not None for row, column in table):
            parts += [f"paper: {PAPER_SOURCE}; in brackets: this sweep minus the paper.", ""]
    if failed:
        parts += [f"## Failed jobs ({len(failed)}, not averaged in)", ""]
        parts += [_failed_line(job) for job in failed] + [""]
    if skipped:
        parts += [f"## Not included ({len(skipped)})", ""]
        parts += [f"- `{s.path}`: {s.reason}" for s in skipped] + [""]
    return "\n".join(parts)


def write_csv(table: Table, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_FIELDS)
        for metric in METRICS:
            for (row, column), cell in sorted(table.items(), key=lambda kv: (kv[0][0].sort_key(), kv[0][1])):
                st = cell.stat(metric)
                paper = paper_number(row, column, metric)
                writer.writerow(
                    [
                        row.model,
                        "; ".join(f"{k}={v}" for k, v in row.settings),
                        column.dataset,
                        column.eval_dataset,
                        column.shots,
                        metric,
                        "" if st is None else f"{st.mean:.6f}",
                        "" if st is None or st.std is None else f"{st.std:.6f}",
                        0 if st is None else st.n,
                        "" if st is None else ";".join("file" if s is None else str(s) for s in st.seeds),
                        len(cell.failed),
                        "" if paper is None else f"{paper:.1f}",
                        row.selected,
                    ]
                )


# --------------------------------------------------------------------------------------------------
# Learning curve.


@dataclass(frozen=True)
class Curve:
    label: str
    points: tuple[tuple[int, Stat], ...]  # (shots, stat), shots ascending; cells without a run left out
    before: tuple[tuple[int, Stat], ...] = ()  # the same cells scored before fine-tuning, where recorded


def learning_curves(table: Table, metric: str = "f1") -> list[Curve]:
    """One curve per row × (training dataset, evaluation dataset)."""
    lines: dict[tuple[Row, str, str], list[tuple[int, Stat]]] = defaultdict(list)
    befores: dict[tuple[Row, str, str], list[tuple[int, Stat]]] = defaultdict(list)
    for (row, column), cell in table.items():
        st = cell.stat(metric)
        if st is not None:
            lines[(row, column.dataset, column.eval_dataset)].append((column.shots, st))
        before = cell.stat(f"{metric}_before")
        if before is not None:
            befores[(row, column.dataset, column.eval_dataset)].append((column.shots, before))
    curves = []
    for key, points in sorted(lines.items(), key=lambda kv: (kv[0][0].sort_key(), kv[0][1:])):
        row, dataset, eval_dataset = key
        data = f"{dataset} → {eval_dataset}" if eval_dataset else dataset
        curves.append(Curve(f"{row.label} / {data}", tuple(sorted(points, key=lambda p: p[0])),
                            tuple(sorted(befores.get(key, []), key=lambda p: p[0]))))
    return curves


# Settings the plot's subtitle names when every run shares them: (config key, how the subtitle says it).
SHARED_SETTINGS = (
    ("model.checkpoint", "checkpoint"),
    ("task.module.lr", "lr"),
    ("data.batch_size", "batch"),
    ("data.max_seq_length", "max_seq_length"),
    ("seed", "training seed"),
)


def _span(values: Sequence) -> str | None:
    """One value, a range of numbers, or None when runs disagree otherwise or none recorded it."""
    known = sorted({v for v in values if v is not None})
    if not known or len(known) < len(set(values)):  # some runs did not record it
        return None
    if len(known) == 1:
        return str(known[0])
    return f"{known[0]}-{known[-1]}" if all(isinstance(v, int) for v in known) else None


def figure_title(table: Table, metric: str = "f1") -> tuple[str, str]:
    """(what is plotted and on which evaluation set, the settings every run shares, in lines)."""
    runs = [run for cell in table.values() for run in cell.runs]
    eval_sets = {run.eval_name for run in runs}
    questions = _span([run.num_questions for run in runs])
    where = f"the {next(iter(eval_sets))} dev set" if len(eval_sets) == 1 else "each dataset's dev set"
    title = f"{METRIC_TITLES.get(metric, metric)} after few-shot fine-tuning on {where}"
    if questions is not None:
        title += f" ({questions} questions)"
    shared = []
    models = {run.model for run in runs}
    if len(models) == 1:
        shared.append(f"model {next(iter(models))}")
    steps = _span([run.steps for run in runs])
    if steps is not None:
        shared.append(f"{steps} steps")
    for key, name in SHARED_SETTINGS:
        values = {run.settings.values.get(key, "") for run in runs}
        if len(values) == 1 and next(iter(values)) not in ("", None, "null"):
            shared.append(f"{name} {next(iter(values))}")
    shared.append("mean ± std over split seeds")
    return title, _wrap(shared, 95)


def _wrap(parts: Sequence[str], width: int) -> str:
    """Join with " · ", breaking lines between parts only (never inside "mean ± std")."""
    lines: list[str] = []
    for part in parts:
        if lines and len(lines[-1]) + 3 + len(part) <= width:
            lines[-1] += f" · {part}"
        else:
            lines.append(part)
    return "\n".join(lines)


def _limits(curves: Sequence[Curve]) -> tuple[tuple[float, float], tuple[float, float] | None]:
    """y from 0 with headroom above the highest point or bar (a 0-100 score: never a 10.0-11.0 zoom
    around one point), and x widened by a factor 1.6 each side on the log axis, so that point labels fit."""
    tops = [st.mean + (st.std or 0.0) for curve in curves for _, st in (*curve.points, *curve.before)]
    top = max(tops, default=0.0)
    y = (0.0, min(100.0, top + max(5.0, 0.15 * top)))
    shots = [s for curve in curves for s, _ in (*curve.points, *curve.before)]
    x = (min(shots) / 1.6, max(shots) * 1.6) if shots and min(shots) > 0 else None
    return y, x


def learning_curve_figure(table: Table, metric: str = "f1"):
    """The plot as a matplotlib Figure that a reader understands without the table: a title with the
    metric and the evaluation set (and its size), a subtitle with the settings all runs share, the
    before-fine-tuning score (dashed, hollow markers) where runs recorded it, and a legend. Error bars
    only where a cell has several split seeds; a single-seed point is labelled n=1 (a bar of length zero
    would claim zero variance)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5), dpi=120)
    FigureCanvasAgg(fig)  # render with Agg whatever the global backend is; no pyplot state involved
    ax = fig.add_subplot()
    curves = learning_curves(table, metric)
    all_shots: set[int] = set()
    for curve in curves:
        xs = [s for s, _ in curve.points]
        all_shots.update(xs)
        (line,) = ax.plot(xs, [st.mean for _, st in curve.points], marker="o", label=curve.label)
        spread = [(s, st) for s, st in curve.points if st.std is not None]
        if spread:
            ax.errorbar(
                [s for s, _ in spread],
                [st.mean for _, st in spread],
                yerr=[st.std for _, st in spread],
                fmt="none",
                ecolor=line.get_color(),
                capsize=3,
            )
        for s, st in curve.points:
            if st.std is None:
                ax.annotate(
                    "n=1", (s, st.mean), xytext=(4, 4), textcoords="offset points",
                    fontsize="x-small", color=line.get_color(),
                )  # fmt: skip
        if curve.before:
            all_shots.update(s for s, _ in curve.before)
            ax.plot([s for s, _ in curve.before], [st.mean for _, st in curve.before], linestyle="--",
                    marker="o", markerfacecolor="none", color=line.get_color(),
                    label=f"{curve.label}, before fine-tuning")
    if all_shots and all(s > 0 for s in all_shots):
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(all_shots), [str(s) for s in sorted(all_shots)])
    (y_limits, x_limits) = _limits(curves)
    ax.set_ylim(*y_limits)
    if x_limits is not None and ax.get_xscale() == "log":
        ax.set_xlim(*x_limits)
    ax.set_xlabel("training examples (few-shot split size, log scale)")
    ax.set_ylabel(f"{METRIC_TITLES.get(metric, metric)} (%)")
    ax.grid(True, alpha=0.3)
    title, shared = figure_title(table, metric)
    fig.suptitle(title, fontsize="medium")
    ax.set_title(shared, fontsize="small")
    if ax.lines:
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_learning_curve(table: Table, path: Path, metric: str = "f1") -> None:
    learning_curve_figure(table, metric).savefig(path, format="png")


# --------------------------------------------------------------------------------------------------
# Command line.


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m splinter.report", description=__doc__.split("\n")[0])
    p.add_argument("dir", type=Path, help="sweep directory to search for results.json / error.json files")
    p.add_argument("--out", type=Path, default=None, help="output directory (default: DIR)")
    p.add_argument("--digits", type=int, default=1, help="decimals in the Markdown tables (default 1)")
    p.add_argument(
        "--skip-invalid", action="store_true", help="list invalid results in the report instead of stopping"
    )
    p.add_argument(
        "--paper",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="show the paper's Splinter-base F1 and the difference where published (default: on)",
    )
    p.add_argument(
        "--compare", nargs=2, action="append", default=[], metavar=("A", "B"),
        help="paired comparison A − B per cell (rows by label, model or overrides such as model=roberta-base); "
        "repeatable; writes comparison.md/.csv/.png (splinter/reporting/compare.py)",
    )  # fmt: skip
    p.add_argument("--baseline", metavar="ROW", help="compare every other row against ROW (as --compare ROW_i ROW)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        sweep = read_sweep(args.dir, skip_invalid=args.skip_invalid)
    except SplinterError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    table, duplicates = build_table(sweep.runs, sweep.failed)
    skipped = [*sweep.skipped, *duplicates]
    out = args.out if args.out is not None else args.dir
    os.makedirs(out, exist_ok=True)
    text = markdown_report(table, sweep.failed, skipped, args.digits, args.paper)
    fixed_runs = [json.loads(run.path.read_text(encoding="utf-8")) for run in sweep.runs if run.selected == "fixed"]
    compared = ""  # comparison.md/.csv/.png when asked; a row that is not in the table stops here
    try:
        text += selection_section(args.dir, fixed_runs, args.digits)  # "" without a study
        if args.compare or args.baseline:
            compared = "\n" + write_comparison(table, args.compare, args.baseline, out, args.digits)
    except SplinterError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    # never a truncated report under its final name (a full disk, Ctrl-C)
    write_text(out / "results.md", text)
    with atomic_path(out / "results.csv") as tmp:
        write_csv(table, tmp)
    with atomic_path(out / "learning_curve.png") as tmp:
        plot_learning_curve(table, tmp)
    print(text + compared)
    log.info(
        "%d runs in %d cells, %d failed jobs, %d files not averaged in; wrote results.md, results.csv, "
        "learning_curve.png to %s",
        len(sweep.runs) - len(duplicates), len(table), len(sweep.failed), len(skipped), out,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
