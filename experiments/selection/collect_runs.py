"""Copy the small records of the selection experiment into a folder that can be committed.

    python experiments/selection/collect_runs.py OUT experiments/selection/results

Keeps the sweep layout, so that `python -m splinter.report experiments/selection/results` rebuilds the
tables and the Selection section from the copy:

- OUT/fixed/<shots>-<seed>/<run>/results.json       the fixed protocol's run (and its config.yaml)
- OUT/study/<shots>-<seed>/optimization_results.yaml the study (trials, selection scores, best, command)
- OUT/study/<shots>-<seed>/<trial>/results.json     each trial trained on all K and evaluated (analysis
  only), with selection.json (the per-fold F1 the sampler saw)
- OUT/*.log                                          the console of each sweep, with its wall time
- trials.csv                                         one line per trial: lr, steps, fold F1, selection
  score, evaluation EM/F1, seconds

Checkpoints, models, predictions and the Optuna SQLite file stay where they are (large or binary).
The copies name no path of the machine that ran them: OUT's absolute path becomes `OUT`, and a
virtual environment's (in the logs' warnings) becomes `.venv/`; the report finds a study's trials
beside its optimization_results.yaml by folder name.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

import yaml

RUN_FILES = ("results.json", "selection.json", "config.yaml")  # config.yaml: what tells trials apart in the report
VENV_PATH = re.compile(r"(?<!\S)/\S*?/(\.venv/)")


def copy_without_machine_paths(source: Path, destination: Path, out: Path) -> None:
    text = source.read_text(encoding="utf-8").replace(str(out.resolve()), "OUT")
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_text(VENV_PATH.sub(r"\1", text), encoding="utf-8")


def copy_runs(out: Path, target: Path) -> int:
    pairs = [(source.parent / name, target / source.parent.relative_to(out) / name)
             for arm in ("fixed", "study") for source in sorted((out / arm).glob("*/*/results.json"))
             for name in RUN_FILES if (source.parent / name).is_file()]
    pairs += [(source, target / source.relative_to(out)) for source in sorted(out.glob("study/*/optimization_results.yaml"))]
    pairs += [(source, target / "logs" / source.name) for source in sorted(out.glob("*.log"))]
    for source, destination in pairs:
        copy_without_machine_paths(source, destination, out)
    return len(pairs)


def trial_rows(target: Path) -> list[dict]:
    rows = []
    for path in sorted(target.glob("study/*/optimization_results.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        shots, seed = path.parent.name.split("-")
        for study in document["studies"]:
            for trial in study["trials"]:
                run_dir = path.parent / Path(trial["output_dir"]).name
                results = json.loads((run_dir / "results.json").read_text()) if (run_dir / "results.json").is_file() else {}
                selection = results.get("selection", {})
                rows.append({
                    "shots": shots, "split_seed": seed, "trial": trial["number"], "state": trial["state"],
                    "selected": trial["number"] == study.get("best_trial"),
                    "lr": trial["params"].get("lr"), "steps": trial["params"].get("steps"),
                    "fold_f1": " ".join(f"{f:.2f}" for f in selection.get("fold_f1", [])),
                    "selection_score": trial.get("selection_score"), "selection_std": selection.get("std"),
                    "selection_seconds": selection.get("seconds"),
                    "eval_exact_match": results.get("exact_match"), "eval_f1": results.get("f1"),
                    "final_train_seconds": results.get("train_seconds"),
                })
    return rows


def main(out: Path, target: Path) -> None:
    copied = copy_runs(out, target)
    rows = trial_rows(target)
    with open(target / "trials.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"{target}: {copied} files, trials.csv with {len(rows)} trials")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python experiments/selection/collect_runs.py OUT TARGET")
    main(Path(sys.argv[1]), Path(sys.argv[2]))
