"""Copy the small per-run records of the experiment into one folder that can be committed.

    python experiments/rss-minilm/collect_runs.py OUT OUT/table/runs

- every fine-tuning `results.json` under OUT/finetune/<arm>/ → runs/finetune/<arm>/<shots>-shots-seed-<seed>/
  results.json: a sweep that `python -m splinter.report runs/finetune` reads (tables, --compare)
- every pretraining run OUT/pretrain*/ → runs/<its folder name>/results.json (steps, final loss, corpus
  statistics, time) and loss.csv (the logged training loss, lr and labels per row).

Checkpoints and predictions are left where they are (too large to commit).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path


def main(out: Path, target: Path) -> None:
    copied = 0
    for path in sorted((out / "finetune").glob("*/*/results.json")):
        run = json.loads(path.read_text())
        name = f"{run['shots']}-shots-seed-{run['split_seed']}"
        destination = target / "finetune" / path.parent.parent.name / name / "results.json"
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
        copied += 1
    for run_dir in sorted(out.glob("pretrain*/")):
        destination = target / run_dir.name
        for source, name in ((run_dir / "results.json", "results.json"), (run_dir / "logs" / "metrics.csv", "loss.csv")):
            if source.is_file():
                destination.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, destination / name)
                copied += 1
    print(f"{target}: {copied} files")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
