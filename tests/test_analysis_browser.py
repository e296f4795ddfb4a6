"""analysis.html in a real headless Chromium (tests/browser.py), opened from disk after a real tiny
fine-tuning run whose evaluation set holds markup, entities, RTL text and emoji in a passage and a
question: the counts, the filters, the search, a question opened with its gold and predicted spans
marked, and no script of the data run."""

from __future__ import annotations

import json

import pytest
from run_helpers import REPO, run_train

from splinter.qa.analysis import ANALYSIS_FILE
from splinter.qa.metrics import per_question_scores

PREFIX = ('Ads &amp; "double" \'single\' </script><script>window.__injected = 1</script> '
          "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627 \U0001F600. ")
NASTY_QUESTION = 'Who won <img src=x onerror="window.__injected = 2"> & "why"?'


def _evaluation_file(path):
    """The SQuAD fixture with PREFIX before its first passage (answer offsets shifted) and one more
    question about it whose text holds markup."""
    data = json.loads((REPO / "tests/fixtures/squad_v1_slice.json").read_text())
    paragraph = data["data"][0]["paragraphs"][0]
    paragraph["context"] = PREFIX + paragraph["context"]
    for qa in paragraph["qas"]:
        for answer in qa["answers"]:
            answer["answer_start"] += len(PREFIX)
    start = paragraph["context"].index("Denver Broncos")
    paragraph["qas"].insert(0, {"id": "nasty", "question": NASTY_QUESTION,
                                "answers": [{"text": "Denver Broncos", "answer_start": start}]})
    path.write_text(json.dumps(data), encoding="utf-8")
    return {qa["id"]: [a["text"] for a in qa["answers"]]
            for article in data["data"] for p in article["paragraphs"] for qa in p["qas"]}


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    references = _evaluation_file(out / "eval.json")
    results = run_train(out / "run", f"data.eval_file={out / 'eval.json'}")
    predictions = json.loads((out / "run/predictions.json").read_text())
    scores = per_question_scores(predictions, {qid: references[qid] for qid in predictions})
    return out / "run", results, predictions, scores


def _count(page) -> int:
    return int(page.get_attribute("#count", "data-count"))


def test_the_page_shows_every_scored_question_filters_searches_and_marks_the_spans(evaluated, browser_page, tmp_path):
    run, results, predictions, scores = evaluated
    page = browser_page
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto((run / ANALYSIS_FILE).as_uri())
    page.wait_for_selector("body[data-ready]")

    total = results["num_questions"]
    assert _count(page) == total == len(scores)
    assert page.text_content("#summary-count") == f"{total} scored questions"
    assert page.text_content("#summary-f1").startswith(f"{results['f1']:.2f}")

    wrong = sum(s["exact_match"] == 0 and s["f1"] == 0 for s in scores.values())
    partly = sum(s["exact_match"] == 0 and s["f1"] > 0 for s in scores.values())
    page.click("button[data-filter=wrong]")
    assert _count(page) == wrong
    assert page.locator("article.q:not(.wrong)").count() == 0
    page.click("button[data-filter=partial]")
    assert _count(page) + wrong == sum(s["exact_match"] == 0 for s in scores.values())
    assert _count(page) == partly
    page.click("button[data-filter=all]")

    page.fill("#search", "onerror")
    page.wait_for_selector("#count[data-count='1']")  # the search waits for typing to pause
    card = page.locator("article.q").first
    assert card.get_attribute("data-id") == "nasty"
    assert card.locator(".question").text_content() == NASTY_QUESTION  # markup shown as text

    card.locator(".head").click()
    gold = card.locator(".passage .gold")
    assert "".join(gold.all_text_contents()) == "Denver Broncos"
    predicted = predictions["nasty"]
    assert "".join(card.locator(".passage .pred").all_text_contents()) == predicted
    assert predicted and card.locator(".passage .pred").count() >= 1  # the tiny model predicts some span
    card.locator("button.whole").click()
    passage = card.locator(".passage").text_content()
    assert "</script><script>window.__injected = 1</script>" in passage and "&amp;" in passage
    assert "\u05e9\u05dc\u05d5\u05dd" in passage and "\U0001F600" in passage
    if card.locator("table.nbest tr").count():  # the n-best table: its first candidate is the prediction
        assert card.locator("table.nbest tr.chosen td.text").first.text_content() == predicted

    assert page.evaluate("window.__injected") is None  # neither the passage's script nor the question's img ran
    assert page.evaluate("document.scripts.length") == 2 and page.locator("img").count() == 0
    assert errors == []
    page.screenshot(path=str(tmp_path / "analysis.png"))
    assert (tmp_path / "analysis.png").stat().st_size > 0
