"""Paired comparisons of report rows: ``python -m splinter.report DIR --compare A B`` / ``--baseline ROW``.

Few-shot scores swing by several points from one split seed to the next, so two rows' means ± std
cannot say whether one beats the other; the runs of the two rows on the same split can. Per cell
(dataset × shots) of a pair of rows A and B:

* runs are paired by split seed (``data.seed``) and training seed (results.json's ``seed``). A run
  whose partner is missing, or whose partner was evaluated on another evaluation file (sha256, else
  path) or another question set (question count, ``data.max_eval_examples``), or trained on another
  file for the same split, is listed with the reason and never used;
* the per-seed differences A − B of F1 and EM (points), their mean, two 95 % intervals over seeds
  (t-interval; percentile bootstrap over seeds), the seeds favouring each side and the sign-flip
  permutation p-value (splinter.reporting.statistics);
* a question-level paired bootstrap: both runs' ``predictions.json`` scored per question with the
  official metric (splinter.qa.metrics) against the gold answers of the evaluation file, the differences
  averaged over the cell's paired seeds per question, and the questions resampled. It says how much of
  the difference the evaluation sample alone could produce, and exists for a single-seed cell too. It
  needs every paired run's predictions.json and evaluation file, per-question scores that reproduce
  the run's results.json, and the same questions on both sides; otherwise the cell says why not.

Resampling is seeded (``SEED``): the same runs give the same files.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from splinter.errors import SplinterError
from splinter.files import atomic_path, write_text
from splinter.reporting.cells import Column, Row, Table
from splinter.reporting.runs import METRICS, RunResult
from splinter.reporting.statistics import LEVEL, bootstrap_interval, sign_flip_p, t_interval

SEED = 0
METRIC_TITLES = {"f1": "F1", "exact_match": "Exact match"}
CSV_FIELDS = (
    "a", "b", "dataset", "eval_dataset", "shots", "metric", "level", "n", "mean", "t_low", "t_high",
    "bootstrap_low", "bootstrap_high", "a_better", "b_better", "equal", "p_value", "p_method",
    "differences", "note",
)  # fmt: skip
SCORE_TOLERANCE = 1e-6  # per-question scores must reproduce results.json's F1 and EM (points) to this


# --------------------------------------------------------------------------------------------------
# Choosing rows.


def find_row(spec: str, rows: Sequence[Row]) -> Row:
    """The one row that `spec` names: its label as the report prints it, its model name, or overrides
    ``key=value[, key=value]`` (``model=`` / ``model.name=`` the model, other keys a row setting)."""
    for exact in (lambda r: r.label == spec, lambda r: r.model == spec and not r.settings):
        found = [r for r in rows if exact(r)]
        if len(found) == 1:
            return found[0]
    found = [r for r in rows if _matches(spec, r)]
    if len(found) == 1:
        return found[0]
    names = "; ".join(r.label for r in sorted(rows, key=Row.sort_key))
    if not found:
        raise SplinterError(f"--compare/--baseline {spec!r}: no such row (rows: {names})")
    matched = "; ".join(r.label for r in sorted(found, key=Row.sort_key))
    raise SplinterError(f"--compare/--baseline {spec!r} names {len(found)} rows ({matched}): add overrides to pick one")


def _matches(spec: str, row: Row) -> bool:
    parts = [p.strip() for p in spec.replace(",", " ").split() if p.strip()]
    if not parts:
        return False
    settings = dict(row.settings)
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep:
            if part != row.model:
                return False
        elif key in ("model", "model.name"):
            if value != row.model:
                return False
        elif settings.get(key) != value:
            return False
    return True


def pairs_to_compare(table: Table, compare: Sequence[Sequence[str]], baseline: str | None) -> list[tuple[Row, Row]]:
    rows = sorted({row for row, _ in table}, key=Row.sort_key)
    pairs = [(find_row(a, rows), find_row(b, rows)) for a, b in compare]
    if baseline is not None:
        base = find_row(baseline, rows)
        pairs += [(row, base) for row in rows if row != base]
    for a, b in pairs:
        if a == b:
            raise SplinterError(f"--compare: {a.label!r} against itself")
    return list(dict.fromkeys(pairs))


# --------------------------------------------------------------------------------------------------
# What pairing needs from each run's results.json beyond splinter.reporting.runs.RunResult.


@dataclass(frozen=True)
class Side:
    run: RunResult
    training_seed: object  # results.json's seed (None when not recorded)
    eval_file: str | None
    eval_sha256: str | None
    questions: int | None
    max_eval_examples: object
    train_sha256: str | None

    @classmethod
    def of(cls, run: RunResult) -> Side:
        data = json.loads(run.path.read_text(encoding="utf-8"))  # read and checked by read_sweep already
        info = data.get("data") if isinstance(data.get("data"), dict) else {}
        summaries = [s for s in info.get("summaries", []) if isinstance(s, dict)]
        eval_sha = info.get("eval_sha256") or next((s.get("sha256") for s in summaries if s.get("split") == "eval"), None)
        return cls(run, data.get("seed"), data.get("eval_file") or info.get("eval_file"), eval_sha or None,
                   data.get("num_questions"), info.get("max_eval_examples"),
                   data.get("train_file_sha256") or info.get("train_sha256") or None)

    @property
    def key(self) -> tuple:
        return (self.run.split_seed, self.training_seed)


def seed_label(key: tuple) -> str:
    split, training = key
    return f"split seed {'file' if split is None else split}, training seed {training}"


def refusal(a: Side, b: Side, names: tuple[str, str] = ("A", "B")) -> str | None:
    """Why two runs with the same seeds cannot be paired, or None. `names`: the two rows' labels."""
    na, nb = names
    if a.eval_sha256 and b.eval_sha256:
        if a.eval_sha256 != b.eval_sha256:
            return (f"different evaluation sets: {na} {a.eval_file} (sha256 {a.eval_sha256[:12]}), "
                    f"{nb} {b.eval_file} (sha256 {b.eval_sha256[:12]})")
    elif a.eval_file != b.eval_file:
        return f"different evaluation sets: {na} {a.eval_file}, {nb} {b.eval_file}"
    if a.questions != b.questions or a.max_eval_examples != b.max_eval_examples:
        return (f"different evaluation question sets: {na} {a.questions} questions (max_eval_examples "
                f"{a.max_eval_examples}), {nb} {b.questions} (max_eval_examples {b.max_eval_examples})")
    if a.train_sha256 and b.train_sha256 and a.train_sha256 != b.train_sha256:
        return (f"different training files for the same split: {na} sha256 {a.train_sha256[:12]}, "
                f"{nb} sha256 {b.train_sha256[:12]}")
    return None


# --------------------------------------------------------------------------------------------------
# Per-question scores.


class References:
    """Gold answers per evaluation file, read once with the project's reader."""

    def __init__(self) -> None:
        self._read: dict[str, dict[str, list[str]] | str] = {}
        self._sha256: dict[str, str] = {}

    def get(self, side: Side) -> dict[str, list[str]] | str:
        """question id → gold answers, or the reason they cannot be had."""
        name = side.eval_file
        if not name:
            return f"{side.run.path}: no eval_file recorded"
        if name not in self._read:
            self._read[name] = _read_references(name)
        found = self._read[name]
        if isinstance(found, dict) and side.eval_sha256 and Path(name).is_file():
            if name not in self._sha256:  # hashed once: a sweep's runs share one evaluation file
                from splinter.data.formats.readers import file_sha256

                self._sha256[name] = file_sha256(name)
            if self._sha256[name] != side.eval_sha256:
                return f"{name}: the evaluation file changed since {side.run.path} was written (sha256 differs)"
        return found


def _read_references(name: str) -> dict[str, list[str]] | str:
    from splinter.data.formats.readers import (
        read_examples,  # datasets: imported only when questions are scored
    )

    if not Path(name).exists() and ("/" in name or name.endswith((".gz", ".jsonl", ".json"))):
        return (f"evaluation file {name} not found (results.json paths are relative to the directory the "
                "run started in: run the report from there)")
    try:
        examples, _ = read_examples(name, training=False)
    except SplinterError as err:
        return f"evaluation file {name}: {err}"
    return dict(zip(examples["id"], examples["gold_answers"], strict=True))


def question_scores(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> dict[str, np.ndarray]:
    """metric → per-question score in points (0 or 100 for EM), in the order of `references`: the
    official metric's per-question numbers, whose mean is `squad_scores`."""
    from splinter.qa.metrics import per_question_scores

    scores = per_question_scores(predictions, references)
    return {m: 100.0 * np.array([scores[q][m] for q in references], dtype=np.float64) for m in METRICS}


def _predictions(side: Side) -> dict[str, str] | str:
    path = side.run.path.parent / "predictions.json"
    if not path.is_file():
        return f"{path}: not found"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return f"{path}: cannot read ({err})"
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        return f"{path}: not a JSON object of question id → answer text"
    return data


def _scored(side: Side, references: References) -> dict[str, np.ndarray] | str:
    predictions = _predictions(side)
    if isinstance(predictions, str):
        return predictions
    gold = references.get(side)
    if isinstance(gold, str):
        return gold
    limit = side.max_eval_examples
    if isinstance(limit, int) and not isinstance(limit, bool) and limit < len(gold):
        gold = dict(list(gold.items())[:limit])  # data.max_eval_examples: the first N questions in file order
    unknown = [q for q in predictions if q not in gold]
    if unknown:
        return (f"{side.run.path.parent / 'predictions.json'}: {len(unknown)} question id(s) not in "
                f"{side.eval_file} (e.g. {unknown[0]!r})")
    scores = question_scores(predictions, gold)
    for metric in METRICS:
        recomputed, recorded = float(scores[metric].mean()), getattr(side.run, metric)
        if abs(recomputed - recorded) > SCORE_TOLERANCE:
            return (f"{side.run.path}: predictions.json scores {metric} {recomputed:.4f} on {side.eval_file}, "
                    f"results.json says {recorded:.4f} (another question set or evaluation file)")
    return scores


# --------------------------------------------------------------------------------------------------
# Cells.


@dataclass(frozen=True)
class SeedStats:
    differences: tuple[float, ...]
    mean: float
    t: tuple[float, float] | None
    bootstrap: tuple[float, float] | None  # None for one seed, as the t-interval: no spread to resample
    a_better: int
    b_better: int
    equal: int
    p: float
    p_method: str


@dataclass(frozen=True)
class QuestionStats:
    questions: int
    mean: float
    bootstrap: tuple[float, float]


@dataclass
class CellComparison:
    column: Column
    keys: list[tuple] = field(default_factory=list)  # the paired (split seed, training seed)s, sorted
    unpaired: list[str] = field(default_factory=list)  # a line per run left out, with the reason
    seeds: dict[str, SeedStats] = field(default_factory=dict)
    questions: dict[str, QuestionStats] = field(default_factory=dict)
    question_note: str = ""  # why there is no question-level bootstrap


@dataclass
class PairComparison:
    a: Row
    b: Row
    cells: list[CellComparison]


def seed_stats(differences: Sequence[float], seed: int = SEED) -> SeedStats:
    diffs = tuple(float(d) for d in differences)
    p, method = sign_flip_p(diffs, seed)
    spread = bootstrap_interval(diffs, seed) if len(diffs) > 1 else None
    return SeedStats(diffs, math.fsum(diffs) / len(diffs), t_interval(diffs), spread,
                     sum(d > 0 for d in diffs), sum(d < 0 for d in diffs), sum(d == 0 for d in diffs), p, method)


def _sort_key(key: tuple) -> tuple:
    return tuple((v is None, str(type(v)), v if v is not None else 0) for v in key)


def compare_cell(table: Table, a: Row, b: Row, column: Column, references: References) -> CellComparison:
    cell = CellComparison(column)
    sides = {}
    label = {"A": a.label, "B": b.label}  # the lines below name rows as the tables do
    for name, row in (("A", a), ("B", b)):
        found = table.get((row, column))
        sides[name] = {s.key: s for s in map(Side.of, found.runs if found else [])}
        failed = {f.split_seed for f in found.failed} if found else set()
        sides[name + "failed"] = failed
    for key in sorted(set(sides["A"]) | set(sides["B"]), key=_sort_key):
        mine = [(n, sides[n].get(key)) for n in ("A", "B")]
        missing = [n for n, s in mine if s is None]
        if missing:
            (have, side), (lacks,) = [(n, s) for n, s in mine if s is not None][0], missing
            others = sorted({str(s.training_seed) for k, s in sides[lacks].items() if k[0] == key[0]})
            why = f"{label[lacks]} has no run with these seeds"
            if key[0] in sides[lacks + "failed"]:
                why = f"{label[lacks]}'s job on this split failed (error.json)"
            elif others:
                why += f" (its run on this split has training seed {', '.join(others)})"
            cell.unpaired.append(f"{seed_label(key)}: only {label[have]} ({side.run.path}); {why}")
            continue
        reason = refusal(sides["A"][key], sides["B"][key], (a.label, b.label))
        if reason:
            cell.unpaired.append(f"{seed_label(key)}: not paired, {reason} ({sides['A'][key].run.path}, "
                                 f"{sides['B'][key].run.path})")
            continue
        cell.keys.append(key)
    if not cell.keys:
        cell.question_note = "no paired runs"
        return cell
    for metric in METRICS:
        cell.seeds[metric] = seed_stats(
            [getattr(sides["A"][k].run, metric) - getattr(sides["B"][k].run, metric) for k in cell.keys]
        )
    _question_level(cell, [(sides["A"][k], sides["B"][k]) for k in cell.keys], references)
    return cell


def _question_level(cell: CellComparison, pairs: list[tuple[Side, Side]], references: References) -> None:
    differences: dict[str, list[np.ndarray]] = {m: [] for m in METRICS}
    problems = []
    for a, b in pairs:
        scored = [_scored(side, references) for side in (a, b)]
        problems += [s for s in scored if isinstance(s, str)]
        if not problems:
            for metric in METRICS:
                differences[metric].append(scored[0][metric] - scored[1][metric])
    if problems:  # never a bootstrap over some of the cell's seeds: its mean would not be the cell's
        more = f" (and {len(problems) - 1} more run(s) alike)" if len(problems) > 1 else ""
        cell.question_note = f"{problems[0]}{more}"
        return
    for metric, rows in differences.items():
        per_question = np.mean(np.stack(rows), axis=0)  # the cell's mean difference, question by question
        cell.questions[metric] = QuestionStats(len(per_question), float(per_question.mean()),
                                               bootstrap_interval(per_question, SEED))


def compare_rows(table: Table, pairs: Sequence[tuple[Row, Row]]) -> list[PairComparison]:
    references = References()
    result = []
    for a, b in pairs:
        columns = sorted({c for (row, c) in table if row in (a, b)})
        result.append(PairComparison(a, b, [compare_cell(table, a, b, c, references) for c in columns]))
    return result


# --------------------------------------------------------------------------------------------------
# Markdown and CSV.


def _interval(interval: tuple[float, float] | None, digits: int) -> str:
    return "-" if interval is None else f"[{interval[0]:+.{digits}f}, {interval[1]:+.{digits}f}]"


def _std(stats: SeedStats, digits: int) -> str:
    n = len(stats.differences)
    if n < 2:
        return ""
    return f" ± {math.sqrt(math.fsum((d - stats.mean) ** 2 for d in stats.differences) / (n - 1)):.{digits}f}"


def _p(p: float) -> str:
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def _per_seed(cell: CellComparison, stats: SeedStats, digits: int) -> str:
    # the split seed names a pair unless training seeds vary within the cell
    one_training_seed = len({k[1] for k in cell.keys}) == 1
    labels = [str(k[0] if k[0] is not None else "file") if one_training_seed else
              f"{'file' if k[0] is None else k[0]}/{k[1]}" for k in cell.keys]
    return ", ".join(f"{label}: {d:+.{digits}f}" for label, d in zip(labels, stats.differences, strict=True))


def markdown(comparisons: Sequence[PairComparison], digits: int = 1) -> str:
    level = f"{LEVEL:.0%}".replace("%", " %")
    parts = [
        "# Paired comparisons",
        "",
        f"A − B in points, per cell, over the runs of both rows on the same split seed and training seed. "
        f"Intervals are {level}: t over seeds, bootstrap over seeds (percentile, seeded), and bootstrap over "
        f"evaluation questions (both runs' predictions scored per question, differences averaged over the "
        f"cell's seeds, questions resampled: the evaluation sample's noise alone). p: two-sided sign-flip "
        f"permutation test over seeds (exact for n <= 10, so the smallest p that n seeds can give is "
        f"2 / 2^n: 0.062 for 5). ± after the mean: sample std of the per-seed differences. Per-seed "
        f"difference: split seed (or split/training seed): A − B.",
        "",
    ]
    for pair in comparisons:
        parts += [f"## {pair.a.label} − {pair.b.label}", "", f"A = {pair.a.label}, B = {pair.b.label}.", ""]
        for metric in METRICS:
            parts += [
                f"### {METRIC_TITLES[metric]}",
                "",
                "| cell | n | per-seed difference | mean ± std | t-interval | bootstrap (seeds) | A > B / A < B / = "
                "| p | bootstrap (questions) |",
                "|---|---|---|---|---|---|---|---|---|",
            ]
            for cell in pair.cells:
                st = cell.seeds.get(metric)
                if st is None:
                    parts.append(f"| {cell.column.label} | 0 | - | - | - | - | - | - | - |")
                    continue
                q = cell.questions.get(metric)
                question = (f"{q.mean:+.{digits}f} {_interval(q.bootstrap, digits)} ({q.questions} q.)"
                            if q else "-")
                parts.append(
                    f"| {cell.column.label} | {len(st.differences)} | {_per_seed(cell, st, digits)} | "
                    f"{st.mean:+.{digits}f}{_std(st, digits)} | {_interval(st.t, digits)} | {_interval(st.bootstrap, digits)} | "
                    f"{st.a_better} / {st.b_better} / {st.equal} | {_p(st.p)} | {question} |"
                )
            parts.append("")
        notes = [f"- {c.column.label}: {c.question_note}" for c in pair.cells if c.question_note]
        if notes:
            parts += ["No question-level bootstrap:", "", *notes, ""]
        unpaired = [f"- {c.column.label}, {line}" for c in pair.cells for line in c.unpaired]
        if unpaired:
            parts += [f"Not paired ({len(unpaired)}: left out of the numbers above):", "", *unpaired, ""]
    return "\n".join(parts)


def write_csv(comparisons: Sequence[PairComparison], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_FIELDS)
        for pair in comparisons:
            for cell in pair.cells:
                place = [pair.a.label, pair.b.label, cell.column.dataset, cell.column.eval_dataset, cell.column.shots]
                note = f"{len(cell.unpaired)} seed(s) not paired (comparison.md)" if cell.unpaired else ""
                for metric in METRICS:
                    st = cell.seeds.get(metric)
                    if st is None:
                        writer.writerow([*place, metric, "seeds", 0, *[""] * 11, note or "no paired runs"])
                    else:
                        writer.writerow([
                            *place, metric, "seeds", len(st.differences), _num(st.mean), *_pair(st.t),
                            *_pair(st.bootstrap), st.a_better, st.b_better, st.equal, _num(st.p), st.p_method,
                            ";".join(f"{seed_label(k)}={_num(d)}" for k, d in zip(cell.keys, st.differences,
                                                                                   strict=True)),
                            note,
                        ])
                    q = cell.questions.get(metric)
                    if q is None:
                        writer.writerow([*place, metric, "questions", 0, *[""] * 11, cell.question_note])
                    else:
                        writer.writerow([*place, metric, "questions", q.questions, _num(q.mean), "", "",
                                         *_pair(q.bootstrap), *[""] * 6, ""])


def _num(value: float) -> str:
    return f"{value:.6f}"


def _pair(interval: tuple[float, float] | None) -> list[str]:
    return ["", ""] if interval is None else [_num(interval[0]), _num(interval[1])]


def write_comparison(
    table: Table, compare: Sequence[Sequence[str]], baseline: str | None, out: Path, digits: int = 1
) -> str:
    """Compare the rows, write comparison.md / .csv / .png into `out` (each atomically); the Markdown."""
    from splinter.reporting.compare_plot import comparison_figure

    comparisons = compare_rows(table, pairs_to_compare(table, compare, baseline))
    text = markdown(comparisons, digits)
    write_text(out / "comparison.md", text)
    with atomic_path(out / "comparison.csv") as tmp:
        write_csv(comparisons, tmp)
    with atomic_path(out / "comparison.png") as tmp:
        comparison_figure(comparisons).savefig(tmp, format="png")
    return text
