"""Paired per-seed difference between two rows of a fine-tuning sweep (e.g. RSS − MLM).

    python experiments/rss-minilm/paired.py OUT/finetune --a minilm+rss --b minilm+mlm [--out paired.md]

Both arms were fine-tuned on the same released split (dataset, shots, split seed), so the difference
is taken per split and then summarised: mean ± sample std of the differences, and the sign count
(splits where A is above B / below / equal). Only splits that both arms have are paired; the others
are listed. Reads the runs with `splinter.reporting.runs.read_sweep` (the same reader as
`python -m splinter.report`). Prints the Markdown and writes it to --out when given.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from splinter.errors import SplinterError
from splinter.reporting.runs import METRICS, read_sweep

TITLES = {"f1": "F1", "exact_match": "Exact match"}


def paired_table(root: Path, a: str, b: str) -> str:
    runs = read_sweep(root).runs
    scores: dict[tuple[str, str, int], dict[int, dict]] = defaultdict(dict)  # (model, dataset, shots) → seed → run
    for run in runs:
        if run.model in (a, b):
            cell = scores[(run.model, run.dataset, run.shots)]
            if run.split_seed in cell:
                raise SplinterError(f"{run.path}: a second run of {run.model} on split seed {run.split_seed}")
            cell[run.split_seed] = run
    columns = sorted({(dataset, shots) for (_, dataset, shots) in scores})
    if not columns:
        raise SplinterError(f"{root}: no runs of {a!r} or {b!r}")
    lines = [f"# Paired difference {a} − {b} (same split per seed)", ""]
    unpaired = []
    for metric in METRICS:
        lines += [
            f"## {TITLES[metric]}",
            "",
            "| split | seeds | per-seed difference | mean ± std | A > B / A < B / equal |",
            "|---|---|---|---|---|",
        ]
        for dataset, shots in columns:
            runs_a, runs_b = scores.get((a, dataset, shots), {}), scores.get((b, dataset, shots), {})
            seeds = sorted(set(runs_a) & set(runs_b))
            if metric == METRICS[0]:
                unpaired += [f"{name} {dataset}/{shots} seed {seed}" for name, mine, other in
                             ((a, runs_a, runs_b), (b, runs_b, runs_a)) for seed in sorted(set(mine) - set(other))]
            if not seeds:
                lines.append(f"| {dataset} / {shots} | none | - | - | - |")
                continue
            diffs = [getattr(runs_a[s], metric) - getattr(runs_b[s], metric) for s in seeds]
            std = f" ± {statistics.stdev(diffs):.1f}" if len(diffs) > 1 else ""
            signs = f"{sum(d > 0 for d in diffs)} / {sum(d < 0 for d in diffs)} / {sum(d == 0 for d in diffs)}"
            per_seed = ", ".join(f"{s}: {d:+.1f}" for s, d in zip(seeds, diffs, strict=True))
            lines.append(
                f"| {dataset} / {shots} | {len(seeds)} | {per_seed} | {statistics.mean(diffs):+.1f}{std} | {signs} |"
            )
        lines.append("")
    lines.append(f"A = {a}, B = {b}.")
    if unpaired:
        lines.append("Not paired (the other arm has no run on that split): " + "; ".join(unpaired) + ".")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path, help="the folder holding both arms' fine-tuning runs")
    parser.add_argument("--a", required=True, help="row (model.name) whose score comes first")
    parser.add_argument("--b", required=True, help="row subtracted from it")
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    args = parser.parse_args(argv)
    try:
        text = paired_table(args.sweep, args.a, args.b)
    except SplinterError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(text, end="")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_name(args.out.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
