"""results.json says what a run trained on: the released split, a sample of a full file, or a whole file.

data.shots and data.seed name a released split (or a sample drawn with sample_from_full). A train_file read
whole is neither: the run records its real number of questions and no split seed, so that the report
does not file it under a split it never saw.
"""

from __future__ import annotations

import json

from run_helpers import FIXTURE_ROOT, run_train

from splinter.reporting.report import main as report

SPLIT = FIXTURE_ROOT / "mrqa-few-shot" / "squad" / "squad-train-seed-43-num-examples-16.jsonl"


def _first_records(tmp_path, n: int) -> tuple[str, int]:
    """An MRQA file with the header and the first `n` context records of the fixture split."""
    lines = SPLIT.read_text(encoding="utf-8").splitlines()
    header, records = lines[0], lines[1 : n + 1]
    path = tmp_path / "mine.jsonl"
    path.write_text("\n".join([header, *records]) + "\n", encoding="utf-8")
    return str(path), sum(len(json.loads(r)["qas"]) for r in records)


def test_a_released_split_is_recorded_with_its_size_and_seed(tmp_path):
    results = run_train(tmp_path, "task.max_steps=1", "data.seed=43")
    assert (results["train_split"], results["shots"], results["split_seed"]) == ("released", 16, 43)


def test_a_whole_train_file_is_recorded_with_its_own_size_and_no_split_seed(tmp_path):
    train_file, questions = _first_records(tmp_path, 3)
    assert 3 <= questions < 16
    run_dir = tmp_path / "sweep" / "0"
    results = run_train(run_dir, "task.max_steps=1", f"data.train_file={train_file}", "data.shots=64")
    on_disk = json.loads((run_dir / "results.json").read_text())
    assert (on_disk["train_split"], on_disk["shots"], on_disk["split_seed"]) == ("file", questions, None)
    assert results["data"]["train_questions"] == questions

    assert report([str(tmp_path / "sweep"), "--no-paper"]) == 0
    table = (tmp_path / "sweep" / "results.md").read_text()
    assert f"squad / {questions}" in table and "squad / 64" not in table
    csv = (tmp_path / "sweep" / "results.csv").read_text().splitlines()
    assert csv[1].split(",")[csv[0].split(",").index("seeds")] == "file"
