"""analysis.html at the scale of the MRQA SQuAD dev set: the page's size, and its load, filter, search,
sort and paging times in the system's headless Chromium (tests/browser.py's).

    python bench/analysis_page.py [--dev <MRQA dev .jsonl.gz>] [--out /tmp/analysis-10k.html]

The questions, passages and gold spans are the real dev file's; the predictions are synthetic (the gold
span for 60 % of the questions, else random spans, 20 candidates each), so no model has to run.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from browser import CHROMIUM_FLAGS, chromium_path  # noqa: E402

from splinter.data.formats.readers import read_examples  # noqa: E402
from splinter.qa.analysis import analysis_data, human_size, write_analysis  # noqa: E402

COLUMNS = ("id", "question", "context", "answer_texts", "answer_starts", "gold_answers")


def synthetic_answers(columns: dict, rng: random.Random) -> tuple[dict, dict]:
    predictions, answers = {}, {}
    for qid, context, texts, starts in zip(*(columns[c] for c in ("id", "context", "answer_texts", "answer_starts")),
                                           strict=True):
        spans = [(starts[0], starts[0] + len(texts[0]))] if texts and rng.random() < 0.6 else []
        while len(spans) < 20:
            start = rng.randrange(0, max(1, len(context) - 30))
            spans.append((start, start + rng.randrange(3, 30)))
        scores = sorted((rng.uniform(-2, 12) for _ in spans), reverse=True)
        weights = [math.exp(s - scores[0]) for s in scores]
        answers[qid] = {"start": spans[0][0], "end": spans[0][1], "score": scores[0],
                        "n_best": [[a, b, s, w / sum(weights)] for (a, b), s, w in zip(spans, scores, weights, strict=True)]}
        predictions[qid] = context[spans[0][0]:spans[0][1]]
    return predictions, answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", default=str(REPO.parent / "shared/data/mrqa-dev/SQuAD.jsonl.gz"))
    parser.add_argument("--out", default="/tmp/analysis-10k.html")
    args = parser.parse_args()
    examples, _ = read_examples(args.dev, training=False)
    columns = {name: examples[name] for name in COLUMNS}
    predictions, answers = synthetic_answers(columns, random.Random(0))
    references = dict(zip(columns["id"], columns["gold_answers"], strict=True))
    started = time.perf_counter()
    data = analysis_data(columns, predictions, references, answers, {"model_name": "synthetic", "eval_dataset": "squad"})
    size = write_analysis(args.out, data)
    print(f"{len(references)} questions: {human_size(size)}, built and written in {time.perf_counter() - started:.2f} s")

    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for trial in range(3):
            times = {}
            started = time.perf_counter()
            page.goto(Path(args.out).resolve().as_uri())
            page.wait_for_selector("body[data-ready]")
            times["load"] = time.perf_counter() - started
            started = time.perf_counter()
            page.click("button[data-filter=wrong]")
            wrong = page.get_attribute("#count", "data-count")
            times["filter wrong"] = time.perf_counter() - started
            started = time.perf_counter()
            page.fill("#search", "super bowl")
            page.wait_for_selector(f"#count:not([data-count='{wrong}'])")
            times["search (with its 120 ms pause)"] = time.perf_counter() - started
            started = time.perf_counter()
            page.select_option("#sort", "score-asc")
            page.get_attribute("#count", "data-count")
            times["sort"] = time.perf_counter() - started
            page.fill("#search", "")
            page.wait_for_selector(f"#count[data-count='{wrong}']")
            started = time.perf_counter()
            page.click("button.next")
            times["next page"] = time.perf_counter() - started
            print(f"trial {trial}: " + ", ".join(f"{name} {1000 * s:.0f} ms" for name, s in times.items()))
        browser.close()


if __name__ == "__main__":
    main()
