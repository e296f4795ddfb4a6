"""splinter.report: fake multirun trees → tables, CSV, PNG, errors."""

from __future__ import annotations

import csv
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from splinter.report import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_result(root: Path, sub: str, mtime: float | None = None, **fields) -> Path:
    record = {
        "model_name": "splinter-base",
        "dataset": "squad",
        "shots": 16,
        "split_seed": 42,
        "exact_match": 40.0,
        "f1": 50.0,
        "train_steps": 200,
        "config": {"lr": 3e-5},
    }
    record.update(fields)
    path = root / sub / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record), encoding="utf-8")
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


@pytest.fixture
def sweep(tmp_path) -> Path:
    root = tmp_path / "multirun" / "2024-01-01" / "12-00-00"
    # splinter-base on squad, 16 shots, 3 seeds: F1 50, 52, 57 → mean 53, sample std sqrt(13) = 3.6056
    #                                            EM 40, 41, 45 → mean 42, sample std sqrt(7) = 2.6458
    for i, (seed, f1, em) in enumerate([(1, 50.0, 40.0), (2, 52.0, 41.0), (3, 57.0, 45.0)]):
        write_result(root, f"{i}", shots=16, split_seed=seed, f1=f1, exact_match=em)
    # 128 shots: one seed only; nested deeper to check the walk
    write_result(root, "3/sub/dir", shots=128, split_seed=1, f1=70.34, exact_match=60.0)
    # 1024 shots, two seeds: F1 80, 81 → 80.5 ± 0.7071
    write_result(root, "4", shots=1024, split_seed=1, f1=80.0, exact_match=70.0)
    write_result(root, "5", shots=1024, split_seed=2, f1=81.0, exact_match=72.0)
    # another model on another dataset only
    write_result(
        root,
        "6",
        model_name="roberta-base",
        dataset="bioasq",
        shots=16,
        split_seed=1,
        f1=30.0,
        exact_match=20.0,
    )
    return root.parent.parent


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_tables_csv_and_plot(sweep, capsys):
    assert main([str(sweep)]) == 0
    md = (sweep / "results.md").read_text(encoding="utf-8")
    printed = capsys.readouterr().out
    assert md.strip() in printed

    lines = md.splitlines()
    f1_at = lines.index(next(line for line in lines if line.startswith("## F1")))
    em_at = lines.index(next(line for line in lines if line.startswith("## Exact match")))
    f1_table = [line for line in lines[f1_at:em_at] if line.startswith("|")]
    em_table = [line for line in lines[em_at:] if line.startswith("|")]
    # columns: datasets alphabetically, shots numerically (16 < 128 < 1024, not "1024" < "128" < "16")
    assert f1_table[0] == "| model | bioasq / 16 | squad / 16 | squad / 128 | squad / 1024 |"
    assert f1_table[1] == "|---|---|---|---|---|"
    assert f1_table[2] == "| roberta-base | 30.0 (n=1) | - | - | - |"
    assert f1_table[3] == "| splinter-base | - | 53.0 ± 3.6 (n=3) | 70.3 (n=1) | 80.5 ± 0.7 (n=2) |"
    assert em_table[3] == "| splinter-base | - | 42.0 ± 2.6 (n=3) | 60.0 (n=1) | 71.0 ± 1.4 (n=2) |"
    assert len(f1_table) == len(em_table) == 4

    rows = read_csv(sweep / "results.csv")
    assert list(rows[0]) == ["model", "dataset", "shots", "metric", "mean", "std", "n", "seeds"]
    assert len(rows) == 2 * 4
    by_key = {(r["model"], r["dataset"], r["shots"], r["metric"]): r for r in rows}
    r = by_key[("splinter-base", "squad", "16", "f1")]
    assert (r["mean"], r["std"], r["n"], r["seeds"]) == ("53.000000", "3.605551", "3", "1;2;3")
    r = by_key[("splinter-base", "squad", "128", "exact_match")]
    assert (r["mean"], r["std"], r["n"], r["seeds"]) == ("60.000000", "", "1", "1")
    r = by_key[("splinter-base", "squad", "1024", "exact_match")]
    assert (r["mean"], r["std"]) == ("71.000000", "1.414214")

    png = (sweep / "learning_curve.png").read_bytes()
    assert png[:8] == PNG_MAGIC and len(png) > 1000
    import matplotlib.image

    image = matplotlib.image.imread(sweep / "learning_curve.png")
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def test_out_dir_and_digits(sweep, tmp_path):
    out = tmp_path / "report"
    assert main([str(sweep), "--out", str(out), "--digits", "2"]) == 0
    assert {p.name for p in out.iterdir()} == {"results.md", "results.csv", "learning_curve.png"}
    assert not (sweep / "results.md").exists()
    assert "| splinter-base | - | 53.00 ± 3.61 (n=3) | 70.34 (n=1) | 80.50 ± 0.71 (n=2) |" in (
        out / "results.md"
    ).read_text(encoding="utf-8")


def test_duplicate_seed_keeps_newest_and_warns(tmp_path, caplog):
    # the newer file sorts first by path, so only the mtime can pick it
    old = write_result(tmp_path, "b", mtime=1_000_000, split_seed=1, f1=10.0)
    new = write_result(tmp_path, "a", mtime=2_000_000, split_seed=1, f1=20.0)
    write_result(tmp_path, "c", split_seed=2, f1=30.0)
    with caplog.at_level(logging.WARNING, logger="splinter.report"):
        assert main([str(tmp_path), "--out", str(tmp_path / "o")]) == 0
    assert "duplicate" in caplog.text and str(old) in caplog.text and str(new) in caplog.text
    rows = read_csv(tmp_path / "o" / "results.csv")
    f1 = next(r for r in rows if r["metric"] == "f1")
    assert (f1["mean"], f1["n"], f1["seeds"]) == ("25.000000", "2", "1;2")  # 20 and 30, not 10


def test_no_results_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    assert main([str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no results.json found" in err
    assert main([str(tmp_path / "does-not-exist")]) == 2
    assert "not a directory" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "cannot read results"),
        ('["a list"]', "JSON object"),
        ('{"model_name": "m", "dataset": "d", "shots": 16, "split_seed": 1, "f1": 1.0}', "exact_match"),
        (
            '{"model_name": "m", "dataset": "d", "shots": true, "split_seed": 1, "f1": 1, "exact_match": 1}',
            "'shots' must be an integer",
        ),
        (
            '{"model_name": "m", "dataset": "d", "shots": 16, "split_seed": 1, "f1": "high", "exact_match": 1}',
            "'f1' must be a finite number",
        ),
        (
            '{"model_name": "", "dataset": "d", "shots": 16, "split_seed": 1, "f1": 1, "exact_match": 1}',
            "'model_name'",
        ),
    ],
)
def test_invalid_results_file_is_an_error_naming_it(tmp_path, capsys, content, message):
    write_result(tmp_path, "good")
    bad = tmp_path / "bad" / "results.json"
    bad.parent.mkdir()
    bad.write_text(content, encoding="utf-8")
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and message in err and err.count("\n") == 1
    assert not (tmp_path / "results.md").exists()


def test_skip_invalid(tmp_path, caplog):
    write_result(tmp_path, "good", f1=12.5)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "results.json").write_text("{", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="splinter.report"):
        assert main([str(tmp_path), "--skip-invalid"]) == 0
    assert "skipping" in caplog.text
    assert read_csv(tmp_path / "results.csv")[0]["mean"] == "12.500000"


def test_integral_float_shots_accepted(tmp_path):
    write_result(tmp_path, "a", shots=16.0, split_seed=3.0)
    assert main([str(tmp_path)]) == 0
    assert read_csv(tmp_path / "results.csv")[0]["shots"] == "16"


def test_module_entry_point(sweep):
    proc = subprocess.run(
        [sys.executable, "-m", "splinter.report", str(sweep / "nope")],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        check=False,
    )
    assert proc.returncode == 2 and "not a directory" in proc.stderr
