"""analysis.html (splinter/qa/analysis.py): the page's data from the evaluation, escaped so that no text
of the data becomes markup, written by fine-tuning and evaluate.py unless eval.analysis=false, and
without changing predictions.json. The page in a real browser: tests/test_analysis_browser.py."""

from __future__ import annotations

import json
import re

import pytest
import torch
from run_helpers import compose_config, run_evaluate, run_train

from splinter.data.evaluation_set import EvaluationSet
from splinter.errors import ConfigError
from splinter.qa.analysis import (
    ANALYSIS_FILE,
    analysis_data,
    answer_length_bin,
    embed_json,
    question_type,
    render,
)
from splinter.qa.metrics import per_question_scores
from splinter.qa.span_metric import SpanMetric
from splinter.run.config_checks import check_config

NASTY = ('Ads &amp; "double" \'single\' </script><script>window.__injected = 1</script><!-- x --> '
         "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627 \U0001F600\U0001F389 line\u2028sep\u2029end. ")
CONTEXT = NASTY + "The answer is Paris, in France."


def _examples(context=CONTEXT, answer="Paris"):
    start = context.index(answer)
    return {"id": ["q1"], "question": ["Where <b>is</b> it & why?"], "context": [context],
            "answer_texts": [[answer]], "answer_starts": [[start]], "gold_answers": [[answer]]}


def _utf16_slice(text: str, span: list[int]) -> str:
    return text.encode("utf-16-le")[2 * span[0]:2 * span[1]].decode("utf-16-le")


def _embedded(page: str) -> str:
    return re.search(r'<script type="application/json" id="splinter-data">(.*?)</script>', page, re.S).group(1)


def test_data_cannot_close_the_script_element_or_start_markup():
    examples = _examples()
    start = CONTEXT.index("Paris, in")
    answers = {"q1": {"start": start, "end": start + 13, "score": 3.5,
                      "n_best": [[start, start + 13, 3.5, 0.75], [start, start + 5, 2.4, 0.25]]}}
    data = analysis_data(examples, {"q1": "Paris, in Fra"}, {"q1": ["Paris"]}, answers, {"model_name": "<i>m</i>"})
    page = render(data)
    # the template's two script elements and nothing else: the data's "</script><script>" is escaped
    assert page.count("<script") == 2 and page.count("</script>") == 2
    embedded = _embedded(page)
    for raw in ("<", ">", "&", "\u2028", "\u2029"):
        assert raw not in embedded
    assert "\\u003c/script\\u003e" in embedded and "\\u0026amp;" in embedded
    assert json.loads(embedded) == json.loads(json.dumps(data))  # what JSON.parse reads: the data itself
    assert "\u05e9\u05dc\u05d5\u05dd" in embedded and "\U0001F600" in embedded  # UTF-8, not escaped
    assert embed_json({"a": "</script>"}) == '{"a":"\\u003c/script\\u003e"}'


def test_offsets_are_javascript_string_indices_after_non_bmp_characters():
    examples = _examples()
    start = CONTEXT.index("Paris")
    answers = {"q1": {"start": start, "end": start + 5, "score": 1.0, "n_best": [[start, start + 5, 1.0, 1.0]]}}
    data = analysis_data(examples, {"q1": "Paris"}, {"q1": ["Paris"]}, answers, {})
    (row,) = data["questions"]
    columns = {name: i for i, name in enumerate(data["columns"])}
    context = data["contexts"][row[columns["context"]]]
    assert row[columns["gold_spans"]] == [[start + 2, start + 7]]  # two emoji: two more UTF-16 units
    assert _utf16_slice(context, row[columns["gold_spans"]][0]) == "Paris"
    assert _utf16_slice(context, row[columns["span"]]) == "Paris"
    assert _utf16_slice(context, row[columns["n_best"]][0][:2]) == "Paris"
    assert (row[columns["exact_match"]], row[columns["f1"]]) == (1.0, 1.0)


def test_scores_types_and_lengths_are_the_official_metrics():
    examples = {"id": ["a", "b", "c"], "question": ["In what year?", "Who?", "Name it."],
                "context": ["x 1999 y", "Ann and Bob", "x 1999 y"], "answer_texts": [["1999"], ["Ann"], []],
                "answer_starts": [[2], [0], []]}
    references = {"a": ["1999"], "b": ["Ann and Bob"], "c": ["the big red dog"]}
    predictions = {"a": "1999", "b": "Ann"}  # c unanswered: scores 0, as the metric says
    data = analysis_data(examples, predictions, references, None, {})
    scores = per_question_scores(predictions, references)
    columns = {name: i for i, name in enumerate(data["columns"])}
    assert [(r[columns["exact_match"]], r[columns["f1"]]) for r in data["questions"]] == [
        (scores[q]["exact_match"], round(scores[q]["f1"], 4)) for q in "abc"]
    assert len(data["contexts"]) == 2  # a shared passage is stored once
    assert [r[columns["span"]] for r in data["questions"]] == [None, None, None]  # texts only: no spans
    assert data["summary"]["by_type"] == [["what", 1, 100.0, 100.0], ["who", 1, 50.0, 0.0], ["other", 1, 0.0, 0.0]]
    assert [row[0] for row in data["summary"]["by_length"]] == ["1", "3"]  # "the big red dog" → 3 words
    assert question_type("In which year, and how?") == "which" and question_type("Name it.") == "other"
    assert answer_length_bin(["b c d e f g"]) == "6-10"  # normalised: "a", "the" are no words


def test_span_metric_keeps_n_best_without_changing_the_predictions():
    torch.manual_seed(0)
    windows = {"example_id": ["a", "a", "b"], "offsets": [[[-1, -1]] + [[i, i + 1] for i in range(7)]] * 3,
               "max_context": [[0] + [1] * 7] * 3}
    evaluation = EvaluationSet.from_windows(windows, {"a": "abcdefg", "b": "hijklmn"}, {"a": ["cd"], "b": ["k"]})
    start, end = torch.randn(3, 8), torch.randn(3, 8)
    results = []
    for keep in (False, True):
        metric = SpanMetric(evaluation, max_answer_length=3, n_best=4, keep_candidates=keep)
        metric.update(torch.arange(3), start, end)
        results.append(metric.compute())
    plain, detailed = results
    assert detailed["predictions"] == plain["predictions"] and detailed["f1"] == plain["f1"]
    assert "answers" not in plain
    for qid, answer in detailed["answers"].items():
        context = evaluation.contexts[qid]
        assert context[answer["start"]:answer["end"]] == plain["predictions"][qid]
        first = answer["n_best"][0]
        assert first[:3] == [answer["start"], answer["end"], answer["score"]]
        assert len({(a, b) for a, b, _, _ in answer["n_best"]}) == len(answer["n_best"])  # distinct spans
        assert sum(p for *_, p in answer["n_best"]) == pytest.approx(1.0)


def test_eval_analysis_is_a_checked_key(tmp_path):
    with pytest.raises(ConfigError, match=r"'eval.analysis': got 'maybe', allowed: true or false"):
        check_config(compose_config("train", tmp_path, "eval.analysis=maybe"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    on, off = tmp_path_factory.mktemp("on"), tmp_path_factory.mktemp("off")
    return (on, run_train(on)), (off, run_train(off, "eval.analysis=false"))


def test_fine_tuning_writes_the_page_and_the_same_predictions_as_without(runs):
    (on, results_on), (off, results_off) = runs
    assert (on / ANALYSIS_FILE).is_file() and not (off / ANALYSIS_FILE).exists()
    assert (on / "predictions.json").read_bytes() == (off / "predictions.json").read_bytes()
    assert (results_on["exact_match"], results_on["f1"]) == (results_off["exact_match"], results_off["f1"])
    data = json.loads(_embedded((on / ANALYSIS_FILE).read_text(encoding="utf-8")))
    predictions = json.loads((on / "predictions.json").read_text())
    columns = {name: i for i, name in enumerate(data["columns"])}
    assert len(data["questions"]) == results_on["num_questions"] == len(predictions)
    assert data["summary"]["f1"] == pytest.approx(results_on["f1"])
    assert data["run"]["model_name"] == "tiny" and data["run"]["steps"] == results_on["steps"]
    for row in data["questions"]:
        context = data["contexts"][row[columns["context"]]]
        assert row[columns["prediction"]] == predictions[row[columns["id"]]]
        if row[columns["span"]] is not None:  # the decoded span is the predicted text
            assert _utf16_slice(context, row[columns["span"]]) == row[columns["prediction"]]
            assert row[columns["n_best"]][0][:2] == row[columns["span"]]


def test_the_summary_line_gives_the_page_size(runs, tmp_path, capsys):
    (on, _), _ = runs
    results = run_evaluate(tmp_path, f"checkpoint={on / 'model'}")
    line = capsys.readouterr().out.strip().splitlines()[-1]
    size = (tmp_path / ANALYSIS_FILE).stat().st_size
    assert re.search(rf"\({ANALYSIS_FILE} {size / 1e3:.1f} KB\)$", line), line
    assert (tmp_path / "predictions.json").read_bytes() == (on / "predictions.json").read_bytes()
    assert results["f1"] == pytest.approx(json.loads(_embedded((tmp_path / ANALYSIS_FILE).read_text()))["summary"]["f1"])


def test_a_predictions_file_gets_a_page_without_spans(runs, tmp_path):
    (on, results_on), _ = runs
    run_evaluate(tmp_path, f"predictions={on / 'predictions.json'}")
    data = json.loads(_embedded((tmp_path / ANALYSIS_FILE).read_text()))
    assert data["summary"]["has_spans"] is False and data["summary"]["f1"] == pytest.approx(results_on["f1"])
    assert len(data["questions"]) == results_on["num_questions"]
