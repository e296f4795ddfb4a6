"""One paper-protocol fine-tuning run, timed by phase: load / windows / train / eval / decode.

    python bench/paper_run.py [--device cpu|cuda] [--model base|tiny] [--steps 200] [--questions N]
                              [--compile] [--out FILE]

Splinter-base size (768 wide, 12 layers, random weights: the GPU machine has no Hub access; MiniLM's
vocabulary) or a tiny model (`--model tiny`, the dry run); the 128-example SQuAD split (seed 42), batch
12, `--steps` optimiser steps with the project's QAModule (AdamW, linear warm-up/decay, clipping 1.0,
dropout on), then the MRQA SQuAD dev set (all 10,507 questions unless `--questions`), decoded and scored
by the project's evaluation (SpanMetric). On CUDA: bf16-mixed, as `trainer=gpu`. Phases:
load (model built and moved to the device), windows (reading the files, training and evaluation
windows), train (Trainer.fit), eval (the evaluation forward passes) and decode (the rest of the
evaluation: span search, answer texts, scores). Writes JSON (default bench/results/paper-run-<time>.json).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)
TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--model", default="base", choices=["base", "tiny"])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--questions", type=int, default=None, help="first N dev questions (default: all)")
    parser.add_argument("--compile", action="store_true", help="model.compile=true")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.path.insert(0, str(ROOT))
    import pytorch_lightning as pl
    import torch

    from bench.measure import DATA, DEV_FILE, TOKENIZER, Device, _ForwardTimer, now
    from splinter.data.datamodule import QADataModule
    from splinter.finetuning.module import EVALUATION_RESULT, QAModule
    from splinter.model.factory import load_model

    for name in ("pytorch_lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    device = Device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"), None)
    pl.seed_everything(42, verbose=False)
    seconds: dict[str, float] = {}

    start = now(device)
    shape = BASE if args.model == "base" else TINY
    module = QAModule(load_model(config={**shape, "vocab_size": 30522}), compile=args.compile)
    module.model.to(device.torch)
    seconds["load"] = now(device) - start

    start = now(device)
    dm = QADataModule(tokenizer=TOKENIZER, root=str(DATA), shots=128, seed=42, batch_size=12,
                      eval_file=str(DEV_FILE), max_eval_examples=args.questions, eval_batch_size=32,
                      cache_dir=tempfile.mkdtemp(prefix="splinter-paper-run-"), shuffle_seed=42, verbose=False)
    dm.setup("fit")
    evaluation_set = dm.evaluation_set  # reads the dev file and builds its windows
    seconds["windows"] = now(device) - start

    trainer = pl.Trainer(accelerator="gpu" if device.cuda else "cpu", devices=1, max_steps=args.steps,
                         max_epochs=-1, precision="bf16-mixed" if device.cuda else "32-true",
                         gradient_clip_val=1.0, limit_val_batches=0, num_sanity_val_steps=0, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    start = now(device)
    trainer.fit(module, datamodule=dm)
    seconds["train"] = now(device) - start

    timer = _ForwardTimer(module.model, device)
    module.evaluate_on(evaluation_set)
    start = now(device)
    trainer.test(module, datamodule=dm, verbose=False)
    evaluation = now(device) - start
    seconds["eval"] = timer.seconds
    seconds["decode"] = evaluation - timer.seconds
    seconds["after_load"] = sum(v for k, v in seconds.items() if k != "load")
    metrics = trainer.callback_metrics[EVALUATION_RESULT]

    report = {
        "started": dt.datetime.now().isoformat(timespec="seconds"), "device": device.type,
        "gpu": torch.cuda.get_device_name() if device.cuda else None, "torch": torch.__version__,
        "model": {"shape": args.model, **shape, "weights": "random"}, "compile": args.compile,
        "steps": int(trainer.global_step), "batch_size": 12, "train_windows": len(dm.train_windows),
        "questions": len(dm.eval_examples), "eval_windows": len(evaluation_set), "seconds": seconds,
        "train_windows_per_s": 12 * int(trainer.global_step) / seconds["train"],
        "exact_match": float(metrics["exact_match"]), "f1": float(metrics["f1"]),
    }
    if device.cuda:
        report["cuda_max_allocated_mib"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps({k: report[k] for k in ("steps", "questions", "eval_windows", "seconds", "f1")}, indent=1))
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / f"paper-run-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"report: {out}")


if __name__ == "__main__":
    main()
