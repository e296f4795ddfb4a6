"""`make bench`: splinter vs transformers on the real few-shot SQuAD data; see bench/README.md.

    python bench/run.py [--quick] [--device cpu|cuda] [--threads N] [--only train,eval,...] [--out FILE]

Prints a table of ours / reference ratios and writes a JSON report to bench/results/. Each measurement
runs in a fresh process (its peak RSS is its own); training alternates ours/reference rounds over the
same batches and keeps, per batch, the fastest round (the one least disturbed by other processes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULT_MARK = "BENCH_RESULT "
SECTIONS = ("peak", "decode", "train", "eval", "base")


def run_worker(name: str, params: dict, env: dict) -> dict:
    """Run measure.WORKERS[name](params) in a fresh interpreter and return its result dict."""
    cmd = [sys.executable, str(HERE / "run.py"), "--worker", name, json.dumps(params)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_MARK)]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-6000:])
        raise SystemExit(f"bench worker {name} failed (exit {proc.returncode})")
    result = json.loads(lines[-1][len(RESULT_MARK):])
    result["wall_seconds"] = time.perf_counter() - started
    return result


def worker_main(name: str, params: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    from bench.measure import WORKERS

    result = WORKERS[name](json.loads(params))
    print(RESULT_MARK + json.dumps(result), flush=True)


# ---------------------------------------------------------------------------------------------- plan

def settings(quick: bool) -> dict:
    """Step counts and sizes; --quick keeps every comparison but fewer repetitions (≈2 min on 2 cores)."""
    if quick:
        return {"train_rounds": 1, "train_steps": 3, "warmup": 1, "eval_questions": 200, "eval_warm": False,
                "decode_questions": 1000, "decode_repeats": 3, "ref_decode_repeats": 1,
                "base_steps": 0}
    # 12 steps = one epoch of the 128-example split (133 windows, batch 12)
    return {"train_rounds": 2, "train_steps": 12, "warmup": 1, "eval_questions": 400, "eval_warm": True,
            "decode_questions": 2000, "decode_repeats": 5, "ref_decode_repeats": 2,
            "base_steps": 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer steps/questions (a smoke run)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma list of {SECTIONS}")
    parser.add_argument("--omp-wait-policy", default="passive", choices=["passive", "active", "default"],
                        help="OMP_WAIT_POLICY for the workers (default passive: see README, 'shared machines')")
    parser.add_argument("--out", default=None, help="JSON report path (default bench/results/<time>.json)")
    parser.add_argument("--tiny", action="store_true",
                        help="tiny random models instead of MiniLM and the base shape (bench/gpu_check.sh --dry-run)")
    parser.add_argument("--worker", nargs=2, metavar=("NAME", "PARAMS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(*args.worker)
        return

    sys.path.insert(0, str(ROOT))
    import torch

    from bench.measure import TOKENIZER, fresh_dir, prepare_models

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    only = set(args.only.split(","))
    plan = settings(args.quick)
    if device == "cuda" and plan["base_steps"]:
        plan["base_steps"] = 12  # one epoch: a GPU step takes milliseconds, not the CPU's 30 s
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "WANDB_MODE": "disabled", "PYTHONWARNINGS": "ignore"}
    if args.omp_wait_policy != "default":
        env["OMP_WAIT_POLICY"] = args.omp_wait_policy.upper()
    common = {"device": device, "threads": args.threads, "tokenizer": TOKENIZER}
    if args.tiny:
        common["size"] = 1024  # the matmul peak: a smaller product, enough for the dry run
    started = time.perf_counter()
    models = prepare_models(Path(fresh_dir("models")), base="base" in only and plan["base_steps"] > 0, tiny=args.tiny)
    machine = machine_info(device, args.threads)
    machine["omp_wait_policy"] = env.get("OMP_WAIT_POLICY", "(libgomp default)")
    report: dict = {"machine": machine, "settings": plan, "quick": args.quick,
                    "minilm_weights": models.get("minilm_weights", "all-MiniLM-L6-v2"),
                    "started": dt.datetime.now().isoformat(timespec="seconds"), "results": {}}
    results = report["results"]

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f}s] {msg}", flush=True)

    if "peak" in only:
        results["peak_start"] = run_worker("peak", common, env)
        log(f"matmul peak {results['peak_start']['gflops_float32']:.1f} GFLOP/s")

    if "decode" in only:
        cache = fresh_dir("decode")
        for inputs in ("dataset", "lists"):
            for impl, repeats in (("ours", plan["decode_repeats"]), ("ref", plan["ref_decode_repeats"])):
                key = f"decode_{inputs}_{impl}"
                results[key] = run_worker("decode", {
                    **common, "impl": impl, "inputs": inputs, "questions": plan["decode_questions"],
                    "cache_dir": cache, "repeats": repeats, "predictions_file": str(Path(cache) / f"{key}.json")},
                    env)
                log(f"decode {impl} ({inputs}): {results[key]['seconds']:.3f} s")
            ours = json.loads((Path(cache) / f"decode_{inputs}_ours.json").read_text())
            ref = json.loads((Path(cache) / f"decode_{inputs}_ref.json").read_text())
            results[f"decode_{inputs}_agreement"] = sum(ours[k] == ref.get(k) for k in ours) / max(1, len(ours))

    if "train" in only:
        cache = fresh_dir("train")
        train = {**common, "model_dir": models["minilm"], "shots": 128, "split_seed": 42, "batch_size": 12,
                 "cache_dir": cache, "steps": plan["train_steps"], "warmup": plan["warmup"]}
        results["parity"] = run_worker("parity", train, env)
        log(f"parity: max |logit diff| {results['parity']['max_abs_logit_diff']:.2e}, "
            f"|loss diff| {results['parity']['max_abs_loss_diff']:.2e}")
        # ours_padded: ours on the batches padded to 384 as well (reported on GPUs, where padding costs
        # the fused kernels less than on a CPU, and in the dry run)
        impls = ("ours", "ref", "ours_padded") if device == "cuda" or args.tiny else ("ours", "ref")
        for r in range(plan["train_rounds"]):
            for impl in impls:
                params = {**train, "impl": impl.removesuffix("_padded"), "order": "random",
                          "padding": "max_length" if impl.endswith("_padded") else "dynamic"}
                results.setdefault(f"train_{impl}", []).append(run_worker("train", params, env))
                log(f"train {impl} round {r}: {step_summary(results[f'train_{impl}'][-1])}")

    if "eval" in only:
        cache = fresh_dir("eval")
        evaluation = {**common, "model_dir": models["minilm"], "questions": plan["eval_questions"],
                      "batch_size": 32}
        results["eval_ours_cold"] = run_worker("eval_ours", {**evaluation, "cache_dir": cache}, env)
        log(f"eval ours (cold cache): {results['eval_ours_cold']['seconds']:.1f} s")
        results["eval_ref"] = run_worker("eval_ref", {**evaluation, "cache_dir": fresh_dir("eval-ref")}, env)
        log(f"eval reference: {results['eval_ref']['seconds']:.1f} s")
        if plan["eval_warm"]:
            results["eval_ours_warm"] = run_worker("eval_ours", {**evaluation, "cache_dir": cache}, env)
            log(f"eval ours (warm cache): {results['eval_ours_warm']['seconds']:.1f} s")

    if "base" in only and plan["base_steps"] > 0:
        cache = fresh_dir("base")
        base = {**common, "model_dir": models["base"], "shots": 128, "split_seed": 42, "batch_size": 12,
                "cache_dir": cache, "steps": plan["base_steps"], "warmup": 1, "order": "random"}
        for impl in ("ours", "ref"):
            results[f"base_train_{impl}"] = [run_worker("train", {**base, "impl": impl}, env)]
            log(f"base-shaped train {impl}: {step_summary(results[f'base_train_{impl}'][-1])}")

    if "peak" in only:
        results["peak_end"] = run_worker("peak", common, env)
        log(f"matmul peak (end) {results['peak_end']['gflops_float32']:.1f} GFLOP/s")

    report["summary"] = summarise(results)
    report["total_seconds"] = time.perf_counter() - started
    print()
    print(format_table(report["summary"], report["machine"]))
    out = Path(args.out) if args.out else HERE / "results" / f"{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"\nreport: {out}  ({report['total_seconds']:.0f} s)")


# ---------------------------------------------------------------------------------------------- summary

def step_summary(run: dict) -> str:
    steps = run["steps"]
    sec = statistics.median(s["seconds"] for s in steps)
    return f"{len(steps)} steps, median {sec:.2f} s/step, mean length {statistics.mean(s['length'] for s in steps):.0f}"


def training_stats(runs: list[dict]) -> dict:
    """Every round runs the same batches: per batch, the fastest round is the least disturbed by other
    processes; windows/s = Σ windows / Σ those times (batches differ in cost, so no per-step median).
    FLOP/s over the same steps."""
    steps = [min(same, key=lambda s: s["seconds"]) for same in zip(*(run["steps"] for run in runs), strict=True)]
    seconds = sum(s["seconds"] for s in steps)
    windows = sum(s["windows"] for s in steps)
    all_steps = [s for run in runs for s in run["steps"]]
    return {
        "windows_per_s": windows / seconds,
        "windows_per_s_all_rounds": sum(s["windows"] for s in all_steps) / sum(s["seconds"] for s in all_steps),
        "gflops_executed": sum(s["flops_executed"] for s in steps) / seconds / 1e9,
        "gflops_useful": sum(s["flops_useful"] for s in steps) / seconds / 1e9,
        "padded_tokens_per_window": sum(s["windows"] * s["length"] for s in steps) / windows,
        "computed_tokens_per_window": sum(s["computed_tokens"] for s in steps) / windows,
        "real_tokens_per_window": sum(s["real_tokens"] for s in steps) / windows,
        "peak_rss_delta_mib": max(run["peak_rss_delta_mib"] for run in runs),
        "steps": len(steps),
    }


def summarise(results: dict) -> dict:
    out: dict = {}
    peaks = [results[k]["gflops_float32"] for k in ("peak_start", "peak_end") if k in results]
    if peaks:
        out["peak_gflops"] = max(peaks)
        out["peak_gflops_all"] = peaks
    bf16 = [results[k]["gflops_bfloat16"] for k in ("peak_start", "peak_end") if "gflops_bfloat16" in results.get(k, {})]
    if bf16:  # GPU: the bench runs under bf16 autocast, so MFU is against the bf16 matmul peak
        out["peak_gflops_bf16"] = max(bf16)
    for inputs in ("dataset", "lists"):
        if f"decode_{inputs}_ours" in results:
            ours, ref = results[f"decode_{inputs}_ours"], results[f"decode_{inputs}_ref"]
            out[f"decode_{inputs}"] = {"windows": ours["windows"], "ours_s": ours["seconds"],
                                       "ref_s": ref["seconds"], "speedup": ref["seconds"] / ours["seconds"],
                                       "agreement": results[f"decode_{inputs}_agreement"]}
    if "parity" in results:
        out["parity"] = results["parity"]
    for key in ("train_ours", "train_ref", "train_ours_padded", "base_train_ours", "base_train_ref"):
        if key in results:
            out[key] = training_stats(results[key])
            if bf16:
                out[key]["mfu_useful"] = out[key]["gflops_useful"] / out["peak_gflops_bf16"]
    for key in ("eval_ours_cold", "eval_ours_warm", "eval_ref"):
        if key in results:
            r = results[key]
            out[key] = {**{k: r[k] for k in r if not isinstance(r[k], (list, dict))},
                        "questions_per_s": r["questions"] / r["seconds"],
                        "gflops_executed": r["flops_executed"] / r["forward_seconds"] / 1e9,
                        "gflops_useful": r["flops_useful"] / r["forward_seconds"] / 1e9}
    return out


def format_table(s: dict, machine: dict) -> str:
    rows = [("measurement", "ours", "reference", "ours/ref", "target")]
    peak = s.get("peak_gflops")

    def pct(gflops):
        return f"{gflops:.1f} GF/s ({100 * gflops / peak:.0f}%)" if peak else f"{gflops:.1f} GF/s"

    def ratio_row(label, ours, ref, fmt, target=""):
        rows.append((label, fmt.format(ours), fmt.format(ref), f"{ours / ref:.2f}x", target))

    if "train_ours" in s:
        o, r = s["train_ours"], s["train_ref"]
        ratio_row("train windows/s (MiniLM, random batches)", o["windows_per_s"], r["windows_per_s"], "{:.2f}",
                  ">= 1.5x")
        rows.append(("  tokens/window padded | computed", f"{o['padded_tokens_per_window']:.0f} | "
                     f"{o['computed_tokens_per_window']:.0f}", f"{r['padded_tokens_per_window']:.0f}", "", ""))
        rows.append(("  train FLOP/s executed (% peak)", pct(o["gflops_executed"]), pct(r["gflops_executed"]),
                     "", ">= 60% peak"))
        rows.append(("  train FLOP/s useful (% peak)", pct(o["gflops_useful"]), pct(r["gflops_useful"]), "", ""))
        ratio_row("  train peak RSS delta (MiB)", o["peak_rss_delta_mib"], r["peak_rss_delta_mib"], "{:.0f}")
        if "train_ours_padded" in s:
            p = s["train_ours_padded"]
            ratio_row("train windows/s, ours padded to 384", p["windows_per_s"], r["windows_per_s"], "{:.2f}")
        if "mfu_useful" in o:
            rows.append(("  train MFU useful / bf16 peak", f"{100 * o['mfu_useful']:.1f}%",
                         f"{100 * r['mfu_useful']:.1f}%", "", ">= 35% (base)"))
        if "parity" in s:
            rows.append(("  same weights: max |logit| / |loss| diff", f"{s['parity']['max_abs_logit_diff']:.1e}",
                         f"{s['parity']['max_abs_loss_diff']:.1e}", "", "<= 1e-4"))
    if "eval_ours_cold" in s:
        r = s["eval_ref"]
        for key, label in (("eval_ours_cold", "cold cache"), ("eval_ours_warm", "warm cache")):
            if key in s:
                ratio_row(f"eval questions/s ({label})", s[key]["questions_per_s"], r["questions_per_s"],
                          "{:.2f}", ">= 2x")
        o = s["eval_ours_cold"]
        rows.append(("  eval questions | windows", f"{o['questions']} | {o['windows']}",
                     f"{r['questions']} | {r['windows']}", "", ""))
        rows.append(("  eval windows | forward | rest (s)",
                     f"{o['windows_seconds']:.1f} | {o['forward_seconds']:.1f} | {o['rest_seconds']:.1f}",
                     f"{r['windows_seconds']:.1f} | {r['forward_seconds']:.1f} | "
                     f"{r['seconds'] - r['windows_seconds'] - r['forward_seconds']:.1f}", "", ""))
        rows.append(("  eval read file (s, ours only)", f"{o['read_seconds']:.1f}", "-", "", ""))
        rows.append(("  eval FLOP/s executed (% peak)", pct(o["gflops_executed"]), pct(r["gflops_executed"]),
                     "", ""))
        rows.append(("  eval F1 (sanity: untrained head)", f"{o['f1']:.1f}", f"{r['f1']:.1f}", "", ""))
        ratio_row("  eval peak RSS delta (MiB)", o["peak_rss_delta_mib"], r["peak_rss_delta_mib"], "{:.0f}")
    for inputs, label in (("dataset", "Dataset columns"), ("lists", "Python lists")):
        if f"decode_{inputs}" in s:
            d = s[f"decode_{inputs}"]
            rows.append((f"decode {d['windows']} windows, {label} (s)", f"{d['ours_s']:.3f}", f"{d['ref_s']:.3f}",
                         f"{d['speedup']:.1f}x faster", ">= 20x"))
            rows.append(("  same answers as the Python loop", f"{100 * d['agreement']:.2f}%", "", "", ""))
    if "base_train_ours" in s:
        o, r = s["base_train_ours"], s["base_train_ref"]
        ratio_row("base-shaped train windows/s", o["windows_per_s"], r["windows_per_s"], "{:.2f}")
        rows.append(("  base train FLOP/s executed (% peak)", pct(o["gflops_executed"]), pct(r["gflops_executed"]),
                     "", ""))
        if "mfu_useful" in o:
            rows.append(("  base train MFU useful / bf16 peak", f"{100 * o['mfu_useful']:.1f}%",
                         f"{100 * r['mfu_useful']:.1f}%", "", ">= 35%"))
    if s.get("peak_gflops_bf16"):
        rows.append(("bf16 matmul peak (max of start/end)", f"{s['peak_gflops_bf16']:.1f} GF/s", "", "", ""))
    if peak:
        rows.append(("fp32 matmul peak (max of start/end)", f"{peak:.1f} GF/s",
                     " / ".join(f"{p:.0f}" for p in s["peak_gflops_all"]), "", ""))

    widths = [max(len(str(r[i])) for r in rows) for i in range(5)]
    lines = [f"machine: {machine['cpu']}, {machine['logical_cpus']} logical CPUs | {machine['device']} | "
             f"torch threads {machine['threads']} | OMP_WAIT_POLICY {machine.get('omp_wait_policy')}"]
    start_load = machine.get("load_average", [0])[0]
    lines.append(f"load average (1 min) before the run: {start_load:.2f}"
                 + ("   WARNING: other processes were busy; absolute numbers are low, ratios less affected"
                    if start_load > 0.5 else ""))
    for i, row in enumerate(rows):
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    if peak and min(s["peak_gflops_all"]) < 0.8 * peak:
        lines.append("WARNING: the matmul peak changed during the run (other processes took CPU): the numbers "
                     "measured after that are low; the timestamps above show when.")
    return "\n".join(lines)


def machine_info(device: str, threads: int | None) -> dict:
    import torch
    import transformers

    cpu = platform.processor() or platform.machine()
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                cpu = line.split(":", 1)[1].strip()
    except OSError:
        pass
    info = {"cpu": cpu, "logical_cpus": os.cpu_count(), "device": device,
            "threads": threads or torch.get_num_threads(), "torch": torch.__version__,
            "transformers": transformers.__version__, "python": platform.python_version()}
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
    try:
        info["load_average"] = os.getloadavg()
    except OSError:
        pass
    return info


if __name__ == "__main__":
    main()
