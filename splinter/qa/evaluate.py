"""`evaluate.py`: score a checkpoint, or an existing predictions file, on a dataset's evaluation set."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from tokenizers import Tokenizer

from splinter.config_checks import check_required
from splinter.data.readers import file_sha256
from splinter.errors import DataError
from splinter.files import write_json
from splinter.metrics import squad_scores
from splinter.qa.checkpoint import read_training_checkpoint
from splinter.qa.finetune import evaluate
from splinter.qa.module import QAModule
from splinter.run.instantiate import instantiate_node
from splinter.run.job import Run
from splinter.tokenizer import load_tokenizer

log = logging.getLogger("splinter")


def load_module_from_ckpt(path: Path, decoding: dict) -> tuple[QAModule, Tokenizer | None]:
    """A QAModule and its tokenizer from a Lightning .ckpt written by train.py (weights_only=True)."""
    saved = read_training_checkpoint(path)
    module = QAModule(**saved.model_arguments, **decoding)
    saved.load_weights(module.model)
    return module, saved.tokenizer


def build_eval_module(cfg: DictConfig, checkpoint: str) -> tuple[QAModule, Tokenizer | None]:
    """The model to evaluate and, when the checkpoint carries one, its tokenizer."""
    decoding = {**cfg.task.module, "compile": cfg.model.get("compile", False)}
    if checkpoint.endswith(".ckpt"):
        return load_module_from_ckpt(Path(checkpoint), decoding)
    return QAModule(checkpoint=checkpoint, head_type=cfg.model.head_type,
                    backend=cfg.model.get("backend", "native"), **decoding), None


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


def run(cfg: DictConfig) -> dict:
    run = Run.start(cfg, resumable=False, check=_check)
    checkpoint = str(cfg.checkpoint or cfg.model.checkpoint)
    if cfg.predictions:
        module, tokenizer = None, cfg.model.tokenizer  # a name only: scoring never tokenises
    else:
        module, tokenizer = build_eval_module(cfg, checkpoint)
        if tokenizer is None:
            # a save_pretrained directory or hub id carries its tokenizer files; else the model group's
            tokenizer = load_tokenizer(checkpoint if cfg.checkpoint else cfg.model.tokenizer)
    datamodule = instantiate_node(cfg.data, tokenizer=tokenizer)

    if cfg.predictions:
        datamodule.setup("test", windows=False)  # references only: no windows, no model
        references = datamodule.references()
        predictions = _read_predictions(Path(cfg.predictions))
        coverage = _coverage(Path(cfg.predictions), predictions, references, datamodule.eval_path)
        metrics = {**squad_scores(predictions, references), "num_questions": len(references), **coverage}
        source = {"predictions": str(cfg.predictions), "predictions_sha256": file_sha256(cfg.predictions)}
    else:
        trainer = instantiate_node(cfg.trainer, logger=False, callbacks=[], max_steps=-1)
        predictions, metrics = evaluate(trainer, module, datamodule)
        write_json(run.output_dir / "predictions.json", predictions, indent=1)
        source = {"checkpoint": checkpoint}

    results = run.finish({
        "model_name": cfg.model.name,
        **source,
        "dataset": cfg.data.dataset,
        "eval_dataset": datamodule.eval_dataset,  # == dataset unless data.eval_set names another
        "exact_match": metrics["exact_match"],
        "f1": metrics["f1"],
        "num_questions": metrics["num_questions"],
        **{key: metrics[key] for key in ("num_windows", "unanswered", "unknown_ids") if key in metrics},
        "eval_file": str(datamodule.eval_path),
        "data": datamodule.data_info(),
    })
    print(f"EM {results['exact_match']:.2f}  F1 {results['f1']:.2f}  on {results['num_questions']} questions"
          f"  → {run.output_dir}")
    return results
