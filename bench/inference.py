"""Questions/s of `QuestionAnswerer` against transformers' question-answering pipeline, in one process.

    python bench/inference.py [--quick] [--device cpu|cuda] [--threads N] [--questions N] [--out FILE]

Both sides load the same checkpoint (MiniLM with a seeded QASS head, `bench.measure.prepare_models`) and
answer the same real questions (the first N of `data/demo/squad-dev-slice.jsonl.gz`: SQuAD dev
paragraphs, ~150 tokens each), from raw strings to answer dicts. The reference is the transformers 4.x
pipeline's algorithm on transformers' model and fast tokenizer (`bench/pipeline_reference.py`: the
installed transformers 5 no longer ships that pipeline). Timed modes:

* ours, a list: ``qa(list_of_dicts)``: windows of all questions sorted by length, in batches (16 on a
  CPU, 32 on CUDA: the defaults), decoding on the device;
* ours, one call per question: ``qa(question=..., context=...)`` in a loop;
* reference: the pipeline's default, one question at a time and each window its own forward pass;
* on CPU also both under bf16 autocast (`dtype="bf16"`; the pipeline with the same autocast): this CPU's
  bf16 matrix products are ~4× faster than fp32, at the price of answers that differ from fp32 evaluation
  for some questions (the report counts them).

The modes alternate over ``--rounds`` rounds and each keeps its fastest round (the one least disturbed by
other processes on a shared machine); the ratios are ours / reference on the same run. With CUDA both
run under bf16 autocast. Prints a table and writes a JSON report to bench/results/ (git-ignored).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "data" / "demo" / "squad-dev-slice.jsonl.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="60 questions, 1 round")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--questions", type=int, default=None, help="how many questions (default 314, all)")
    parser.add_argument("--rounds", type=int, default=None, help="alternating rounds (default 3)")
    parser.add_argument("--out", default=None, help="JSON report (default bench/results/inference-<time>.json)")
    # `make bench ARGS=...` passes bench/run.py's options here too: ignore the ones this script lacks
    args, _ = parser.parse_known_args()

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.path.insert(0, str(ROOT))
    import torch
    import transformers

    from bench.measure import prepare_models
    from bench.pipeline_reference import PipelineReference
    from splinter.data.questions import read_questions
    from splinter.qa.answerer import QuestionAnswerer

    transformers.logging.set_verbosity_error()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    autocast = torch.bfloat16 if device.startswith("cuda") else None
    n = args.questions or (60 if args.quick else 314)
    rounds = args.rounds or (1 if args.quick else 3)

    questions = read_questions(QUESTIONS)[0][:n]
    model_dir = prepare_models(Path(tempfile.mkdtemp(prefix="splinter-bench-inference-")), base=False)["minilm"]
    ours = QuestionAnswerer.from_pretrained(model_dir, device=device, dtype=autocast or torch.float32)
    reference = PipelineReference(model_dir, device=device, autocast_dtype=autocast)
    items = [{"question": q["question"], "context": q["context"]} for q in questions]

    def ours_list() -> list:
        return ours(items)

    def ours_single() -> list:
        return [ours(question=q["question"], context=q["context"]) for q in questions]

    def pipeline() -> list:
        return [reference(q["question"], q["context"]) for q in questions]

    modes = {"ours_list": ours_list, "ours_single": ours_single, "pipeline": pipeline}
    if autocast is None:  # CPU: the bf16 rows
        ours_bf16 = QuestionAnswerer(ours.model, ours.tokenizer, device=device, dtype=torch.bfloat16)
        reference_bf16 = PipelineReference(model_dir, device=device, autocast_dtype=torch.bfloat16)
        modes["ours_list_bf16"] = lambda: ours_bf16(items)
        modes["pipeline_bf16"] = lambda: [reference_bf16(q["question"], q["context"]) for q in questions]
    for q in questions[:4]:  # warm-up: first-call allocations, lazy imports, kernel selection
        ours(question=q["question"], context=q["context"])
        reference(q["question"], q["context"])
    seconds: dict[str, list[float]] = {name: [] for name in modes}
    answers: dict[str, list] = {}
    for r in range(rounds):
        for name, fn in modes.items():
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            answers[name] = fn()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            seconds[name].append(time.perf_counter() - start)
            print(f"round {r}: {name:12s} {n / seconds[name][-1]:7.1f} questions/s", flush=True)

    def same(a: str, b: str) -> int:
        return sum(x["answer"] == y["answer"] for x, y in zip(answers[a], answers[b], strict=True))

    rate = {name: n / min(times) for name, times in seconds.items()}
    agreement = {"list_vs_single": same("ours_list", "ours_single")}
    if "ours_list_bf16" in answers:
        agreement["bf16_vs_fp32"] = same("ours_list_bf16", "ours_list")
    report = {
        "started": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {"device": device, "threads": torch.get_num_threads(), "cpu": platform.processor(),
                    "torch": torch.__version__, "transformers": transformers.__version__,
                    "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(libgomp default)"),
                    "gpu": torch.cuda.get_device_name() if device.startswith("cuda") else None},
        "questions": n, "rounds": rounds, "seconds": seconds, "questions_per_second": rate,
        "ratio_list_vs_pipeline": rate["ours_list"] / rate["pipeline"],
        "ratio_single_vs_pipeline": rate["ours_single"] / rate["pipeline"],
        "same_answers": agreement,
    }
    print(f"\n{n} SQuAD dev questions, MiniLM, {device}, {torch.get_num_threads()} threads, best of {rounds}:")
    print("| | questions/s | vs pipeline |\n|---|---|---|")
    print(f"| QuestionAnswerer, one list | {rate['ours_list']:.1f} | **{report['ratio_list_vs_pipeline']:.2f}×** |")
    print(f"| QuestionAnswerer, one call per question | {rate['ours_single']:.1f} | "
          f"{report['ratio_single_vs_pipeline']:.2f}× |")
    print(f"| transformers' pipeline (4.x algorithm) | {rate['pipeline']:.1f} | 1.00× |")
    if "ours_list_bf16" in rate:
        print(f"| QuestionAnswerer, one list, bf16 autocast | {rate['ours_list_bf16']:.1f} | "
              f"{rate['ours_list_bf16'] / rate['pipeline']:.2f}× ({rate['ours_list_bf16'] / rate['pipeline_bf16']:.2f}× "
              "the bf16 pipeline) |")
        print(f"| transformers' pipeline, bf16 autocast | {rate['pipeline_bf16']:.1f} | "
              f"{rate['pipeline_bf16'] / rate['pipeline']:.2f}× |")
    print(f"same answers: list vs one call per question {agreement['list_vs_single']} / {n}"
          + (f"; bf16 vs fp32 {agreement['bf16_vs_fp32']} / {n}" if "bf16_vs_fp32" in agreement else ""))
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / f"inference-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"report: {out}")


if __name__ == "__main__":
    main()
