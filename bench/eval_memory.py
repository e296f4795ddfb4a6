"""Peak resident memory of `evaluate.py` against the number of evaluation questions (bench/README.md).

    python bench/eval_memory.py [--questions 1000,4000,all] [--model minilm] [--threads N] [--out FILE]

Each size runs `splinter.finetuning.evaluate.run` (what `python evaluate.py checkpoint=... data=squad`
runs) on the first N questions of the MRQA SQuAD dev set, on CPU, in a fresh interpreter, so that its
peak RSS (`ru_maxrss`, a per-process high-water mark) is its own. Sizes run one after the other.
Prints a table and writes a JSON report (default bench/results/eval-memory-<time>.json).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = ROOT.parent / "shared" / "data"
RESULT_MARK = "EVAL_MEMORY "


def current_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker(params: dict) -> dict:
    """One evaluation in this process: the real evaluate.py path, composed like the command line."""
    import resource

    import torch
    from hydra import compose, initialize_config_dir

    if params["threads"]:
        torch.set_num_threads(params["threads"])
    overrides = [
        f"model={params['model']}", "data=squad", f"data.root={params['root']}", "trainer=cpu",
        "logger=none", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
        f"output_dir={params['output_dir']}",
    ]
    if params["questions"] != "all":
        overrides.append(f"data.max_eval_examples={params['questions']}")
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("evaluate", overrides=overrides)
    from splinter.finetuning.evaluate import run

    started_rss = current_rss_mib()
    started = time.perf_counter()
    results = run(cfg)
    return {
        "questions": results["num_questions"],
        "windows": results["data"].get("eval_windows"),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_after_imports_mib": started_rss,
        "rss_at_end_mib": current_rss_mib(),
        "seconds": time.perf_counter() - started,
        "exact_match": results["exact_match"], "f1": results["f1"],
    }


def measure(questions: str, args: argparse.Namespace, env: dict) -> dict:
    with tempfile.TemporaryDirectory(prefix="splinter-eval-memory-") as out:
        params = {"questions": questions, "model": args.model, "root": str(args.root), "threads": args.threads,
                  "output_dir": out}
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(params)]
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_MARK)]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-6000:])
        raise SystemExit(f"evaluation of {questions} questions failed (exit {proc.returncode})")
    return json.loads(lines[-1][len(RESULT_MARK):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", default="1000,4000,all",
                        help="comma list of question counts; 'all' = the whole dev set (10,507)")
    parser.add_argument("--model", default="minilm", help="the model config group (default minilm)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--root", type=Path, default=Path(os.environ.get("SPLINTER_DATA_ROOT", DATA)),
                        help="data root holding mrqa-dev/SQuAD.jsonl.gz (default ../shared/data)")
    parser.add_argument("--out", default=None, help="JSON report (default bench/results/eval-memory-<time>.json)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        sys.path.insert(0, str(ROOT))
        print(RESULT_MARK + json.dumps(worker(json.loads(args.worker))), flush=True)
        return

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "WANDB_MODE": "disabled",
           "TOKENIZERS_PARALLELISM": "false"}
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see bench/README.md, "Shared machines"
    rows = []
    print(f"{'questions':>9} {'windows':>8} {'peak RSS':>9} {'after imports':>13} {'seconds':>8}  F1", flush=True)
    for questions in args.questions.split(","):
        row = measure(questions.strip(), args, env)
        rows.append(row)
        print(f"{row['questions']:>9} {row['windows']:>8} {row['peak_rss_mib'] / 1024:>7.2f} G "
              f"{row['rss_after_imports_mib'] / 1024:>11.2f} G {row['seconds']:>8.1f}  {row['f1']:.2f}", flush=True)
    out = Path(args.out) if args.out else HERE / "results" / f"eval-memory-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"model": args.model, "threads": args.threads, "load_average": os.getloadavg(), "rows": rows}
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=1))
    tmp.replace(out)
    print(f"report: {out}")


if __name__ == "__main__":
    main()
