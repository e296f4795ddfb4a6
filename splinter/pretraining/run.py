"""`train.py task=pretrain data=text data.files=...`: recurring span selection (or, with
`task.objective=mlm`, masked-LM) pretraining.

Writes into the run's output directory: config.yaml (resolved), span_statistics.json (the corpus's
recurring-span statistics), checkpoints/ (resumable Lightning checkpoints: last.ckpt every
`task.checkpoint_every_n_steps`, interrupted.ckpt after Ctrl-C or a crash), model/
(`save_pretrained`: loads with `SplinterForQuestionAnswering.from_pretrained`, i.e. `model.checkpoint=`
of a fine-tuning run, and with `task=pretrain model.checkpoint=` to continue), optionally
model-step<N>/ every `task.save_every_n_steps`, and results.json.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import Callback

from splinter.errors import ConfigError
from splinter.files import atomic_directory
from splinter.model.factory import load_model_from_config
from splinter.run.instantiate import instantiate_node
from splinter.run.job import Run
from splinter.run.trainer import build_trainer, run_callbacks
from splinter.tokenization.tokenizer import load_tokenizer

log = logging.getLogger("splinter")


class SavePretrainedEvery(Callback):
    """Write `save_pretrained` directories `<directory>/model-step<N>` every `every` optimiser steps.

    Each is built in a temporary sibling and renamed into place when complete (splinter.files
    .atomic_directory), so `model-step<N>` is never partial: one a crash interrupted is absent, and
    written again when the resumed run reaches step N. One that exists is complete and is kept: the
    resumed run's step N is the same point of the same run, and replacing it would need a moment with
    neither the old directory nor the new one.
    """

    def __init__(self, directory: str | Path, every: int, tokenizer=None):
        self.directory, self.every, self.tokenizer = Path(directory), int(every), tokenizer

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step > 0 and step % self.every == 0 and trainer.is_global_zero:
            target = self.directory / f"model-step{step}"
            if not target.exists():
                with atomic_directory(target) as staging:
                    pl_module.save_pretrained(str(staging), tokenizer=self.tokenizer)


def _statistics(datamodule, path: str | None) -> dict | None:
    # under ddp_spawn the data module was set up in the child processes; rank 0 wrote the file
    if datamodule.statistics is not None:
        return datamodule.statistics
    if path and Path(path).is_file():
        return json.loads(Path(path).read_text())
    return None


def _check(cfg: DictConfig) -> None:
    if OmegaConf.is_missing(cfg.data, "files"):
        raise ConfigError("data.files", "give the corpus, e.g. data.files='[corpus/*.txt]'")
    if not cfg.task.max_steps:
        raise ConfigError("task.max_steps", "pretraining is measured in steps: set a positive number")


def run(cfg: DictConfig) -> dict:
    from splinter.pretraining.datamodule import PretrainDataModule

    statistics_file = cfg.task.get("statistics_file")
    run = Run.start(cfg, resumable=True, check=_check, writes=(str(statistics_file),) if statistics_file else ())
    tokenizer = load_tokenizer(cfg.model.tokenizer)
    statistics_path = str(run.output_dir / statistics_file) if statistics_file else None
    # task.objective is the objective's one key: the data's masking and the module's loss both follow it
    datamodule = instantiate_node(cfg.data, tokenizer=tokenizer, statistics_path=statistics_path,
                                  objective=cfg.task.objective)
    if not isinstance(datamodule, PretrainDataModule):
        raise ConfigError("data", "task=pretrain needs a text corpus", ["text"])
    # The model group's checkpoint, config and fresh_head (the head_* keys are fine-tuning's).
    model = load_model_from_config(cfg.model, keys=("checkpoint", "config", "fresh_head"),
                                   objective=cfg.task.objective)
    module = instantiate_node(cfg.task.module, model=model, objective=cfg.task.objective)
    run.check_resume(module, datamodule, int(cfg.task.max_steps))

    callbacks = run_callbacks(cfg, run.output_dir, cfg.task.checkpoint_every_n_steps)
    if cfg.task.get("save_every_n_steps"):
        callbacks.append(SavePretrainedEvery(run.output_dir, cfg.task.save_every_n_steps, tokenizer))
    with run.logging() as logger:
        trainer = build_trainer(
            cfg,
            max_steps=int(cfg.task.max_steps),
            callbacks=callbacks,
            logger=logger,
            accumulate_grad_batches=int(cfg.task.get("accumulate_grad_batches") or 1),
        )
        train_started = time.perf_counter()
        trainer.fit(module, datamodule=datamodule, ckpt_path=run.ckpt_path)
        train_seconds = time.perf_counter() - train_started

    if not trainer.is_global_zero:
        return {}
    module.save_pretrained(str(run.output_dir / "model"), tokenizer=tokenizer)
    loss = trainer.callback_metrics.get("train/loss")
    results = run.finish({
        "task": "pretrain",
        "objective": cfg.task.objective,
        "model_name": cfg.model.name,
        "checkpoint": cfg.model.checkpoint,
        "files": list(datamodule.files),
        "seed": cfg.seed,
        "data_seed": cfg.data.seed,
        "steps": int(trainer.callback_metrics.get("train/steps", trainer.global_step)),
        "final_loss": None if loss is None else float(loss),
        "span_statistics": _statistics(datamodule, statistics_path),
        "model_dir": str(run.output_dir / "model"),
        "train_seconds": round(train_seconds, 2),
    })
    log.info("pretrained %d steps, final loss %s → %s", results["steps"], results["final_loss"], run.output_dir)
    return results
