"""A train.py checkpoint (`.ckpt`) → its QA model, its tokenizer and the run's saved settings.

One reader for evaluate.py and `QuestionAnswerer`. `QAModule.on_save_checkpoint` stores the model's
own config ("splinter_config") and the run's tokenizer ("splinter_tokenizer") beside Lightning's state
dict and hyper-parameters, so the model is rebuilt from the file alone, without the Hub (except the
transformers backend, whose encoder architecture lives in its own checkpoint). The file is read with
weights_only=True (`load_torch_file`): one holding pickled Python objects is refused, never run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer

from splinter.errors import CheckpointError
from splinter.files import load_torch_file
from splinter.model.checkpoints import state_mismatch
from splinter.model.config import SplinterConfig


@dataclass(frozen=True)
class TrainingCheckpoint:
    """What a train.py `.ckpt` holds, read and checked (`read_training_checkpoint`).

    model_arguments: `QAModule`'s model arguments (checkpoint, model_config, head_type, backend) that
        rebuild the architecture the weights belong to.
    state_dict: the model's weights (Lightning's "model." prefix removed).
    tokenizer: the run's tokenizer, or None when the run had none to store.
    hyper_parameters, data_hyper_parameters: the QAModule's and the datamodule's saved arguments.
    """

    path: Path
    model_arguments: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    tokenizer: Tokenizer | None
    hyper_parameters: dict[str, Any]
    data_hyper_parameters: dict[str, Any]

    def load_weights(self, model: torch.nn.Module) -> torch.nn.Module:
        """`model` (built from `model_arguments`) with the checkpoint's weights; a mismatch is one line."""
        problem = state_mismatch(model.state_dict(), self.state_dict)
        if problem:
            raise CheckpointError(f"{self.path}: its stored config does not match its weights ({problem})")
        model.load_state_dict(self.state_dict)
        return model

    def build_model(self) -> torch.nn.Module:
        """The trained QA model alone (no LightningModule), in eval mode."""
        from splinter.finetuning.module import (
            build_qa_model,  # the module pulls in Lightning: only when needed
        )

        args = self.model_arguments
        model = build_qa_model(args["checkpoint"], args["model_config"], head_type=args["head_type"],
                               backend=args["backend"])
        return self.load_weights(model).eval()


def read_training_checkpoint(path: str | Path) -> TrainingCheckpoint:
    """Read a train.py `.ckpt` (weights_only=True); anything missing or invalid is one `CheckpointError` line."""
    path = Path(path)
    checkpoint = load_torch_file(path, what="checkpoint")  # one line if missing, refused or broken
    try:
        config = SplinterConfig.from_dict(checkpoint["splinter_config"])
        state = {k.removeprefix("model."): v for k, v in checkpoint["state_dict"].items()}
        hparams = dict(checkpoint.get("hyper_parameters") or {})
        data_hparams = dict(checkpoint.get("datamodule_hyper_parameters") or {})
        tokenizer = checkpoint.get("splinter_tokenizer")
        tokenizer = Tokenizer.from_str(tokenizer) if tokenizer else None
        if hparams.get("backend") == "transformers":
            # The encoder's architecture lives in its own checkpoint: rebuild from it, then load the weights.
            arguments = {"checkpoint": hparams["checkpoint"], "model_config": hparams.get("model_config"),
                         "backend": "transformers"}
        else:
            arguments = {"checkpoint": None, "model_config": config.to_dict(), "backend": "native"}
    except Exception as error:  # noqa: BLE001 - any unexpected content gets the same one-line report
        raise CheckpointError(f"{path}: not a splinter training checkpoint ({error!r} missing or invalid)") from None
    return TrainingCheckpoint(path, {**arguments, "head_type": config.head_type}, state, tokenizer, hparams,
                              data_hparams)
