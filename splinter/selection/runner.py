"""Run a config's `selection` (conf/selection/): score its protocol on held-out folds of its K questions.

Each fold (or split) trains a fresh model with the run's full protocol (build_module, the paper's length
from the fold's own windows, the run's trainer and seed) on the fold's training questions, and scores
the held-out questions with the official metric (the run's own `fit_and_evaluate`). Fold runs keep no
checkpoints and no logger; they leave their scores, in `<output_dir>/selection.json` (a resumed run reads
it instead of selecting again) and in results.json's `selection` block. The evaluation file is never
read here: the fold data module evaluates on held-out training questions.

`selection.choose_steps=true` also scores the held-out questions every `selection.eval_every` steps
(Lightning's validation loop on the held-out fold) and picks the step count with the best mean fold F1
(ties: the fewest steps); the final run then trains that many steps (its warm-up and decay are spread
over them).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytorch_lightning as pl
from datasets import Dataset
from omegaconf import DictConfig

from splinter.data.datamodule import QADataModule
from splinter.errors import ConfigError
from splinter.files import write_json
from splinter.finetuning.finetune import build_module, fit_and_evaluate, training_steps
from splinter.finetuning.module import EVALUATION_RESULT
from splinter.run.instantiate import instantiate_node
from splinter.run.trainer import build_trainer
from splinter.selection.folds import mean_std, splits_for

log = logging.getLogger("splinter")

SELECTION_FILE = "selection.json"
METHODS = ("none", "kfold", "multisplit")


class HeldOutData(QADataModule):
    """A fold: trains on some of the run's training questions, evaluates on the held-out others. Reads
    no file (the examples come from the run's data module), so the evaluation set is never touched."""

    _fold_train: Dataset
    _fold_heldout: Dataset

    @classmethod
    def of(cls, parent: QADataModule, train: Dataset, heldout: Dataset) -> HeldOutData:
        arguments = {key: value for key, value in parent.hparams.items() if key != "tokenizer"}
        fold = cls(tokenizer=parent.tokenizer, **{**arguments, "verbose": False})
        fold._fold_train, fold._fold_heldout = train, heldout
        return fold

    def prepare_data(self) -> None:
        pass  # nothing to read: the examples are in memory

    def _train_data(self, report: bool):
        from splinter.data.windows import build_windows

        windows = build_windows(self._fold_train, self.tokenizer, self.settings, training=True, num_proc=self.num_proc)
        return self._fold_train, windows

    def _eval_examples_data(self, report: bool) -> Dataset:
        return self._fold_heldout


class HeldOutCurve(pl.Callback):
    """(step, held-out F1) after every validation of a fold run (selection.choose_steps)."""

    def __init__(self):
        self.points: dict[int, float] = {}

    def on_validation_end(self, trainer, pl_module):
        if not trainer.sanity_checking and EVALUATION_RESULT in trainer.callback_metrics:
            self.points[int(trainer.global_step)] = float(trainer.callback_metrics[EVALUATION_RESULT]["f1"])


def method_of(cfg: DictConfig) -> str:
    method = str((cfg.get("selection") or {}).get("method", "none"))
    if method not in METHODS:
        raise ConfigError("selection.method", f"unknown method {method!r}", METHODS)
    return method


def run_selection(cfg: DictConfig, datamodule: QADataModule, tokenizer, output_dir: Path) -> dict | None:
    """The run's selection block (see the module docstring); None for selection=none without oracle.
    Leaves the global seed as Run.start set it, so the final run trains as a selection=none run would."""
    selection = cfg.get("selection") or {}
    method = method_of(cfg)
    final_run = bool(selection.get("final_run", True))
    if method == "none":
        if not final_run:
            raise ConfigError("selection.final_run", "false needs a selection method (selection=kfold or "
                                                     "selection=multisplit): there would be nothing to score")
        return {"method": "none", "oracle": True, "final_run": True} if selection.get("oracle") else None
    if selection.get("oracle"):
        raise ConfigError("selection.oracle", f"true selects on the evaluation set, but selection={method} "
                                              "selects on the training questions: use one or the other")
    saved = Path(output_dir) / SELECTION_FILE
    if saved.is_file():  # a resumed run: the folds were scored before the interruption
        return {**json.loads(saved.read_text()), "final_run": final_run}
    if selection.get("from_trial"):  # a study's final run: its best trial scored these folds
        result = {**_read_trial(Path(str(selection.from_trial))), "from_trial": str(selection.from_trial)}
        write_json(saved, result)
        return {**result, "final_run": final_run}
    result = _score_folds(cfg, datamodule, tokenizer, method, selection)
    write_json(saved, result)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    return {**result, "final_run": final_run}


def _read_trial(directory: Path) -> dict:
    path = directory / SELECTION_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError("selection.from_trial", f"{path} not found: not the directory of a selection run") from None
    except json.JSONDecodeError as error:
        raise ConfigError("selection.from_trial", f"{path}: not valid JSON ({error.msg})") from None


def _score_folds(cfg: DictConfig, datamodule: QADataModule, tokenizer, method: str, selection) -> dict:
    started = time.perf_counter()
    examples = datamodule.train_examples
    ids = list(examples["id"])
    row = {question: i for i, question in enumerate(ids)}
    splits = splits_for(method, ids, selection, datamodule.seed)  # data.seed: the split's own K questions
    choose_steps = bool(selection.get("choose_steps", False))
    every = selection.get("eval_every")
    if choose_steps and (not isinstance(every, int) or every < 1):
        raise ConfigError("selection.eval_every", f"got {every!r}, allowed: an integer >= 1")
    f1, exact, steps, curves = [], [], [], []
    for number, (train_ids, heldout_ids) in enumerate(splits):
        fold = HeldOutData.of(datamodule, examples.select([row[q] for q in train_ids]),
                              examples.select([row[q] for q in heldout_ids]))
        fold.setup("fit")
        fold_steps = training_steps(len(fold.train_windows), cfg.data.batch_size, cfg.task.epochs,
                                    cfg.task.min_steps, cfg.task.max_steps)
        if fold_steps < 1:  # Lightning would train nothing and the fold would score an untrained model
            raise ConfigError("task.min_steps", f"task.epochs={cfg.task.epochs} and task.min_steps="
                                                f"{cfg.task.min_steps} give 0 training steps")
        pl.seed_everything(cfg.seed, workers=True, verbose=False)  # every fold starts as the run would
        module = build_module(cfg)
        module.tokenizer = tokenizer
        curve = HeldOutCurve()
        callbacks = [*(instantiate_node(c) for c in cfg.get("callbacks") or [])]
        overrides: dict = {"enable_checkpointing": False}
        if choose_steps:
            module.evaluate_on(fold.evaluation_set)
            callbacks.append(curve)
            overrides.update(limit_val_batches=1.0, val_check_interval=every, check_val_every_n_epoch=None)
        trainer = build_trainer(cfg, max_steps=fold_steps, callbacks=callbacks, logger=False, **overrides)
        fold.check_batch_split(trainer.world_size)
        _, metrics, _ = fit_and_evaluate(trainer, module, fold)
        f1.append(float(metrics["f1"]))
        exact.append(float(metrics["exact_match"]))
        steps.append(fold_steps)
        curves.append({**curve.points, fold_steps: float(metrics["f1"])})
        log.info("selection: %s %d/%d: %d training, %d held-out questions, %d steps: F1 %.2f",
                 method, number + 1, len(splits), len(train_ids), len(heldout_ids), fold_steps, f1[-1])
    mean, std = mean_std(f1)
    result = {
        "method": method,
        "folds": len(splits),
        **({"dev_fraction": float(selection.dev_fraction)} if method == "multisplit" else {}),
        "seed": datamodule.seed,
        "heldout_questions": [len(held) for _, held in splits],
        "fold_f1": f1,
        "fold_exact_match": exact,
        "fold_steps": steps,
        "mean": mean,
        "std": std,
        "oracle": False,
    }
    if choose_steps:
        result.update(_chosen_steps(curves, every))
    result["seconds"] = round(time.perf_counter() - started, 2)
    print(f"selection ({method}, {len(splits)} folds): F1 {mean:.2f} ± {std:.2f} on held-out training questions"
          + (f"; steps chosen: {result['steps']}" if choose_steps else ""), flush=True)
    return result


def _chosen_steps(curves: list[dict[int, float]], every: int) -> dict:
    """The step count (scored in every fold) with the best mean held-out F1; ties: the fewest steps."""
    common = sorted(set.intersection(*(set(curve) for curve in curves)))
    if not common:
        raise ConfigError("selection.eval_every", f"{every} steps: no step count was scored in every fold "
                                                  f"(fold lengths {[max(c) for c in curves]})")
    means = {step: sum(curve[step] for curve in curves) / len(curves) for step in common}
    best = max(common, key=lambda step: (means[step], -step))
    return {"steps": best, "eval_every": every, "curve": {str(step): means[step] for step in common}}
