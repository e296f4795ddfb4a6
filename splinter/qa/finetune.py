"""`train.py task=finetune`: fine-tune on a few-shot split, evaluate once, save everything."""

from __future__ import annotations

import math
import time
from functools import partial
from pathlib import Path

import pytorch_lightning as pl
from omegaconf import DictConfig

from splinter.config_checks import check_required
from splinter.files import write_json
from splinter.qa.module import EVALUATION_RESULT
from splinter.run.instantiate import instantiate_node
from splinter.run.job import Run
from splinter.run.trainer import build_trainer, run_callbacks
from splinter.tokenizer import check_fits_model, load_tokenizer


def training_steps(num_windows: int, batch_size: int, epochs: int, min_steps: int, max_steps: int | None) -> int:
    """The paper's length: max(`epochs` passes over the windows, `min_steps`), capped by `max_steps`."""
    steps = max(epochs * math.ceil(num_windows / batch_size), min_steps)
    return min(steps, max_steps) if max_steps else steps


def build_module(cfg: DictConfig):
    return instantiate_node(
        cfg.task.module,
        _convert_="all",  # plain lists/dicts in hparams, so the .ckpt loads with weights_only=True
        checkpoint=cfg.model.checkpoint,
        model_config=dict(cfg.model.config or {}),
        fresh_head=cfg.model.fresh_head,
        head_type=cfg.model.head_type,
        head_init=cfg.model.get("head_init"),
        backend=cfg.model.get("backend", "native"),
        compile=cfg.model.get("compile", False),
    )


def evaluate(trainer: pl.Trainer, module, datamodule) -> tuple[dict[str, str], dict]:
    """Score `module` on the datamodule's evaluation set: (question id → answer text, metrics)."""
    datamodule.setup("test")
    module.evaluate_on(datamodule.evaluation_set)
    started = time.perf_counter()
    trainer.test(module, datamodule=datamodule, verbose=False)
    # Rank 0's SpanMetric result; under ddp_spawn Lightning sent it back with the callback metrics.
    metrics = dict(trainer.callback_metrics[EVALUATION_RESULT])
    predictions = metrics.pop("predictions")
    metrics["eval_seconds"] = time.perf_counter() - started
    return predictions, metrics


def summary_lines(results: dict, output_dir: Path) -> str:
    """What a user reads at the end of a run: the scores (before and after, when both exist) and where
    everything went."""
    lines = [f"{results['model_name']} on {results['num_questions']} {results['eval_dataset']} questions "
             f"after {results['steps']} steps on {results['data']['train_questions']} examples:"]
    if "f1_before" in results:
        lines.append(f"  before fine-tuning  EM {results['exact_match_before']:6.2f}  F1 {results['f1_before']:6.2f}")
    lines.append(f"  after fine-tuning   EM {results['exact_match']:6.2f}  F1 {results['f1']:6.2f}")
    lines.append(f"outputs: {output_dir} (results.json, predictions.json, model/, checkpoints/)")
    return "\n".join(lines)


def run(cfg: DictConfig) -> dict:
    run = Run.start(cfg, resumable=True, check=partial(check_required, group="data"))
    tokenizer = load_tokenizer(cfg.model.tokenizer)
    datamodule = instantiate_node(cfg.data, tokenizer=tokenizer)
    datamodule.setup("fit")
    max_steps = training_steps(
        len(datamodule.train_windows), cfg.data.batch_size, cfg.task.epochs, cfg.task.min_steps, cfg.task.max_steps
    )
    module = build_module(cfg)
    run.check_resume(module, datamodule, max_steps)
    check_fits_model(tokenizer, module.model.config.vocab_size)
    module.tokenizer = tokenizer

    callbacks = run_callbacks(cfg, run.output_dir, cfg.task.checkpoint_every_n_steps)
    before: dict = {}
    with run.logging() as logger:
        trainer = build_trainer(cfg, max_steps=max_steps, callbacks=callbacks, logger=logger)
        datamodule.process_batch_size(trainer.world_size)  # the global batch must split evenly
        if cfg.task.evaluate_before:
            _, scores = evaluate(trainer, module, datamodule)
            before = {"f1_before": scores["f1"], "exact_match_before": scores["exact_match"]}
        train_started = time.perf_counter()
        trainer.fit(module, datamodule=datamodule, ckpt_path=run.ckpt_path)
        train_seconds = time.perf_counter() - train_started
        predictions, metrics = evaluate(trainer, module, datamodule)

    if not trainer.is_global_zero:
        return {}
    module.model.save_pretrained(run.output_dir / "model", tokenizer=tokenizer)
    data = datamodule.data_info()  # hashes the data files: once
    split, shots, split_seed = datamodule.training_split()  # not data.shots/seed when a train_file is read whole
    write_json(run.output_dir / "predictions.json", predictions, indent=1)
    results = run.finish({
        "model_name": cfg.model.name,
        "checkpoint": cfg.model.checkpoint,
        "dataset": cfg.data.dataset,
        "eval_dataset": datamodule.eval_dataset,  # == dataset unless data.eval_set names another
        "train_split": split,
        "shots": shots,
        "split_seed": split_seed,
        "seed": cfg.seed,
        "exact_match": metrics["exact_match"],
        "f1": metrics["f1"],
        **before,
        "num_questions": metrics["num_questions"],
        "num_windows": metrics["num_windows"],
        "train_file": str(datamodule.train_path),
        "train_file_sha256": data["train_sha256"],
        "eval_file": str(datamodule.eval_path),
        "steps": int(trainer.callback_metrics.get("train/steps", trainer.global_step)),
        "train_seconds": round(train_seconds, 2),
        "eval_seconds": round(metrics["eval_seconds"], 2),
        "data": data,
    })
    print(summary_lines(results, run.output_dir), flush=True)
    return results
