"""splinter.reporting.report: fake multirun trees → tables, CSV, PNG, errors."""

from __future__ import annotations

import csv
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from splinter.reporting.report import main

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
    # the paper's Splinter-base F1 (54.6 / 72.7 / 82.8) and this sweep minus it
    assert f1_table[3] == (
        "| splinter-base | - | 53.0 ± 3.6 (n=3) · paper 54.6 (-1.6) | 70.3 (n=1) · paper 72.7 (-2.4) "
        "| 80.5 ± 0.7 (n=2) · paper 82.8 (-2.3) |"
    )
    assert em_table[3] == "| splinter-base | - | 42.0 ± 2.6 (n=3) | 60.0 (n=1) | 71.0 ± 1.4 (n=2) |"
    assert len(f1_table) == len(em_table) == 4

    assert "paper: Ram et al., ACL 2021, Table 1" in md

    rows = read_csv(sweep / "results.csv")
    assert list(rows[0]) == [
        "model", "overrides", "dataset", "eval_dataset", "shots", "metric",
        "mean", "std", "n", "seeds", "failed", "paper", "selected",
    ]  # fmt: skip
    assert len(rows) == 2 * 4
    by_key = {(r["model"], r["dataset"], r["shots"], r["metric"]): r for r in rows}
    r = by_key[("splinter-base", "squad", "16", "f1")]
    assert (r["mean"], r["std"], r["n"], r["seeds"], r["paper"]) == (
        "53.000000",
        "3.605551",
        "3",
        "1;2;3",
        "54.6",
    )
    r = by_key[("splinter-base", "squad", "128", "exact_match")]
    assert (r["mean"], r["std"], r["n"], r["seeds"], r["paper"]) == ("60.000000", "", "1", "1", "")
    r = by_key[("splinter-base", "squad", "1024", "exact_match")]
    assert (r["mean"], r["std"]) == ("71.000000", "1.414214")

    png = (sweep / "learning_curve.png").read_bytes()
    assert png[:8] == PNG_MAGIC and len(png) > 1000
    import matplotlib.image

    image = matplotlib.image.imread(sweep / "learning_curve.png")
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def test_out_dir_and_digits(sweep, tmp_path):
    out = tmp_path / "report"
    assert main([str(sweep), "--out", str(out), "--digits", "2", "--no-paper"]) == 0
    assert {p.name for p in out.iterdir()} == {"results.md", "results.csv", "learning_curve.png"}
    assert not (sweep / "results.md").exists()
    assert "| splinter-base | - | 53.00 ± 3.61 (n=3) | 70.34 (n=1) | 80.50 ± 0.71 (n=2) |" in (
        out / "results.md"
    ).read_text(encoding="utf-8")


def test_runs_without_config_that_nothing_tells_apart_are_duplicates(tmp_path, caplog):
    # the newer file sorts first by path, so only the mtime can pick it
    old = write_result(tmp_path, "b", mtime=1_000_000, split_seed=1, f1=10.0)
    new = write_result(tmp_path, "a", mtime=2_000_000, split_seed=1, f1=20.0)
    write_result(tmp_path, "c", split_seed=2, f1=30.0)
    with caplog.at_level(logging.WARNING, logger="splinter.reporting.report"):
        assert main([str(tmp_path), "--out", str(tmp_path / "o")]) == 0
    assert "duplicate" in caplog.text and str(old) in caplog.text and str(new) in caplog.text
    assert "the same run as far as its config tells (no config)" in caplog.text
    md = (tmp_path / "o" / "results.md").read_text(encoding="utf-8")
    assert f"- `{old}`: duplicate of {new} (newer)" in md
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
    with caplog.at_level(logging.WARNING, logger="splinter.reporting.report"):
        assert main([str(tmp_path), "--skip-invalid"]) == 0
    assert "skipping" in caplog.text
    assert read_csv(tmp_path / "results.csv")[0]["mean"] == "12.500000"


def test_integral_float_shots_accepted(tmp_path):
    write_result(tmp_path, "a", shots=16.0, split_seed=3.0)
    assert main([str(tmp_path)]) == 0
    assert read_csv(tmp_path / "results.csv")[0]["shots"] == "16"


def test_module_entry_point(sweep):
    proc = subprocess.run(
        [sys.executable, "-m", "splinter.reporting.report", str(sweep / "nope")],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        check=False,
    )
    assert proc.returncode == 2 and "not a directory" in proc.stderr


# --------------------------------------------------------------------------------------------------
# Runs with their configs: sweeps over settings other than the split seed.


def resolved_config(**dotted) -> dict:
    """A resolved config.yaml as a run writes it, with `dotted` keys (a.b.c=value) set."""
    config = {
        "seed": 42,
        "ckpt_path": None,
        "output_dir": "set by write_run",
        "model": {
            "name": "splinter-base",
            "checkpoint": "tau/splinter-base",
            "tokenizer": "tau/splinter-base",
        },
        "data": {"dataset": "squad", "shots": 16, "seed": 42, "root": "/data", "train_file": None},
        "task": {"name": "finetune", "max_steps": None, "module": {"lr": 3.0e-5, "betas": [0.9, 0.999]}},
        "logger": {"name": "set by write_run"},
    }
    for key, value in dotted.items():
        *parents, leaf = key.split(".")
        node = config
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return config


def write_run(root: Path, sub: str, config: dict | None = None, mtime: float | None = None, **fields) -> Path:
    """results.json plus the config.yaml beside it (its cell keys taken from the results)."""
    path = write_result(root, sub, mtime=mtime, **fields)
    record = json.loads(path.read_text(encoding="utf-8"))
    config = resolved_config(
        **{
            "model.name": record["model_name"],
            "data.dataset": record["dataset"],
            "data.shots": record["shots"],
            "data.seed": record["split_seed"],
            "output_dir": str(path.parent),  # differs for every run: never a row or a difference
            "logger.name": f"run-{sub}",
            **(config or {}),
        }
    )
    from omegaconf import OmegaConf

    (path.parent / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(config)), encoding="utf-8")
    return path


def tables(md: str) -> tuple[list[str], list[str]]:
    lines = md.splitlines()
    f1_at = lines.index(next(line for line in lines if line.startswith("## F1")))
    em_at = lines.index(next(line for line in lines if line.startswith("## Exact match")))
    end = next((i for i in range(em_at + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return (
        [line for line in lines[f1_at:em_at] if line.startswith("|")],
        [line for line in lines[em_at:end] if line.startswith("|")],
    )


def test_training_seed_sweep_on_one_split_keeps_both_runs(tmp_path, caplog):
    # train.py -m seed=2,10 data.seed=42 (and, for seed=10, a second split): a row per training seed,
    # each averaged over its split seeds, in numeric order; no run dropped, no duplicate warning
    write_run(tmp_path, "0", {"seed": 10}, split_seed=42, f1=60.0, exact_match=50.0)
    write_run(tmp_path, "1", {"seed": 2}, split_seed=42, f1=64.0, exact_match=54.0)
    write_run(tmp_path, "2", {"seed": 10}, split_seed=43, f1=62.0, exact_match=52.0)
    with caplog.at_level(logging.WARNING, logger="splinter.reporting.report"):
        assert main([str(tmp_path), "--no-paper"]) == 0
    assert "duplicate" not in caplog.text
    f1, em = tables((tmp_path / "results.md").read_text(encoding="utf-8"))
    assert f1 == [
        "| model | overrides | squad / 16 |",
        "|---|---|---|",
        "| splinter-base | seed=2 | 64.0 (n=1) |",
        "| splinter-base | seed=10 | 61.0 ± 1.4 (n=2) |",
    ]
    assert em[3] == "| splinter-base | seed=10 | 51.0 ± 1.4 (n=2) |"
    rows = [r for r in read_csv(tmp_path / "results.csv") if r["metric"] == "f1"]
    assert [(r["overrides"], r["n"], r["seeds"]) for r in rows] == [
        ("seed=2", "1", "42"),
        ("seed=10", "2", "42;43"),
    ]


def test_swept_hyperparameters_and_custom_files_are_rows(tmp_path):
    # an lr sweep and data=custom runs on different files: one row per value, named by its keys
    write_run(tmp_path, "lr/0", {"task.module.lr": 1e-5}, f1=40.0)
    write_run(tmp_path, "lr/1", {"task.module.lr": 3e-5}, f1=50.0)
    write_run(tmp_path, "custom/0", {"data.train_file": "/x/a.jsonl"}, dataset="custom", f1=30.0)
    write_run(tmp_path, "custom/1", {"data.train_file": "/x/b.jsonl"}, dataset="custom", f1=35.0)
    assert main([str(tmp_path), "--no-paper"]) == 0
    f1, _ = tables((tmp_path / "results.md").read_text(encoding="utf-8"))
    # the lr runs all trained on the released split (train_file null); the custom runs at the default lr
    assert f1 == [
        "| model | overrides | custom / 16 | squad / 16 |",
        "|---|---|---|---|",
        "| splinter-base | data.train_file=/x/a.jsonl, task.module.lr=3e-05 | 30.0 (n=1) | - |",
        "| splinter-base | data.train_file=/x/b.jsonl, task.module.lr=3e-05 | 35.0 (n=1) | - |",
        "| splinter-base | data.train_file=null, task.module.lr=1e-05 | - | 40.0 (n=1) |",
        "| splinter-base | data.train_file=null, task.module.lr=3e-05 | - | 50.0 (n=1) |",
    ]


def test_byte_identical_configs_are_duplicates_kept_newest(tmp_path, caplog):
    # the same job run twice into two directories (output_dir and logger name differ: ignored)
    old = write_run(tmp_path, "first", mtime=1_000_000, f1=10.0)
    new = write_run(tmp_path, "second", mtime=2_000_000, f1=20.0)
    other = write_run(tmp_path, "third", {"task.max_steps": 5}, f1=30.0)  # one key differs: kept
    with caplog.at_level(logging.WARNING, logger="splinter.reporting.report"):
        assert main([str(tmp_path), "--no-paper"]) == 0
    assert caplog.text.count("duplicate") == 1
    assert f"keeping {new} (newest), ignoring {old} (identical resolved configs (config.yaml))" in caplog.text
    md = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert f"- `{old}`: duplicate of {new} (newer): identical resolved configs (config.yaml)" in md
    assert str(other) not in md
    f1, _ = tables(md)
    assert f1[2:] == [
        "| splinter-base | task.max_steps=5 | 30.0 (n=1) |",
        "| splinter-base | task.max_steps=null | 20.0 (n=1) |",
    ]


def test_pretraining_and_evaluation_results_are_listed_and_skipped(tmp_path, caplog):
    write_run(tmp_path, "finetune/0", f1=50.0)
    pretrain = tmp_path / "pretrain" / "deep" / "results.json"
    pretrain.parent.mkdir(parents=True)
    pretrain.write_text(json.dumps({"task": "pretrain", "model_name": "tiny", "steps": 10}), encoding="utf-8")
    evaluation = tmp_path / "eval" / "results.json"
    evaluation.parent.mkdir()
    evaluation.write_text(
        json.dumps({"model_name": "tiny", "dataset": "squad", "f1": 1.0, "exact_match": 0.0}),
        encoding="utf-8",
    )
    with caplog.at_level(logging.WARNING, logger="splinter.reporting.report"):
        assert main([str(tmp_path), "--no-paper"]) == 0
    md = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert "## Not included (2)" in md
    assert f"- `{pretrain}`: not a fine-tuning run (task=pretrain)" in md
    assert f"- `{evaluation}`: not a fine-tuning run (no shots or split_seed: an evaluation-only run)" in md
    assert f"skipping {pretrain}: not a fine-tuning run" in caplog.text
    assert tables(md)[0][2] == "| splinter-base | 50.0 (n=1) |"


def test_only_pretraining_results_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "results.json").write_text(json.dumps({"task": "pretrain"}), encoding="utf-8")
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no fine-tuning results.json found (1 skipped" in err


@pytest.mark.parametrize(("key", "value"), [("f1", 123.0), ("exact_match", -0.5)])
def test_scores_outside_0_100_are_refused(tmp_path, capsys, key, value):
    write_run(tmp_path, "good", split_seed=42, f1=50.0, exact_match=40.0)
    bad = write_run(tmp_path, "bad", split_seed=43, **{key: value})
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {bad}: '{key}' = {value!r} is outside 0-100: refused as invalid\n"
    # --skip-invalid: listed in the report, not averaged in
    assert main([str(tmp_path), "--skip-invalid", "--no-paper"]) == 0
    md = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert f"- `{bad}`: invalid: '{key}' = {value!r} is outside 0-100: refused as invalid" in md
    assert tables(md)[0][2] == "| splinter-base | 50.0 (n=1) |"


def test_a_diverged_run_is_refused_never_averaged(tmp_path, capsys):
    # an all-NaN model scores a valid-looking 0.0; the nan its results.json holds (here a final loss) tells
    write_run(tmp_path, "good", split_seed=42, f1=50.0, exact_match=40.0)
    bad = write_run(tmp_path, "diverged", split_seed=43, f1=0.0, exact_match=0.0, final_loss=float("nan"))
    assert main([str(tmp_path)]) == 2
    assert capsys.readouterr().err == (f"error: {bad}: 'final_loss' is nan: the run diverged; its scores are "
                                       "not averaged in\n")
    assert main([str(tmp_path), "--skip-invalid", "--no-paper"]) == 0
    md = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert f"- `{bad}`: invalid: 'final_loss' is nan: the run diverged" in md
    assert tables(md)[0][2] == "| splinter-base | 50.0 (n=1) |"


def test_symlinked_run_directories_are_read_once_and_loops_are_listed(tmp_path):
    root, elsewhere = tmp_path / "sweep", tmp_path / "kept-elsewhere"
    write_run(root, "0", split_seed=42, f1=50.0, exact_match=40.0)
    write_run(elsewhere, "1", split_seed=43, f1=60.0, exact_match=50.0)
    (root / "linked").symlink_to(elsewhere, target_is_directory=True)  # a job kept on another disk
    (root / "0" / "loop").symlink_to(root, target_is_directory=True)  # a link back up: never followed twice
    assert main([str(root), "--no-paper"]) == 0
    md = (root / "results.md").read_text(encoding="utf-8")
    assert tables(md)[0][2] == "| splinter-base | 55.0 ± 7.1 (n=2) |"
    assert f"- `{root / '0' / 'loop'}`: the same directory as one already read ({root.resolve()}): read once" in md


def write_error(job: Path, error: str, error_type: str | None, overrides: list[str]) -> None:
    job.mkdir(parents=True, exist_ok=True)
    record = {"status": "failed", "error": error, "error_type": error_type, "overrides": overrides}
    (job / "error.json").write_text(json.dumps(record), encoding="utf-8")


def test_failed_jobs_are_counted_per_cell_and_listed(tmp_path):
    write_run(tmp_path, "0", split_seed=42, f1=50.0)
    write_run(tmp_path, "1", split_seed=43, f1=54.0)
    # failed during training, after the run wrote its resolved config: same cell as the runs above
    crashed = tmp_path / "2"
    write_error(crashed, "out of memory on cuda:0", "TrainingError", ["data.seed=44"])
    config = resolved_config(**{"data.seed": 44, "output_dir": str(crashed)})
    from omegaconf import OmegaConf

    (crashed / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(config)), encoding="utf-8")
    # failed on its config: only Hydra's unresolved composition exists; interpolations are unknown and
    # do not make rows of their own
    refused = tmp_path / "3"
    write_error(
        refused, "config key 'data.shots': 17 has no released split", "ConfigError", ["data.shots=17"]
    )
    (refused / ".hydra").mkdir()
    composed = resolved_config(**{"data.shots": 17, "output_dir": "${hydra:runtime.output_dir}"})
    composed["model"]["tokenizer"] = "${model.checkpoint}"
    composed["data"]["root"] = "${oc.env:SPLINTER_DATA_ROOT,/data}"
    (refused / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(composed)))
    # no config at all: listed, not placed
    unknown = tmp_path / "4"
    write_error(unknown, "disk full", None, ["data.seed=45"])
    # error.json beside a results.json: the run finished, the error is stale
    write_error(tmp_path / "1", "stale", "X", [])

    assert main([str(tmp_path), "--no-paper"]) == 0
    md = (tmp_path / "results.md").read_text(encoding="utf-8")
    f1, _ = tables(md)
    assert f1 == [
        "| model | squad / 16 | squad / 17 |",
        "|---|---|---|",
        "| splinter-base | 52.0 ± 2.8 (n=2, 1 failed) | - (1 failed) |",
    ]
    assert "## Failed jobs (3, not averaged in)" in md
    assert f"- `{crashed}`: TrainingError: out of memory on cuda:0 (overrides: data.seed=44)" in md
    assert f"- `{refused}`: ConfigError: config key 'data.shots': 17 has no released split" in md
    assert (
        f"- `{unknown}`: disk full (overrides: data.seed=45) "
        "(not in the table: its config does not name the model, dataset and shots)"
    ) in md
    assert "stale" not in md
    rows = {(r["shots"], r["metric"]): r for r in read_csv(tmp_path / "results.csv")}
    assert (rows[("16", "f1")]["n"], rows[("16", "f1")]["failed"]) == ("2", "1")
    assert (rows[("17", "f1")]["mean"], rows[("17", "f1")]["n"], rows[("17", "f1")]["failed"]) == (
        "",
        "0",
        "1",
    )


def test_malformed_error_json_is_invalid(tmp_path, capsys):
    write_run(tmp_path, "0")
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "error.json").write_text('{"status": "ok"}', encoding="utf-8")
    assert main([str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f'error: {tmp_path / "1" / "error.json"}: an error report needs "status": "failed" and an "error" string\n'
    )


def test_out_of_domain_column_is_labelled_train_to_eval(tmp_path):
    write_run(tmp_path, "0", shots=128, f1=70.0)
    write_run(tmp_path, "1", shots=128, split_seed=43, f1=72.0, eval_dataset="SQuAD")  # in-domain
    write_run(tmp_path, "2", shots=128, f1=55.0, eval_dataset="BioASQ")
    assert main([str(tmp_path)]) == 0
    f1, _ = tables((tmp_path / "results.md").read_text(encoding="utf-8"))
    # no paper number for the out-of-domain column: the paper trains and evaluates on one dataset
    assert f1 == [
        "| model | squad / 128 | squad → BioASQ / 128 |",
        "|---|---|---|",
        "| splinter-base | 71.0 ± 1.4 (n=2) · paper 72.7 (-1.7) | 55.0 (n=1) |",
    ]
    ood = next(r for r in read_csv(tmp_path / "results.csv") if r["eval_dataset"] == "BioASQ")
    assert (ood["dataset"], ood["mean"], ood["paper"]) == ("squad", "55.000000", "")


def test_paper_numbers_beside_each_published_cell(tmp_path):
    write_run(tmp_path, "0", model_name="splinter-base-qass", dataset="bioasq", shots=128, f1=65.0)
    write_run(
        tmp_path, "1", model_name="splinter-base-qass", dataset="bioasq", shots=128, split_seed=43, f1=66.0
    )
    # no published number: 16 examples on BioASQ; another model than Splinter-base
    write_run(tmp_path, "2", model_name="splinter-base-qass", dataset="bioasq", shots=16, f1=30.0)
    write_run(tmp_path, "3", model_name="roberta-base", dataset="bioasq", shots=128, f1=40.0)
    assert main([str(tmp_path)]) == 0
    md = (tmp_path / "results.md").read_text(encoding="utf-8")
    f1, em = tables(md)
    assert f1[2:] == [
        "| roberta-base | - | 40.0 (n=1) |",
        "| splinter-base-qass | 30.0 (n=1) | 65.5 ± 0.7 (n=2) · paper 63.2 (+2.3) |",
    ]
    assert "paper" not in "\n".join(em)  # the paper reports F1 only
    assert md.count("paper: Ram et al., ACL 2021, Table 1: Splinter-base F1") == 1
    assert main([str(tmp_path), "--no-paper"]) == 0
    assert "paper" not in (tmp_path / "results.md").read_text(encoding="utf-8")


def test_plot_single_seed_point_has_no_error_bar_and_says_n1(tmp_path):
    from matplotlib.container import ErrorbarContainer

    from splinter.reporting.cells import build_table
    from splinter.reporting.report import learning_curve_figure, learning_curves
    from splinter.reporting.runs import read_sweep

    write_run(tmp_path, "0", shots=16, split_seed=42, f1=50.0)
    write_run(tmp_path, "1", shots=16, split_seed=43, f1=54.0)
    write_run(tmp_path, "2", shots=128, split_seed=42, f1=70.0)
    sweep = read_sweep(tmp_path)
    table, _ = build_table(sweep.runs, sweep.failed)
    (curve,) = learning_curves(table)
    assert curve.label == "splinter-base / squad"
    assert [(s, st.mean, st.std, st.n) for s, st in curve.points] == [
        (16, 52.0, pytest.approx(2.828427), 2),
        (128, 70.0, None, 1),
    ]

    ax = learning_curve_figure(table).axes[0]
    (bars,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    (segments,) = [lc.get_segments() for lc in bars.lines[2]]
    assert len(segments) == 1  # one bar: the 16-shot point, 52 ± 2.83
    assert segments[0][:, 0].tolist() == [16, 16]
    assert segments[0][:, 1].tolist() == pytest.approx([52.0 - 2.828427, 52.0 + 2.828427])
    assert [(t.get_text(), t.xy) for t in ax.texts] == [("n=1", (128, 70.0))]


@pytest.mark.slow
def test_report_over_real_runs_of_two_training_seeds(tmp_path):
    # the contract with the trainer: results.json and the resolved config.yaml it writes
    from tests.run_helpers import run_train

    sweep = tmp_path / "multirun"
    for seed in (1, 2):
        run_train(sweep / f"{seed - 1}-tiny-squad-16shots-split42", f"seed={seed}", "task.max_steps=2")
    assert main([str(sweep), "--no-paper"]) == 0
    f1, _ = tables((sweep / "results.md").read_text(encoding="utf-8"))
    assert [line.split(" | ")[:2] for line in f1[2:]] == [["| tiny", "seed=1"], ["| tiny", "seed=2"]]
    assert all(line.endswith("(n=1) |") for line in f1[2:])


def plotted(tmp_path):
    from splinter.reporting.cells import build_table
    from splinter.reporting.report import learning_curve_figure
    from splinter.reporting.runs import read_sweep

    sweep = read_sweep(tmp_path)
    table, _ = build_table(sweep.runs, sweep.failed)
    return learning_curve_figure(table)


def test_the_plot_describes_itself(tmp_path):
    # issue 26: one point on a 10.0-11.0 axis, no title, no evaluation set or size, no shared settings,
    # no before-fine-tuning baseline, the n=1 label clipped
    write_run(tmp_path, "0", model_name="tiny", shots=16, split_seed=42, f1=10.5, f1_before=0.9,
              exact_match_before=0.0, num_questions=40, steps=6, eval_dataset="squad",
              config={"data.batch_size": 4, "data.max_seq_length": 128})
    fig = plotted(tmp_path)
    (ax,) = fig.axes
    assert fig._suptitle.get_text() == "F1 after few-shot fine-tuning on the squad dev set (40 questions)"
    assert ax.get_title().replace("\n", " · ") == ("model tiny · 6 steps · checkpoint tau/splinter-base · lr 3e-05 · batch 4 · "
                              "max_seq_length 128 · training seed 42 · mean ± std over split seeds")
    assert ax.get_ylim() == (0.0, pytest.approx(15.5))  # from 0, headroom over the one point
    assert ax.get_xlim() == pytest.approx((10.0, 25.6))  # 16 / 1.6 .. 16 × 1.6 on the log2 axis
    assert ax.get_xlabel().startswith("training examples") and ax.get_ylabel() == "F1 (%)"
    after, before = ax.lines
    assert before.get_linestyle() == "--" and list(before.get_ydata()) == [0.9]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["tiny / squad", "tiny / squad, before fine-tuning"]
    # nothing drawn outside the figure or the axes: the n=1 label, the titles, the legend
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    inside_axes = ax.get_window_extent(renderer)
    (label,) = ax.texts
    box = label.get_window_extent(renderer)
    assert label.get_text() == "n=1" and inside_axes.x0 <= box.x0 and box.x1 <= inside_axes.x1
    assert box.y1 <= inside_axes.y1
    for artist in (fig._suptitle, ax.title, ax.get_legend(), ax.xaxis.label, ax.yaxis.label):
        box = artist.get_window_extent(renderer)
        assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1 and fig.bbox.y0 <= box.y0 and box.y1 <= fig.bbox.y1


def test_the_plot_title_says_when_runs_differ(tmp_path):
    write_run(tmp_path, "0", shots=16, split_seed=42, f1=50.0, num_questions=100, steps=200)
    write_run(tmp_path, "1", shots=128, split_seed=42, f1=60.0, num_questions=120, steps=400,
              config={"task.module.lr": 1e-4})
    write_run(tmp_path, "2", dataset="bioasq", shots=16, split_seed=42, f1=30.0)  # records neither
    fig = plotted(tmp_path)
    (ax,) = fig.axes
    assert fig._suptitle.get_text() == "F1 after few-shot fine-tuning on each dataset's dev set"
    assert ax.get_title().replace("\n", " · ") == ("model splinter-base · checkpoint tau/splinter-base · training seed 42 · "
                              "mean ± std over split seeds")
    assert len(ax.lines) == 2 and ax.get_ylim() == (0.0, pytest.approx(69.0))  # no baseline recorded
