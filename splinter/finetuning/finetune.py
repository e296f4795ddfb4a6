"""`train.py task=finetune`: fine-tune on a few-shot split, evaluate once, save everything."""

from __future__ import annotations

import math
import time
from functools import partial
from pathlib import Path

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from splinter.errors import ConfigError
from splinter.files import write_json
from splinter.finetuning.module import EVALUATION_RESULT
from splinter.model.factory import load_model_from_config
from splinter.qa.analysis import ANALYSIS_FILE, human_size, write_analysis_page
from splinter.run.config_checks import check_required, command_line_keys
from splinter.run.console import label_evaluation
from splinter.run.instantiate import instantiate_node
from splinter.run.job import Run
from splinter.run.resume import rng_untouched
from splinter.run.trainer import build_trainer, run_callbacks
from splinter.tokenization.tokenizer import check_fits_model, load_tokenizer


def training_steps(num_windows: int, batch_size: int, epochs: int, min_steps: int, max_steps: int | None) -> int:
    """The paper's length: max(`epochs` passes over the windows, `min_steps`), capped by `max_steps`."""
    steps = max(epochs * math.ceil(num_windows / batch_size), min_steps)
    return min(steps, max_steps) if max_steps else steps


def build_module(cfg: DictConfig):
    """The QAModule of `task.module` around the model the model group describes (`load_model`)."""
    return instantiate_node(
        cfg.task.module,
        _convert_="all",  # plain lists/dicts in hparams, so the .ckpt loads with weights_only=True
        model=load_model_from_config(cfg.model),
        compile=cfg.model.get("compile", False),
        **cfg.decoding,  # max_answer_length, n_best, use_max_context: conf/decoding.yaml, their one home
    )


def wants_analysis(cfg: DictConfig) -> bool:
    """eval.analysis (conf/eval.yaml): write analysis.html beside predictions.json."""
    return bool(OmegaConf.select(cfg, "eval.analysis", default=True))


def evaluate(trainer: pl.Trainer, module, datamodule, answers: bool = False) -> tuple[dict[str, str], dict]:
    """Score `module` on the datamodule's evaluation set: (question id → answer text, metrics); with
    `answers`, metrics["answers"] holds each question's answer span and n-best list (SpanMetric's)."""
    datamodule.setup("test")
    module.evaluate_on(datamodule.evaluation_set, answers=answers)
    started = time.perf_counter()
    trainer.test(module, datamodule=datamodule, verbose=False)
    # Rank 0's SpanMetric result; under ddp_spawn Lightning sent it back with the callback metrics.
    metrics = dict(trainer.callback_metrics[EVALUATION_RESULT])
    predictions = metrics.pop("predictions")
    metrics["eval_seconds"] = time.perf_counter() - started
    return predictions, metrics


def fit_and_evaluate(trainer: pl.Trainer, module, datamodule, ckpt_path=None,
                     answers: bool = False) -> tuple[dict[str, str], dict, float]:
    """Train `module` on the datamodule's training windows, then score it on its evaluation set:
    (predictions, metrics, training seconds). The run below and selection's fold runs
    (splinter.selection.runner) both train this way."""
    started = time.perf_counter()
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    train_seconds = time.perf_counter() - started
    label_evaluation(trainer, "Evaluating after fine-tuning")
    predictions, metrics = evaluate(trainer, module, datamodule, answers=answers)
    return predictions, metrics, train_seconds


def summary_lines(results: dict, output_dir: Path, analysis_bytes: int | None = None) -> str:
    """What a user reads at the end of a run: the scores (before and after, when both exist) and where
    everything went (`analysis_bytes`: the size of analysis.html, when written)."""
    lines = [f"{results['model_name']} on {results['num_questions']} {results['eval_dataset']} questions "
             f"after {results['steps']} steps on {results['data']['train_questions']} examples:"]
    if "f1_before" in results:
        lines.append(f"  before fine-tuning  EM {results['exact_match_before']:6.2f}  F1 {results['f1_before']:6.2f}")
    lines.append(f"  after fine-tuning   EM {results['exact_match']:6.2f}  F1 {results['f1']:6.2f}")
    page = f"{ANALYSIS_FILE} {human_size(analysis_bytes)}, " if analysis_bytes is not None else ""
    lines.append(f"outputs: {output_dir} (results.json, predictions.json, {page}model/, checkpoints/)")
    return "\n".join(lines)


def check_split_choice(cfg: DictConfig, explicit: set[str]) -> None:
    """data.shots / data.seed given on the command line (`explicit`) while data.train_file is read whole
    choose nothing (an experiment such as demo pins a train_file): stop with one line instead of
    training the same job under another name."""
    if not cfg.data.get("train_file") or cfg.data.get("sample_from_full"):
        return
    given = [key for key in ("data.shots", "data.seed") if key in explicit]
    if given:
        verb = "choose" if len(given) > 1 else "chooses"
        raise ConfigError(given[0], f"{' and '.join(given)} {verb} nothing: data.train_file "
                          f"({cfg.data.train_file}) is read whole. Set data.train_file=null for the released "
                          "split, or data.sample_from_full=true to draw data.shots questions from it with data.seed")


def _check(cfg: DictConfig, explicit: set[str] | None) -> None:
    check_required(cfg, "data")
    check_split_choice(cfg, command_line_keys() if explicit is None else explicit)


def run(cfg: DictConfig, explicit: set[str] | None = None) -> dict:
    """`explicit`: the keys the user set (default: the command line's), for `check_split_choice`."""
    run = Run.start(cfg, resumable=True, check=partial(_check, explicit=explicit),
                      writes=("predictions.json", ANALYSIS_FILE))
    analysis = wants_analysis(cfg)
    tokenizer = load_tokenizer(cfg.model.tokenizer)
    datamodule = instantiate_node(cfg.data, tokenizer=tokenizer)
    datamodule.setup("fit")
    max_steps = training_steps(
        len(datamodule.train_windows), cfg.data.batch_size, cfg.task.epochs, cfg.task.min_steps, cfg.task.max_steps
    )
    from splinter.selection.runner import run_selection  # imports this module

    selection = run_selection(cfg, datamodule, tokenizer, run.output_dir)  # None for selection=none
    if selection is not None and not selection["final_run"]:
        return {"selection": selection}  # a study's trial: its selection score only, no evaluation
    if selection is not None and selection.get("steps"):
        max_steps = selection["steps"]  # selection.choose_steps: the step count the folds chose
    module = build_module(cfg)
    run.check_resume(module, datamodule, max_steps)
    check_fits_model(tokenizer, module.model.config.vocab_size, module.model.config.question_token_id)
    module.model.check_sequence_length(cfg.data.max_seq_length)
    module.tokenizer = tokenizer

    callbacks = run_callbacks(cfg, run.output_dir, cfg.task.checkpoint_every_n_steps)
    before: dict = {}
    with run.logging() as logger:
        trainer = build_trainer(cfg, max_steps=max_steps, callbacks=callbacks, logger=logger)
        datamodule.check_batch_split(trainer.world_size)
        if cfg.task.evaluate_before:
            label_evaluation(trainer, "Evaluating before fine-tuning")
            with rng_untouched():  # the trained weights are those of a run without it
                _, scores = evaluate(trainer, module, datamodule)
            before = {"f1_before": scores["f1"], "exact_match_before": scores["exact_match"]}
        predictions, metrics, train_seconds = fit_and_evaluate(trainer, module, datamodule, run.ckpt_path,
                                                               answers=analysis)

    if not trainer.is_global_zero:
        return {}
    module.model.save_pretrained(run.output_dir / "model", tokenizer=tokenizer)
    data = datamodule.data_info()  # hashes the data files: once
    split, shots, split_seed = datamodule.training_split()  # not data.shots/seed when a train_file is read whole
    write_json(run.output_dir / "predictions.json", predictions, indent=1)
    results = {
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
        **({"selection": selection} if selection is not None else {}),
    }
    page = None
    if analysis:
        page = write_analysis_page(run.output_dir, datamodule.eval_examples, predictions,
                                   datamodule.evaluation_set.references, metrics.get("answers"), results)
    results = run.finish(results)
    print(summary_lines(results, run.output_dir, page), flush=True)
    return results
