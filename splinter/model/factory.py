"""`load_model`: the one place a model is built, and its weights checked against its config.

    load_model(None, config={"hidden_size": 32, ...})   # random weights from a SplinterConfig
    load_model("minilm")                                 # a registered name (splinter.registry)
    load_model("path/to/dir") / load_model("owner/name") # a save_pretrained directory or a Hub id
    load_model("outputs/.../checkpoints/last.ckpt")      # a train.py checkpoint, rebuilt from the file
    load_model("minilm", objective="rss")                # the pretraining model of an objective

Fine-tuning (splinter.finetuning.finetune), pretraining (splinter.pretraining.run), evaluation
(splinter.finetuning.evaluate) and inference (splinter.qa.answerer) all build their model here and hand it to
what uses it (the Lightning modules receive the built `nn.Module`). The arguments are the model
group's keys (conf/model/*.yaml: `checkpoint`, `config`, `head_type`, `head_init`, `fresh_head`,
`backend`), plus the pretraining `objective`; the model remembers them (`load_arguments`), so that a
`.ckpt` records how to rebuild it and a resumed run can tell whether its model is the same.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from splinter.errors import CheckpointError, ConfigError
from splinter.model.training_checkpoint import TrainingCheckpoint, read_training_checkpoint

# The model class of each objective: None is extractive QA (fine-tuning, evaluation, inference).
MODEL_CLASSES = {
    None: "splinter.model.qa:SplinterForQuestionAnswering",
    "rss": "splinter.model.qa:SplinterForPreTraining",
    "mlm": "splinter.model.masked_lm:SplinterForMaskedLM",
}
BACKENDS = ("native", "transformers")
# The model group's keys (conf/model/*.yaml) that are `load_model` arguments.
MODEL_GROUP_KEYS = ("checkpoint", "config", "head_type", "head_init", "fresh_head", "backend")


def load_model(
    checkpoint: str | os.PathLike | TrainingCheckpoint | None = None,
    *,
    config: Mapping[str, Any] | None = None,
    head_type: str | None = None,
    head_init: str | None = None,
    fresh_head: bool = False,
    backend: str = "native",
    objective: str | None = None,
) -> nn.Module:
    """The model `checkpoint` names, in eval mode, with `load_arguments` (the arguments) attached.

    checkpoint: None (random weights from `config`), a registered name ("minilm"), a directory, a Hub
        id, a train.py `.ckpt` path or the `TrainingCheckpoint` read from one (rebuilt from the file:
        `config`, `head_init` and `fresh_head` do not apply, and its objective must be `objective`).
    config: `SplinterConfig` fields over the checkpoint's config.json (with the transformers backend:
        over the AutoModel's config).
    head_type, head_init: the span-selection head and how a fresh one starts; None: the checkpoint's
        config (or SplinterConfig's default).
    fresh_head: re-initialise the checkpoint's head instead of loading it.
    backend: "native" (this package's encoder) or "transformers" (transformers' AutoModel, QA only).
    objective: None for extractive QA, "rss" (recurring span selection) or "mlm" for pretraining.
    """
    arguments = {"checkpoint": checkpoint, "config": dict(config or {}), "head_type": head_type,
                 "head_init": head_init, "fresh_head": bool(fresh_head), "backend": backend, "objective": objective}
    if isinstance(checkpoint, TrainingCheckpoint) or str(checkpoint or "").endswith(".ckpt"):
        saved = checkpoint if isinstance(checkpoint, TrainingCheckpoint) else read_training_checkpoint(checkpoint)
        return _from_training_checkpoint(saved, objective)
    if isinstance(checkpoint, os.PathLike):
        arguments["checkpoint"] = checkpoint = os.fspath(checkpoint)
    model = _build(**arguments)
    model.load_arguments = arguments
    return model


def load_model_from_config(model_cfg: Mapping[str, Any], *, keys: tuple[str, ...] = MODEL_GROUP_KEYS,
                           **arguments: Any) -> nn.Module:
    """`load_model` with the model group's `keys` (conf/model/*.yaml) as arguments; `arguments` add
    others (`objective`). Keys the group lacks keep `load_model`'s defaults."""
    given = {key: _plain(model_cfg[key]) for key in keys if key in model_cfg}
    return load_model(given.pop("checkpoint", None), **given, **arguments)


def model_arguments(model: nn.Module) -> dict[str, Any] | None:
    """The arguments `load_model` built `model` with, as plain data (a module's hyper-parameters; a .ckpt
    loads with weights_only=True); None for a model built otherwise (a test's): a .ckpt of it is
    rebuilt from its config alone."""
    arguments = getattr(model, "load_arguments", None)
    return None if arguments is None else _plain(arguments)


def _plain(value: Any) -> Any:
    """Mappings (OmegaConf's too) as dicts and sequences as lists, all the way down."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [_plain(item) for item in value]
    return value


def model_class(objective: str | None) -> type[nn.Module]:
    """The model class that trains `objective` (None: extractive QA)."""
    if objective not in MODEL_CLASSES:
        raise ConfigError("task.objective", f"unknown objective {objective!r}", [k for k in MODEL_CLASSES if k])
    module, _, name = MODEL_CLASSES[objective].partition(":")
    return getattr(importlib.import_module(module), name)


def state_mismatch(expected: Mapping[str, Any], given: Mapping[str, Any]) -> str | None:
    """The first difference between a model's state dict and a checkpoint's, in words; None if they fit."""
    missing = sorted(set(expected) - set(given))
    if missing:
        return f"{len(missing)} weights missing, e.g. {missing[0]}"
    unexpected = sorted(set(given) - set(expected))
    if unexpected:
        return f"{len(unexpected)} unexpected weights, e.g. {unexpected[0]}"
    for key, tensor in expected.items():
        if tuple(given[key].shape) != tuple(tensor.shape):
            return f"{key} has shape {tuple(given[key].shape)}, the model expects {tuple(tensor.shape)}"
    return None


def _build(checkpoint: str | None, config: dict, head_type: str | None, head_init: str | None, fresh_head: bool,
           backend: str, objective: str | None) -> nn.Module:
    if backend not in BACKENDS:
        raise ConfigError("model.backend", f"unknown backend {backend!r}", BACKENDS)
    cls = model_class(objective)
    overrides = {**config, **({"head_type": head_type} if head_type is not None else {}),
                 **({"head_init": head_init} if head_init is not None else {})}
    if backend == "transformers":
        if objective is not None:
            raise ConfigError("model.backend", f"the transformers backend trains QA only, not task.objective={objective}",
                              ["native"])
        if checkpoint is None:
            raise ConfigError("model.checkpoint", "model.backend=transformers needs a checkpoint (a directory "
                              "or Hub id that transformers' AutoModel loads), got null")
        from splinter.model.transformers_backend import TransformersQAModel

        return TransformersQAModel.from_pretrained(checkpoint, fresh_head=fresh_head, **overrides)
    if checkpoint is None:
        from splinter.model.config import SplinterConfig

        return cls(SplinterConfig(**overrides)).eval()  # eval mode, as from_pretrained hands it back
    return cls.from_pretrained(checkpoint, fresh_head=fresh_head, **overrides)


def _from_training_checkpoint(saved: TrainingCheckpoint, objective: str | None) -> nn.Module:
    """The trained model of a `.ckpt`: its architecture rebuilt from the file, its weights checked and loaded."""
    recorded = saved.model_arguments.get("objective")
    if recorded != objective:
        def kind(name):
            return f"a pretraining model (objective {name})" if name else "a QA model"

        raise CheckpointError(f"{saved.path}: holds {kind(recorded)}, not {kind(objective)}")
    model = load_model(**saved.model_arguments)
    problem = state_mismatch(model.state_dict(), saved.state_dict)
    if problem:
        raise CheckpointError(f"{saved.path}: its stored config does not match its weights ({problem})")
    model.load_state_dict(saved.state_dict)
    return model.eval()

