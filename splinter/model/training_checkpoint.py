"""A train.py checkpoint (`.ckpt`) → how to rebuild its model, its weights, its tokenizer and the run's
saved settings.

Read here, rebuilt by `splinter.model.factory.load_model` (the one place a model is built). The
Lightning modules store the model's own config ("splinter_config") and the run's tokenizer
("splinter_tokenizer") beside Lightning's state dict and hyper-parameters, so the model is rebuilt from
the file alone, without the Hub (except the transformers backend, whose encoder architecture lives in
its own checkpoint). The hyper-parameter "model" holds the arguments `load_model` was called with;
files written before it existed keep them as flat hyper-parameters ("checkpoint", "model_config",
"backend"; "objective" for pretraining), read the same way. The file is read with weights_only=True
(`load_torch_file`): one holding pickled Python objects is refused, never run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer

from splinter.errors import CheckpointError
from splinter.files import load_torch_file
from splinter.model.config import SplinterConfig

# The hyper-parameter under which the Lightning modules record `load_model`'s arguments.
MODEL_ARGUMENTS = "model"
CONFIG_ENTRY, TOKENIZER_ENTRY = "splinter_config", "splinter_tokenizer"


@dataclass(frozen=True)
class TrainingCheckpoint:
    """What a train.py `.ckpt` holds, read and checked (`read_training_checkpoint`).

    model_arguments: `load_model`'s arguments (checkpoint, config, head_type, backend, objective) that
        rebuild the architecture the weights belong to.
    state_dict: the model's weights (Lightning's "model." prefix removed).
    tokenizer: the run's tokenizer, or None when the run had none to store.
    hyper_parameters, data_hyper_parameters: the module's and the datamodule's saved arguments.
    """

    path: Path
    model_arguments: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    tokenizer: Tokenizer | None
    hyper_parameters: dict[str, Any]
    data_hyper_parameters: dict[str, Any]


def store_model_config(model: torch.nn.Module, checkpoint: dict) -> None:
    """Write the model's own config into a .ckpt being saved (the modules' `on_save_checkpoint`), so that
    `load_model` rebuilds the model from the file alone."""
    checkpoint[CONFIG_ENTRY] = model.config.to_dict()


def read_training_checkpoint(path: str | Path) -> TrainingCheckpoint:
    """Read a train.py `.ckpt` (weights_only=True); anything missing or invalid is one `CheckpointError` line."""
    path = Path(path)
    checkpoint = load_torch_file(path, what="checkpoint")  # one line if missing, refused or broken
    try:
        config = SplinterConfig.from_dict(checkpoint[CONFIG_ENTRY])
        state = {k.removeprefix("model."): v for k, v in checkpoint["state_dict"].items()}
        hparams = dict(checkpoint.get("hyper_parameters") or {})
        data_hparams = dict(checkpoint.get("datamodule_hyper_parameters") or {})
        tokenizer = checkpoint.get(TOKENIZER_ENTRY)
        tokenizer = Tokenizer.from_str(tokenizer) if tokenizer else None
        arguments = _model_arguments(hparams, config)
    except Exception as error:  # noqa: BLE001 - any unexpected content gets the same one-line report
        raise CheckpointError(f"{path}: not a splinter training checkpoint ({error!r} missing or invalid)") from None
    return TrainingCheckpoint(path, arguments, state, tokenizer, hparams, data_hparams)


def _model_arguments(hparams: dict[str, Any], config: SplinterConfig) -> dict[str, Any]:
    """`load_model`'s arguments that rebuild the saved architecture (before the weights are loaded)."""
    recorded = hparams.get(MODEL_ARGUMENTS)
    if not isinstance(recorded, dict):  # written before the factory: flat hyper-parameters
        recorded = {"checkpoint": hparams.get("checkpoint"), "config": hparams.get("model_config"),
                    "backend": hparams.get("backend", "native"), "objective": hparams.get("objective")}
    arguments = {"head_type": config.head_type, "objective": recorded.get("objective")}
    if recorded.get("backend") == "transformers":
        # The encoder's architecture lives in its own checkpoint: rebuild from it, then load the weights.
        return {**arguments, "checkpoint": recorded["checkpoint"], "config": recorded.get("config"),
                "backend": "transformers"}
    return {**arguments, "checkpoint": None, "config": config.to_dict(), "backend": "native"}
