"""`evaluate.py`: score a checkpoint, or an existing predictions file, on a dataset's evaluation set."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from tokenizers import Tokenizer

from splinter.data.formats.readers import file_sha256
from splinter.errors import DataError
from splinter.files import write_json
from splinter.finetuning.finetune import evaluate, wants_analysis
from splinter.finetuning.module import QAModule
from splinter.model.factory import load_model
from splinter.model.training_checkpoint import TrainingCheckpoint, read_training_checkpoint
from splinter.qa.analysis import ANALYSIS_FILE, human_size, write_analysis_page
from splinter.qa.answerer import checkpoint_settings, run_config, run_config_settings
from splinter.qa.metrics import squad_scores
from splinter.run.config_checks import check_required, command_line_keys
from splinter.run.instantiate import instantiate_node
from splinter.run.job import Run
from splinter.run.trainer import with_console
from splinter.tokenization.tokenizer import check_fits_model, load_tokenizer

log = logging.getLogger("splinter")


# Where each of a run's saved settings (splinter.qa.answerer's names) lives in evaluate.py's config. The
# batch size is left out: it changes the speed, not the scores.
_SETTING_KEYS = {**{key: f"data.{key}" for key in ("max_seq_length", "doc_stride", "max_query_length",
                                                   "zero_token_type_ids", "hide_sep", "pad_to_multiple_of")},
                 **{key: f"decoding.{key}" for key in ("max_answer_length", "n_best", "use_max_context")}}


def use_run_settings(cfg: DictConfig, settings: dict, source: str, explicit: set[str]) -> list[str]:
    """Evaluate a training run's model with the window and decoding settings that run evaluated with
    (`settings`, read as QuestionAnswerer reads them), so that evaluate.py reproduces the run's scores;
    a key the user set on the command line (`explicit`) keeps the user's value, and the keys whose value
    differs from the run's are returned and logged in one line."""
    differ = []
    for name, value in settings.items():
        key = _SETTING_KEYS.get(name)
        if key is None:
            continue
        if key in explicit:
            current = OmegaConf.select(cfg, key)
            if current != value:
                differ.append(f"{key}={current} (the run: {value})")
        else:
            OmegaConf.update(cfg, key, value)
    if differ:
        log.warning("evaluating with settings the training run did not use (%s): %s", source, ", ".join(differ))
    return differ


def _model_name(cfg: DictConfig, checkpoint: str) -> str:
    """The evaluated model's name: the model group's when it is that group's checkpoint, else the
    training run's model name (its config.yaml), else the checkpoint as given."""
    if not cfg.checkpoint:
        return cfg.model.name
    saved, _ = run_config(Path(checkpoint))
    name = ((saved or {}).get("model") or {}).get("name")
    return str(name) if name else checkpoint


def load_module_from_ckpt(checkpoint: Path | TrainingCheckpoint, decoding: dict) -> tuple[QAModule, Tokenizer | None]:
    """A QAModule and its tokenizer from a Lightning .ckpt written by train.py (weights_only=True), or
    from the `TrainingCheckpoint` already read from one."""
    saved = checkpoint if isinstance(checkpoint, TrainingCheckpoint) else read_training_checkpoint(checkpoint)
    return QAModule(load_model(saved), **decoding), saved.tokenizer


def build_eval_module(cfg: DictConfig, checkpoint: str,
                      saved: TrainingCheckpoint | None = None) -> tuple[QAModule, Tokenizer | None]:
    """The model to evaluate and, when the checkpoint carries one, its tokenizer (`saved`: the .ckpt
    `checkpoint` names, already read)."""
    decoding = {**cfg.decoding, "compile": cfg.model.get("compile", False)}
    if checkpoint.endswith(".ckpt"):
        return load_module_from_ckpt(saved or Path(checkpoint), decoding)
    model = load_model(checkpoint, head_type=cfg.model.head_type, backend=cfg.model.get("backend", "native"))
    return QAModule(model, **decoding), None


def _read_predictions(path: Path) -> dict[str, str]:
    try:
        predictions = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(path, "predictions file not found") from None
    except IsADirectoryError:
        raise DataError(path, "is a directory, not a predictions file") from None
    except json.JSONDecodeError as error:
        raise DataError(path, f"not valid JSON: {error.msg}", line=error.lineno) from None
    if not isinstance(predictions, dict) or not all(isinstance(v, str) for v in predictions.values()):
        raise DataError(path, "expected a JSON object mapping question ids to answer strings")
    return predictions


def _coverage(path: Path, predictions: dict[str, str], references: dict, eval_path) -> dict[str, int]:
    """How the predictions' ids meet the evaluation questions: unanswered questions score 0 (the official
    script's rule) and ids of no question are ignored; both are counted in results.json. A file that
    answers none of the questions is an error (another set's predictions, or an empty file)."""
    answered = sum(qid in predictions for qid in references)
    unknown = [qid for qid in predictions if qid not in references]
    if not answered:
        example = f" (e.g. {unknown[0]!r})" if unknown else ""
        raise DataError(path, f"none of its {len(predictions)} ids is a question of {eval_path}{example}: "
                              "predictions for another evaluation set?")
    if unknown:
        log.warning("%s: %d ids are not questions of %s and are ignored (e.g. %r)",
                    path, len(unknown), eval_path, unknown[0])
    return {"unanswered": len(references) - answered, "unknown_ids": len(unknown)}


def _check(cfg: DictConfig) -> None:
    if OmegaConf.is_missing(cfg.data, "train_file"):
        cfg.data.train_file = None  # data=custom: evaluation never reads a training file
    check_required(cfg, "data")


def run(cfg: DictConfig, explicit: set[str] | None = None) -> dict:
    """`explicit`: the keys the user set (default: the command line's); the others take the training
    run's window and decoding settings when the checkpoint is a run's model."""
    checkpoint = str(cfg.checkpoint or cfg.model.checkpoint)
    saved = None
    if not cfg.predictions:
        saved = read_training_checkpoint(checkpoint) if checkpoint.endswith(".ckpt") else None
        settings, settings_source = checkpoint_settings(saved) if saved else run_config_settings(Path(checkpoint))
        differ = use_run_settings(cfg, settings, settings_source,
                                  command_line_keys() if explicit is None else explicit)
    analysis = wants_analysis(cfg)
    run = Run.start(cfg, resumable=False, check=_check,
                    writes=(ANALYSIS_FILE,) if cfg.predictions else ("predictions.json", ANALYSIS_FILE))
    answers = None
    if cfg.predictions:
        module, tokenizer = None, cfg.model.tokenizer  # a name only: scoring never tokenises
    else:
        module, tokenizer = build_eval_module(cfg, checkpoint, saved)
        # where the window/decoding settings came from, and those the user changed from the run's
        source = {"checkpoint": checkpoint, "settings_from": settings_source,
                  **({"settings_differ": differ} if differ else {})}
        if tokenizer is None:
            # a save_pretrained directory or hub id carries its tokenizer files; else the model group's
            tokenizer = load_tokenizer(checkpoint if cfg.checkpoint else cfg.model.tokenizer)
        check_fits_model(tokenizer, module.model.config.vocab_size, module.model.config.question_token_id)
        module.model.check_sequence_length(cfg.data.max_seq_length)
    datamodule = instantiate_node(cfg.data, tokenizer=tokenizer)

    if cfg.predictions:
        datamodule.setup("test", windows=False)  # references only: no windows, no model
        references = datamodule.references()
        predictions = _read_predictions(Path(cfg.predictions))
        coverage = _coverage(Path(cfg.predictions), predictions, references, datamodule.eval_path)
        metrics = {**squad_scores(predictions, references), "num_questions": len(references), **coverage}
        source = {"predictions": str(cfg.predictions), "predictions_sha256": file_sha256(cfg.predictions)}
    else:
        trainer = instantiate_node(cfg.trainer, logger=False, callbacks=with_console(cfg, []), max_steps=-1)
        predictions, metrics = evaluate(trainer, module, datamodule, answers=analysis)
        answers, references = metrics.get("answers"), datamodule.evaluation_set.references
        write_json(run.output_dir / "predictions.json", predictions, indent=1)

    results = {
        "model_name": _model_name(cfg, checkpoint) if not cfg.predictions else cfg.model.name,
        **source,
        "dataset": cfg.data.dataset,
        "eval_dataset": datamodule.eval_dataset,  # == dataset unless data.eval_set names another
        "exact_match": metrics["exact_match"],
        "f1": metrics["f1"],
        "num_questions": metrics["num_questions"],
        **{key: metrics[key] for key in ("num_windows", "unanswered", "unknown_ids") if key in metrics},
        "eval_file": str(datamodule.eval_path),
        "data": datamodule.data_info(),
    }
    page = ""
    if analysis:
        size = write_analysis_page(run.output_dir, datamodule.eval_examples, predictions, references, answers, results)
        page = f" ({ANALYSIS_FILE} {human_size(size)})"
    results = run.finish(results)
    print(f"EM {results['exact_match']:.2f}  F1 {results['f1']:.2f}  on {results['num_questions']} questions"
          f"  → {run.output_dir}{page}")
    return results
