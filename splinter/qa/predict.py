"""`predict.py`: answer every question of a file with a checkpoint; answers go to a JSONL file.

Output: one line per answered question, in input order,
``{"id", "answer", "start", "end", "score"}`` (character offsets into the context; ``probability``
with ``probability=true``; ``n_best``: the ``top_k`` best distinct answers when ``top_k`` > 1). The file
is written under a temporary name and renamed when complete. Questions that cannot be answered are
skipped and counted by reason, in the summary line printed at the end and in ``<output>.summary.json``.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections import Counter
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from splinter.data.questions import stream_questions
from splinter.errors import ConfigError
from splinter.files import atomic_write, check_writable_target, refuse_overwriting_inputs, write_json
from splinter.qa.answerer import SETTING_KEYS, QuestionAnswerer, Skipped
from splinter.run.config_checks import boolean, check_config, integer

log = logging.getLogger("splinter")

PREDICT_RULES = {"top_k": integer(1), "probability": boolean(), "progress": boolean()}


def run(cfg: DictConfig) -> dict:
    started = time.perf_counter()
    for key in ("checkpoint", "input", "output"):
        if not cfg.get(key):
            raise ConfigError(key, "is required: python predict.py checkpoint=<dir|hub id|run.ckpt|minilm> "
                              "input=<questions file> output=<answers.jsonl>")
    check_config(cfg, PREDICT_RULES)
    top_k = cfg.top_k
    output = Path(cfg.output)
    if output.is_dir():  # found before the model answers every question, not when the answers are written
        raise ConfigError("output", f"{output} is a directory: give the answers file, e.g. {output / 'answers.jsonl'}")
    summary_path = output.with_name(output.name + ".summary.json")
    # before anything is read: the answers must never replace the questions or the model
    for path in (output, summary_path):
        refuse_overwriting_inputs([("output", path)], {"input": cfg.input, "checkpoint": cfg.checkpoint})
        check_writable_target(path)
    settings = answerer_settings(cfg)

    summary, questions = stream_questions(cfg.input)  # read again lazily: memory flat in the question count
    log.info("%s", summary)
    qa = load_answerer(cfg, settings)

    skipped = Counter(summary.skipped)
    answered = 0
    # tee: the answerer reads up to one chunk of questions ahead of the ids, which tee holds meanwhile
    for_ids, for_answers = itertools.tee(questions)
    stream = qa.answer_stream(((q["question"], q["context"]) for q in for_answers),
                              top_k=top_k if top_k > 1 else None, probability=bool(cfg.probability))
    with atomic_write(output) as f:
        bar = tqdm(zip(for_ids, stream, strict=True), total=summary.kept, unit="question",
                   desc="Answering", disable=not cfg.progress)
        for question, result in bar:
            if isinstance(result, Skipped):
                skipped[result.reason] += 1
                continue
            f.write((json.dumps(_line(question["id"], result), ensure_ascii=False) + "\n").encode("utf-8"))
            answered += 1

    report = {
        "input": str(cfg.input),
        "output": str(output),
        "checkpoint": str(cfg.checkpoint),
        "questions": summary.total,
        "answered": answered,
        "skipped": dict(sorted(skipped.items())),
        "settings_source": qa.settings_source,
        "wall_seconds": round(time.perf_counter() - started, 2),
    }
    write_json(summary_path, report)
    skips = ", ".join(f"{n} {reason}" for reason, n in report["skipped"].items())
    print(f"answered {answered} / {summary.total} questions{': skipped ' + skips if skips else ''}  → {output}")
    return report


def answerer_settings(cfg: DictConfig) -> dict:
    """The `settings.*` overrides of a predict.py / serve.py config, each a QuestionAnswerer setting."""
    settings = OmegaConf.to_container(cfg.settings, resolve=True) if cfg.get("settings") else {}
    unknown = sorted(set(settings) - set(SETTING_KEYS))
    if unknown:
        raise ConfigError(f"settings.{unknown[0]}", "not a QuestionAnswerer setting", choices=SETTING_KEYS)
    return settings


def load_answerer(cfg: DictConfig, settings: dict) -> QuestionAnswerer:
    """`cfg.checkpoint` on `cfg.device` / `cfg.dtype` with the `settings` overrides; logs where the
    window and decoding settings came from."""
    qa = QuestionAnswerer.from_pretrained(str(cfg.checkpoint), device=cfg.device, dtype=cfg.dtype, **settings)
    log.info("settings from %s: %s, %s", qa.settings_source, qa.windows, qa.decoding)
    return qa


def _line(qid: str, result: dict | list) -> dict:
    if isinstance(result, list):  # top_k > 1: the best answer's fields, then the n-best list
        best = result[0] if result else {"answer": "", "start": None, "end": None, "score": None}
        return {"id": qid, **best, "n_best": result}
    return {"id": qid, **result}
