"""python -m splinter.report --compare / --baseline: statistics against hand-computed values, pairing
rules and refusals, per-question scores against the official metric, the files written."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from splinter.data.formats.readers import file_sha256
from splinter.qa.metrics import squad_scores
from splinter.report import main
from splinter.reporting.compare import SEED, question_scores
from splinter.reporting.statistics import (
    bootstrap_interval,
    sign_flip_p,
    t_central_probability,
    t_interval,
    t_quantile,
)

# --------------------------------------------------------------------------------------------------
# Statistics.


@pytest.mark.parametrize(
    ("df", "table"),  # two-sided 95 % quantiles of Student's t, from any printed table (6 decimals)
    [(1, 12.706205), (2, 4.302653), (4, 2.776445), (9, 2.262157), (30, 2.042272), (120, 1.979930)],
)
def test_t_quantile_matches_the_table(df, table):
    assert t_quantile(0.95, df) == pytest.approx(table, abs=1e-6)


def test_t_distribution_closed_forms():
    # df 1 is Cauchy: P(|T| <= 1) = 1/2; df 2: P(|T| <= t) = t / sqrt(2 + t²)
    assert t_central_probability(1.0, 1) == pytest.approx(0.5, abs=1e-15)
    for t in (0.3, 1.0, 4.0):
        assert t_central_probability(t, 2) == pytest.approx(t / math.sqrt(2 + t * t), abs=1e-14)


def test_t_interval_by_hand():
    # 1..5: mean 3, sample sd sqrt(2.5), half-width t(4) · sd / sqrt(5)
    low, high = t_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    half = 2.7764451051977987 * math.sqrt(2.5) / math.sqrt(5)
    assert (low, high) == pytest.approx((3 - half, 3 + half), abs=1e-9)
    assert t_interval([4.2]) is None  # n = 1: no spread to estimate
    assert t_interval([2.5, 2.5, 2.5]) == (2.5, 2.5)  # all equal: zero width, not NaN


def test_bootstrap_interval_by_hand_and_seeded():
    # two values 0 and 2: resampled means 0, 1, 2 with probabilities 1/4, 1/2, 1/4 → 2.5 %/97.5 % at 0 and 2
    assert bootstrap_interval([0.0, 2.0], seed=0) == (0.0, 2.0)
    assert bootstrap_interval([3.5], seed=0) == (3.5, 3.5)  # n = 1
    assert bootstrap_interval([0.1, 0.1, 0.1], seed=0) == (0.1, 0.1)  # all equal: exactly, no rounding
    values = [1.0, -0.5, 2.0, 4.0, 0.0]
    assert bootstrap_interval(values, seed=3) == bootstrap_interval(values, seed=3)  # deterministic
    low, high = bootstrap_interval(values, seed=3)
    assert min(values) <= low < np.mean(values) < high <= max(values)


def test_sign_flip_p_by_hand():
    assert sign_flip_p([1.0] * 5, seed=0) == (2 / 32, "exact, 32 sign assignments")  # only ++..+ and --..-
    # ties: (±1, ±1, ±2) gives |sum| 4, 0, 2, 2, 2, 2, 0, 4; observed |1 − 1 + 2| = 2 → 6 of 8 reach it
    assert sign_flip_p([1.0, -1.0, 2.0], seed=0)[0] == pytest.approx(6 / 8)
    assert sign_flip_p([0.0, 3.0], seed=0)[0] == 1.0  # a zero difference: either sign is the same sum
    assert sign_flip_p([4.2], seed=0)[0] == 1.0  # n = 1 can never reject
    assert sign_flip_p([0.0, 0.0, 0.0], seed=0)[0] == 1.0  # all equal (zero)
    # floating-point sums that are equal in exact arithmetic count as ties
    assert sign_flip_p([0.1, 0.2, -0.3], seed=0)[0] == 1.0


def test_sign_flip_p_monte_carlo_above_ten_seeds():
    p, method = sign_flip_p([1.0] * 12, seed=0)
    assert method == "Monte Carlo, 100000 random sign assignments"
    assert p == sign_flip_p([1.0] * 12, seed=0)[0]  # seeded
    assert 0.0003 < p < 0.0008  # exact 2 / 4096 = 0.000488; (1 + hits) / (1 + draws) is never 0


# --------------------------------------------------------------------------------------------------
# Per-question scores.


def test_per_question_scores_average_to_the_official_metric():
    references = {"a": ["the cat"], "b": ["Paris", "paris, France"], "c": ["The"], "d": ["dog slept"], "e": ["x"]}
    predictions = {"a": "cat", "b": "France", "c": "", "d": "the dog", "zzz": "ignored"}  # "e" unanswered
    scores = question_scores(predictions, references)
    official = squad_scores(predictions, references)
    assert scores["f1"].mean() == pytest.approx(official["f1"], abs=1e-12)
    assert scores["exact_match"].mean() == pytest.approx(official["exact_match"], abs=1e-12)
    assert list(scores["exact_match"]) == [100.0, 0.0, 100.0, 0.0, 0.0]


# --------------------------------------------------------------------------------------------------
# Fixture sweeps: runs with predictions.json on a small MRQA evaluation file.

CONTEXT = "The cat sat on the mat in Paris while the dog slept near London."
GOLD = {"q1": "cat", "q2": "mat", "q3": "Paris", "q4": "dog", "q5": "London", "q6": "sat"}


def write_eval(path: Path, questions: dict[str, str] = GOLD) -> Path:
    qas = []
    for qid, answer in questions.items():
        start = CONTEXT.index(answer)
        span = {"text": answer, "char_spans": [[start, start + len(answer) - 1]]}
        qas.append({"id": qid, "question": f"What is {qid}?", "answers": [answer], "detected_answers": [span]})
    lines = [{"header": {"dataset": "SQuAD", "split": "dev"}}, {"id": "c1", "context": CONTEXT, "qas": qas}]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    return path


def answers(correct: int) -> dict[str, str]:
    """The first `correct` questions answered right, the others with a word of no overlap."""
    return {qid: gold if i < correct else "nothing" for i, (qid, gold) in enumerate(GOLD.items())}


def write_job(root: Path, model: str, split_seed: int, eval_file: Path, predictions: dict | None,
              training_seed: int = 42, **fields) -> Path:
    scores = squad_scores(predictions or answers(0), {q: [a] for q, a in GOLD.items()})
    record = {
        "model_name": model, "dataset": "squad", "shots": 16, "split_seed": split_seed, "seed": training_seed,
        "exact_match": scores["exact_match"], "f1": scores["f1"], "num_questions": len(GOLD),
        "eval_file": str(eval_file),
        "data": {"eval_sha256": file_sha256(eval_file), "max_eval_examples": None},
    }  # fmt: skip
    record.update(fields)
    job = root / model / f"seed-{split_seed}"
    job.mkdir(parents=True, exist_ok=True)
    (job / "results.json").write_text(json.dumps(record), encoding="utf-8")
    if predictions is not None:
        (job / "predictions.json").write_text(json.dumps(predictions), encoding="utf-8")
    return job


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def paired_sweep(tmp_path) -> Path:
    eval_file = write_eval(tmp_path / "dev.jsonl")
    root = tmp_path / "sweep"
    # correct answers out of 6 per split seed: A 4/5/3, B 2/3/3 → A − B = +33.3, +33.3, 0 (EM = F1 here)
    for seed, a, b in ((1, 4, 2), (2, 5, 3), (3, 3, 3)):
        write_job(root, "A", seed, eval_file, answers(a))
        write_job(root, "B", seed, eval_file, answers(b))
    return root


def test_cli_writes_comparison_files_with_hand_computed_numbers(paired_sweep, capsys):
    assert main([str(paired_sweep), "--compare", "A", "B"]) == 0
    for name in ("comparison.md", "comparison.csv", "comparison.png", "results.md"):
        assert (paired_sweep / name).is_file()
    assert (paired_sweep / "comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Paired comparisons" not in (paired_sweep / "results.md").read_text()  # its own file
    rows = {(r["metric"], r["level"]): r for r in read_csv(paired_sweep / "comparison.csv")}
    third = 100 / 3
    diffs = [third, third, 0.0]
    mean, sd = np.mean(diffs), np.std(diffs, ddof=1)
    half = 4.302652729749464 * sd / math.sqrt(3)
    for metric in ("f1", "exact_match"):
        seeds = rows[(metric, "seeds")]
        assert (seeds["a"], seeds["b"], seeds["n"]) == ("A", "B", "3")
        assert float(seeds["mean"]) == pytest.approx(mean, abs=1e-6)
        assert float(seeds["t_low"]) == pytest.approx(mean - half, abs=1e-5)
        assert float(seeds["t_high"]) == pytest.approx(mean + half, abs=1e-5)
        assert (seeds["a_better"], seeds["b_better"], seeds["equal"]) == ("2", "0", "1")
        assert float(seeds["p_value"]) == 0.5  # (±33.3, ±33.3, ±0): |sum| 66.7 in 4 of 8 assignments
        questions = rows[(metric, "questions")]
        assert questions["n"] == "6"
        # per question, A − B averaged over the three seeds: 0, 0, 33.3, 66.7, 33.3, 0 → the same mean
        per_question = np.array([0, 0, third, 2 * third, third, 0])
        assert float(questions["mean"]) == pytest.approx(mean, abs=1e-6)
        low, high = bootstrap_interval(per_question, SEED)
        assert (float(questions["bootstrap_low"]), float(questions["bootstrap_high"])) == pytest.approx((low, high), abs=1e-6)
    md = (paired_sweep / "comparison.md").read_text()
    assert "| squad / 16 | 3 | 1: +33.3, 2: +33.3, 3: +0.0 | +22.2 ± 19.2 |" in md
    assert "Not paired" not in md and "No question-level" not in md
    assert "# Paired comparisons" in capsys.readouterr().out


def test_rows_by_overrides_and_baseline(paired_sweep):
    eval_file = paired_sweep.parent / "dev.jsonl"
    for seed in (1, 2, 3):
        write_job(paired_sweep, "C", seed, eval_file, answers(6))
    assert main([str(paired_sweep), "--compare", "model=B", "model.name=A", "--baseline", "A"]) == 0
    md = (paired_sweep / "comparison.md").read_text()
    assert [line for line in md.splitlines() if line.startswith("## ")] == ["## B − A", "## C − A"]  # B − A once


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--compare", "A", "Z"], "'Z': no such row (rows: A; B)"), (["--compare", "A", "A"], "'A' against itself")],
)
def test_unknown_row_is_one_line(paired_sweep, capsys, args, message):
    assert main([str(paired_sweep), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (paired_sweep / "comparison.md").exists()


def test_runs_that_cannot_be_paired_are_listed_with_the_reason(tmp_path):
    eval_file = write_eval(tmp_path / "dev.jsonl")
    other_eval = write_eval(tmp_path / "other.jsonl", {"q1": "cat", "q2": "mat"})
    root = tmp_path / "sweep"
    write_job(root, "A", 1, eval_file, answers(4))
    write_job(root, "B", 1, eval_file, answers(2))  # the one pair
    write_job(root, "A", 2, eval_file, answers(4))
    write_job(root, "B", 2, other_eval, answers(2))  # another evaluation file
    write_job(root, "A", 3, eval_file, answers(4))
    write_job(root, "B", 3, eval_file, answers(2), num_questions=3,
              data={"eval_sha256": file_sha256(eval_file), "max_eval_examples": 3})  # a subset of it
    write_job(root, "A", 4, eval_file, answers(4))  # B has no run on split 4
    write_job(root, "A", 5, eval_file, answers(4))
    failed = root / "B" / "seed-5"  # B's job on split 5 failed
    failed.mkdir(parents=True)
    (failed / "error.json").write_text(json.dumps({"status": "failed", "error": "boom", "overrides": [
        "model.name=B", "data.dataset=squad", "data.shots=16", "data.seed=5"]}))
    assert main([str(root), "--compare", "A", "B"]) == 0
    md = (root / "comparison.md").read_text()
    assert "Not paired (4: left out of the numbers above):" in md
    assert "split seed 2, training seed 42: not paired, different evaluation sets: A " in md
    assert "split seed 3, training seed 42: not paired, different evaluation question sets: A 6 questions " \
           "(max_eval_examples None), B 3 (max_eval_examples 3)" in md
    assert f"split seed 4, training seed 42: only A ({root / 'A' / 'seed-4' / 'results.json'}); B has no run " \
           "with these seeds" in md
    assert "split seed 5, training seed 42: only A" in md and "B's job on this split failed (error.json)" in md
    seeds = [r for r in read_csv(root / "comparison.csv") if r["level"] == "seeds"]
    assert {r["n"] for r in seeds} == {"1"}  # only the one pair is in the numbers
    assert seeds[0]["note"] == "4 seed(s) not paired (comparison.md)"


def test_training_seed_is_part_of_the_pairing(tmp_path):
    eval_file = write_eval(tmp_path / "dev.jsonl")
    root = tmp_path / "sweep"
    write_job(root, "A", 1, eval_file, answers(4), training_seed=42)
    write_job(root, "B", 1, eval_file, answers(2), training_seed=7)
    assert main([str(root), "--compare", "A", "B"]) == 0
    md = (root / "comparison.md").read_text()
    assert "| squad / 16 | 0 | - | - |" in md
    assert "split seed 1, training seed 42: only A" in md and "its run on this split has training seed 7" in md
    assert "split seed 1, training seed 7: only B" in md
    assert "squad / 16: no paired runs" in md


def test_question_level_refusals_say_why(paired_sweep):
    (paired_sweep / "B" / "seed-2" / "predictions.json").unlink()
    assert main([str(paired_sweep), "--compare", "A", "B"]) == 0
    md = (paired_sweep / "comparison.md").read_text()
    assert f"{paired_sweep / 'B' / 'seed-2' / 'predictions.json'}: not found" in md
    assert "| +22.2 ± 19.2 |" in md  # the seed-level numbers stay
    rows = read_csv(paired_sweep / "comparison.csv")
    assert [r["n"] for r in rows if r["level"] == "questions"] == ["0", "0"]
    # predictions that do not reproduce results.json (another question set, an edited file) are refused
    (paired_sweep / "B" / "seed-2" / "predictions.json").write_text(json.dumps(answers(6)))
    assert main([str(paired_sweep), "--compare", "A", "B"]) == 0
    md = (paired_sweep / "comparison.md").read_text()
    assert "predictions.json scores f1 100.0000 on" in md and "results.json says 50.0000" in md


def test_single_seed_cell_has_question_level_interval_only(tmp_path):
    eval_file = write_eval(tmp_path / "dev.jsonl")
    root = tmp_path / "sweep"
    write_job(root, "A", 1, eval_file, answers(5))
    write_job(root, "B", 1, eval_file, answers(2))
    assert main([str(root), "--compare", "A", "B"]) == 0
    row = next(r for r in read_csv(root / "comparison.csv") if r["metric"] == "f1" and r["level"] == "seeds")
    assert (row["n"], row["t_low"], row["p_value"]) == ("1", "", "1.000000")
    assert (row["bootstrap_low"], row["bootstrap_high"]) == ("", "")  # one seed: no interval over seeds
    q = next(r for r in read_csv(root / "comparison.csv") if r["metric"] == "f1" and r["level"] == "questions")
    # per question: 0, 0, 100, 100, 100, 0 → mean 50, resampled over the six questions
    assert float(q["mean"]) == 50.0 and float(q["bootstrap_low"]) < 50.0 < float(q["bootstrap_high"])


def test_an_evaluation_file_edited_since_the_run_is_refused_for_questions(paired_sweep):
    eval_file = paired_sweep.parent / "dev.jsonl"
    eval_file.write_text(eval_file.read_text() + "\n", encoding="utf-8")  # same questions, other bytes
    assert main([str(paired_sweep), "--compare", "A", "B"]) == 0
    md = (paired_sweep / "comparison.md").read_text()
    assert "the evaluation file changed since" in md and "(sha256 differs)" in md


def test_real_runs_predictions_reproduce_their_results(tmp_path):
    # the contract with the trainer: its predictions.json, scored per question against the evaluation
    # file it recorded, gives the F1 and EM of its results.json (else the question level is refused)
    from tests.run_helpers import run_train

    sweep = tmp_path / "multirun"
    for i, (name, lr) in enumerate((("tiny-a", "1e-3"), ("tiny-b", "1e-4"))):
        run_train(sweep / f"{i}-{name}", f"model.name={name}", f"task.module.lr={lr}", "task.max_steps=2")
    assert main([str(sweep), "--no-paper", "--compare", "tiny-a", "tiny-b"]) == 0
    rows = read_csv(sweep / "comparison.csv")
    results = json.loads((sweep / "0-tiny-a" / "results.json").read_text())
    questions = [r for r in rows if r["level"] == "questions"]
    assert [r["n"] for r in questions] == [str(results["num_questions"])] * 2, questions[0]["note"]
    seeds = {r["metric"]: r for r in rows if r["level"] == "seeds"}
    for r in questions:
        assert float(r["mean"]) == pytest.approx(float(seeds[r["metric"]]["mean"]), abs=1e-5)
