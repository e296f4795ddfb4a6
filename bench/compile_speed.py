"""`model.compile=true` against eager, in one process: training and evaluation windows/s.

    python bench/compile_speed.py [--device cpu|cuda] [--model minilm|tiny] [--steps N] [--questions N]
                                  [--out FILE]

The same model (`bench.measure.prepare_models`' MiniLM with a seeded QASS head, or a tiny random one),
the same batches: the real 128-example SQuAD split (batch 12, the training loader's dynamic padding)
and the first N MRQA SQuAD dev questions (batch 32). Each mode builds its model afresh and compiles the
encoder with `splinter.finetuning.module.compile_encoder`, as `model.compile=true` does; the first `--warmup`
batches (compilation included, reported apart) are not timed. On CUDA both run under bf16 autocast.
Writes a JSON report (default bench/results/compile-<time>.json).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--model", default="minilm", choices=["minilm", "tiny"])
    parser.add_argument("--steps", type=int, default=8, help="timed training steps (batch 12)")
    parser.add_argument("--questions", type=int, default=128, help="evaluation questions (batch 32)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed batches per phase (compilation)")
    parser.add_argument("--backend", default="inductor",
                        help="torch.compile backend (the dry run: eager, the graph capture without code generation)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    import torch

    from bench.measure import DATA, DEV_FILE, TOKENIZER, Device, _training_batches, now, prepare_models
    from splinter import SplinterConfig, SplinterForQuestionAnswering
    from splinter.data.datamodule import QADataModule
    from splinter.finetuning.module import compile_encoder
    from splinter.run.optim import build_optimizer

    device = Device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"), None)
    work = Path(tempfile.mkdtemp(prefix="splinter-bench-compile-"))
    if args.model == "minilm":
        model_dir = prepare_models(work / "models", base=False)["minilm"]

        def fresh():
            return SplinterForQuestionAnswering.from_pretrained(model_dir)
    else:
        def fresh():
            torch.manual_seed(0)
            return SplinterForQuestionAnswering(SplinterConfig(vocab_size=30522, hidden_size=64, num_hidden_layers=2,
                                                               num_attention_heads=4, intermediate_size=128))

    train_batches = _training_batches({"tokenizer": TOKENIZER, "shots": 128, "split_seed": 42, "batch_size": 12,
                                       "order": "random", "cache_dir": str(work / "train")},
                                      args.warmup + args.steps)
    dm = QADataModule(tokenizer=TOKENIZER, root=str(DATA), eval_file=str(DEV_FILE), max_eval_examples=args.questions,
                      eval_batch_size=32, cache_dir=str(work / "eval"), verbose=False)
    eval_batches = [{k: v for k, v in b.items() if k != "window_index"} for b in dm.val_dataloader()]

    def to_device(batches):
        return [{k: v.to(device.torch) for k, v in b.items()} for b in batches]

    if len(eval_batches) <= args.warmup:
        raise SystemExit(f"--questions {args.questions} gives {len(eval_batches)} evaluation batches of 32: "
                         f"more than --warmup {args.warmup} are needed")

    def timed(batches, step) -> dict:
        warm_start = now(device)
        for batch in batches[:args.warmup]:
            step(batch)
        warm = now(device) - warm_start
        start = now(device)
        for batch in batches[args.warmup:]:
            step(batch)
        seconds = now(device) - start
        windows = sum(b["input_ids"].shape[0] for b in batches[args.warmup:])
        return {"windows": windows, "seconds": seconds, "windows_per_s": windows / seconds,
                "warmup_seconds": warm}

    results = {}
    for mode in ("eager", "compiled"):
        model = fresh().to(device.torch).train()
        if mode == "compiled":
            compile_encoder(model, backend=args.backend)
        optimizer = build_optimizer(model, lr=3e-5)

        def train_step(batch, model=model, optimizer=optimizer):
            with device.autocast():
                loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        def eval_step(batch, model=model):
            with torch.no_grad(), device.autocast():
                model(**batch)

        train = timed(to_device(train_batches), train_step)
        model.eval()
        evaluation = timed(to_device(eval_batches), eval_step)
        results[mode] = {"train": train, "eval": evaluation}
        print(f"{mode:8s} train {train['windows_per_s']:7.2f} windows/s (warm-up {train['warmup_seconds']:.1f} s) | "
              f"eval {evaluation['windows_per_s']:7.2f} windows/s (warm-up {evaluation['warmup_seconds']:.1f} s)",
              flush=True)
    ratio = {phase: results["compiled"][phase]["windows_per_s"] / results["eager"][phase]["windows_per_s"]
             for phase in ("train", "eval")}
    print(f"compiled / eager: train {ratio['train']:.2f}x, eval {ratio['eval']:.2f}x")
    report = {"started": dt.datetime.now().isoformat(timespec="seconds"), "device": device.type,
              "model": args.model, "backend": args.backend, "torch": torch.__version__, "threads": torch.get_num_threads(),
              "gpu": torch.cuda.get_device_name() if device.cuda else None, "results": results,
              "compiled_over_eager": ratio}
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / f"compile-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"report: {out}")


if __name__ == "__main__":
    main()
