"""Peak memory of prediction against context length and question count, and of evaluation's decoding
state against question count (bench/README.md, "Memory against context length and question count").

    python bench/memory.py                                   # every point below (~3 min when idle)
    python bench/memory.py --contexts 10,100 --questions 1000 --eval-questions 10000

Every point runs in a fresh interpreter (this script with --worker), so that its peak resident memory
(`ru_maxrss`, a per-process high-water mark) is its own; the table shows it and its increase over the
RSS just before the measured step. The model is a random-weight tiny Splinter (2 layers, hidden 64,
MiniLM's 30,522-token vocabulary and tokenizer), saved once with `save_pretrained`: its weights are
~8 MB, so what grows is the pipeline's own state (windows, masks, offsets, decoding), not the model.

* ``--contexts`` (KB): `predict.py` (`splinter.qa.predict.run`, composed from conf/predict.yaml) on one
  question about a context of that many kilobytes of seeded random English words;
* ``--questions``: `predict.py` on that many questions, each with its own ~700-byte context (SQuAD's
  mean), in a JSONL file;
* ``--eval-questions``: evaluation's decoding state without a model: the windows Dataset
  (`build_windows`), `EvaluationSet.from_windows`, `SpanMetric.update` on random logits for every
  window (batches of 32) and `SpanMetric.compute` (answers + EM/F1), on that many questions (5 per
  context; 1 context in 50 of 3 KB, so that windows pad to 384 tokens as in SQuAD dev), read from a
  saved Dataset so that the windows are file-backed, as in evaluation.

Writes a JSON report (default bench/results/memory-<time>.json).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULT_MARK = "MEMORY "
WORDS = ("the of and to in is was for on that by with as it from at his an were are which be this has "
         "also or had not first its their after new one who two they but been have her she all other "
         "city river history government university population century company system team season "
         "album world national north south war party school church music station league film"
         ).split()


def current_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def random_text(n_bytes: int, seed: int) -> str:
    rng = random.Random(seed)
    words, size = [], 0
    while size < n_bytes:
        word = rng.choice(WORDS)
        if rng.random() < 0.08:
            word = f"{word.capitalize()}{rng.randrange(1000)}."
        words.append(word)
        size += len(word) + 1
    return " ".join(words)[:n_bytes]


def make_model(directory: Path) -> None:
    import torch

    from splinter.model.config import SplinterConfig
    from splinter.model.qa import SplinterForQuestionAnswering
    from splinter.tokenization.tokenizer import load_tokenizer

    torch.manual_seed(0)
    config = SplinterConfig(vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                            intermediate_size=128, max_position_embeddings=512)
    SplinterForQuestionAnswering(config).save_pretrained(directory, tokenizer=load_tokenizer("minilm"))


def write_questions(path: Path, n_questions: int, context_bytes: int) -> None:
    with path.open("w") as f:
        for i in range(n_questions):
            context = random_text(context_bytes, seed=i)
            question = f"What {random.Random(-i).choice(WORDS)} {random.Random(i + 7).choice(WORDS)}?"
            f.write(json.dumps({"id": f"q{i}", "question": question, "context": context}) + "\n")


def predict_worker(params: dict) -> dict:
    import torch
    from hydra import compose, initialize_config_dir

    torch.set_num_threads(params["threads"])
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("predict", overrides=[f"checkpoint={params['model']}", f"input={params['input']}",
                                            f"output={params['output']}", "progress=false", "device=cpu"])
    from splinter.qa.predict import run

    before = current_rss_mib()
    started = time.perf_counter()
    report = run(cfg)
    return {"answered": report["answered"], "peak_rss_mib": peak_rss_mib(), "rss_before_mib": before,
            "seconds": time.perf_counter() - started}


def eval_worker(params: dict) -> dict:
    import torch
    from datasets import Dataset, load_from_disk

    from splinter.data.evaluation_set import EvaluationSet
    from splinter.data.windows import WindowSettings, build_windows
    from splinter.qa.span_metric import SpanMetric
    from splinter.tokenization.tokenizer import load_tokenizer

    torch.set_num_threads(params["threads"])
    tokenizer = load_tokenizer("minilm")
    n = params["questions"]
    # 5 questions per context, as SQuAD; 1 context in 50 of 3,000 bytes (several windows of 384 tokens),
    # so that windows are padded to 384 as in SQuAD dev, whose longest contexts span several windows
    contexts = [random_text(3000 if i % 50 == 0 else 700, seed=i) for i in range(n // 5 + 1)]
    ids = [f"q{i}" for i in range(n)]
    context_of = {qid: contexts[i // 5] for i, qid in enumerate(ids)}
    # file-backed, as evaluation's examples are: the windows then go to a cache file, as there
    Dataset.from_dict({
        "id": ids, "question": [f"What {WORDS[i % len(WORDS)]} is it?" for i in range(n)],
        "context": [context_of[q] for q in ids], "answer_texts": [[context_of[q][:9]] for q in ids],
        "answer_starts": [[0] for _ in ids],
    }).save_to_disk(params["data"])
    examples = load_from_disk(params["data"])
    references = {q: [context_of[q][:9]] for q in ids}
    del contexts, ids
    before = current_rss_mib()
    started = time.perf_counter()
    windows = build_windows(examples, tokenizer, WindowSettings(), training=False)
    evaluation = EvaluationSet.from_windows(windows, context_of, references)
    del context_of, references
    metric = SpanMetric(evaluation)
    generator = torch.Generator().manual_seed(0)
    length = WindowSettings().max_seq_length  # the longest window here (3 KB contexts), as in SQuAD dev
    for begin in range(0, len(evaluation), 32):
        index = torch.arange(begin, min(begin + 32, len(evaluation)))
        metric.update(index, torch.randn(len(index), length, generator=generator),
                      torch.randn(len(index), length, generator=generator))
    result = metric.compute()
    return {"answered": result["num_questions"], "windows": result["num_windows"], "peak_rss_mib": peak_rss_mib(),
            "rss_before_mib": before, "seconds": time.perf_counter() - started, "f1": result["f1"]}


def run_point(params: dict, env: dict) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(params)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_MARK)]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-6000:])
        raise SystemExit(f"{params} failed (exit {proc.returncode})")
    return json.loads(lines[-1][len(RESULT_MARK):])


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contexts", default="10,100,500,1000,2000", help="context sizes in KB (one question)")
    parser.add_argument("--questions", default="1000,10000,50000", help="question counts for predict.py")
    parser.add_argument("--eval-questions", default="10000,50000", help="question counts for evaluation decoding")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    parser.add_argument("--out", default=None, help="JSON report (default bench/results/memory-<time>.json)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        sys.path.insert(0, str(ROOT))
        params = json.loads(args.worker)
        result = eval_worker(params) if params["kind"] == "eval" else predict_worker(params)
        print(RESULT_MARK + json.dumps(result), flush=True)
        return

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "WANDB_MODE": "disabled",
           "TOKENIZERS_PARALLELISM": "false"}
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see bench/README.md, "Shared machines"
    sys.path.insert(0, str(ROOT))
    rows = []
    print(f"{'point':>26} {'peak RSS':>10} {'increase':>10} {'seconds':>8}", flush=True)

    def show(label: str, row: dict) -> None:
        rows.append({"point": label, **row})
        print(f"{label:>26} {row['peak_rss_mib']:>6.0f} MiB {row['peak_rss_mib'] - row['rss_before_mib']:>6.0f} MiB "
              f"{row['seconds']:>8.1f}", flush=True)

    with tempfile.TemporaryDirectory(prefix="splinter-memory-") as tmp:
        tmp = Path(tmp)
        make_model(tmp / "model")
        base = {"kind": "predict", "model": str(tmp / "model"), "output": str(tmp / "answers.jsonl"),
                "threads": args.threads}
        for kb in _ints(args.contexts):
            write_questions(tmp / "questions.jsonl", 1, kb * 1000)
            show(f"predict, 1 context {kb} KB", run_point({**base, "input": str(tmp / "questions.jsonl")}, env))
        for n in _ints(args.questions):
            write_questions(tmp / "questions.jsonl", n, 700)
            show(f"predict, {n} questions", run_point({**base, "input": str(tmp / "questions.jsonl")}, env))
        for n in _ints(args.eval_questions):
            show(f"eval decoding, {n} questions", run_point({"kind": "eval", "questions": n, "threads": args.threads,
                                                             "data": str(tmp / f"examples-{n}")}, env))
    out = Path(args.out) if args.out else HERE / "results" / f"memory-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"threads": args.threads, "load_average": os.getloadavg(), "rows": rows}
    tmp_out = out.with_name(out.name + ".tmp")
    tmp_out.write_text(json.dumps(report, indent=1))
    tmp_out.replace(out)
    print(f"report: {out}")


if __name__ == "__main__":
    main()
