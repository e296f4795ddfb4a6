"""How runs were selected, and the "Selection" section of a report over Optuna studies.

A run's results.json says how its configuration was chosen (`selection`, see splinter.selection):
absent → "fixed" (the config as given, e.g. the paper's protocol), "kfold" / "multisplit" (scored on held-out
training questions), "oracle" (`selection.oracle=true`: chosen on the evaluation set).

A study (`optimization_results.yaml`, splinter.selection.study) lists its trials and the run that
trained the best one on all K questions. The section compares, per study: the selected run's evaluation
F1; the fixed protocol's (runs marked fixed in the same report, same model, dataset, shots and split);
the best evaluation F1 among the trials (the oracle; needs `hydra.sweeper.evaluate_trials=true`) with the
gap; and the Spearman correlation between selection score and evaluation F1 over the trials.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import yaml

from splinter.errors import DataError

STUDY_FILE = "optimization_results.yaml"


def selection_label(results: dict) -> str:
    selection = results.get("selection")
    if not isinstance(selection, dict):
        return "fixed"
    if selection.get("oracle"):
        return "oracle"
    return str(selection.get("method") or "fixed")


def _ranks(values: Sequence[float]) -> list[float]:
    """Ranks from 1, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Spearman's rank correlation (Pearson on tie-averaged ranks); None when undefined (fewer than 3
    pairs, or one side constant)."""
    if len(xs) != len(ys) or len(xs) < 3:
        return None
    rx, ry = _ranks(xs), _ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sxx, syy = sum((a - mx) ** 2 for a in rx), sum((b - my) ** 2 for b in ry)
    return None if sxx == 0 or syy == 0 else sxy / math.sqrt(sxx * syy)


def _results(directory, study_dir: Path) -> dict | None:
    """The run's results.json; a sweep directory that was moved or copied (e.g. committed under
    experiments/) finds its runs beside optimization_results.yaml, under the same folder names."""
    if not directory:
        return None
    path = Path(str(directory)) / "results.json"
    if not path.is_file():
        path = study_dir / Path(str(directory)).name / "results.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(path, f"cannot read results: {err}") from None


def _cell(results: dict) -> tuple:
    return (results.get("model_name"), results.get("dataset"), results.get("eval_dataset"), results.get("shots"),
            results.get("split_seed"))


def _fixed_f1(final: dict, fixed_runs: Sequence[dict]) -> list[float]:
    return [r["f1"] for r in fixed_runs if _cell(r) == _cell(final)]


def study_rows(root: Path, fixed_runs: Sequence[dict]) -> list[dict]:
    """One row per study below `root`: its name and the numbers the section shows (None: not known)."""
    rows = []
    for path in sorted(root.rglob(STUDY_FILE)):
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as err:
            raise DataError(path, f"cannot read study results: {err}") from None
        for study in document.get("studies") or []:
            final = _results((study.get("final_run") or {}).get("output_dir"), path.parent)
            pairs = []  # (selection score, evaluation F1) of the trials evaluated
            for trial in study.get("trials") or []:
                evaluated = _results(trial.get("output_dir"), path.parent) if trial.get("state") == "complete" else None
                if evaluated is not None and trial.get("selection_score") is not None:
                    pairs.append((float(trial["selection_score"]), float(evaluated["f1"])))
            fixed = _fixed_f1(final, fixed_runs) if final else []
            selected = final["f1"] if final else None
            oracle = max((f1 for _, f1 in pairs), default=None)
            rows.append({
                "study": f"{path.parent.name}/{study.get('study')}",
                "label": selection_label(final) if final else ("oracle" if study.get("oracle") else "-"),
                "trials": len(study.get("trials") or []),
                "selection_score": study.get("best_selection_score"),
                "selected_f1": selected,
                "fixed_f1": sum(fixed) / len(fixed) if fixed else None,
                "oracle_f1": oracle,
                "gap": None if oracle is None or selected is None else oracle - selected,
                "spearman": spearman([a for a, _ in pairs], [b for _, b in pairs]),
                "evaluated_trials": len(pairs),
            })
    return rows


def _number(value, digits: int, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def selection_section(root: Path, fixed_runs: Sequence[dict], digits: int = 1) -> str:
    """The Markdown section, or "" when no study lies below `root`."""
    rows = study_rows(root, fixed_runs)
    if not rows:
        return ""
    lines = [
        "",
        "## Selection (Optuna studies on the selection score)",
        "",
        "| study | selected by | trials | selection score | selected F1 | fixed protocol F1 | best trial F1 (oracle) "
        "| oracle − selected | Spearman (selection, eval) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        spearman_text = "-" if row["spearman"] is None else f"{row['spearman']:.2f} (n={row['evaluated_trials']})"
        lines.append("| " + " | ".join([
            row["study"], row["label"], str(row["trials"]), _number(row["selection_score"], digits),
            _number(row["selected_f1"], digits), _number(row["fixed_f1"], digits), _number(row["oracle_f1"], digits),
            _number(row["gap"], digits, signed=True), spearman_text,
        ]) + " |")
    lines += ["", "Selection score: mean F1 on held-out training questions (never the evaluation set). "
                  "Oracle and Spearman need the trials evaluated (hydra.sweeper.evaluate_trials=true); "
                  "fixed protocol: runs marked fixed in this report for the same model, dataset, shots and split.", ""]
    return "\n".join(lines)
