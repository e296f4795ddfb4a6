"""`model.backend=transformers`: any encoder that transformers' `AutoModel` loads, under this package's
QASS or linear head (DeBERTa-v3, ELECTRA, ModernBERT, ... next to the native BERT/RoBERTa encoder).

An optional extra (`pip install -e ".[hf]"`): nothing else in the package imports transformers, and
the native encoder stays the default. The model is a `SplinterForQuestionAnswering` whose encoder
is an `AutoModel` behind SplinterModel's call interface, so the head, the padding mask, the loss,
training and decoding are the native ones. Never `trust_remote_code`: only architectures transformers
itself ships. Every transformers loading call passes `trust_remote_code=False` explicitly, because left
unset transformers asks on stdin and runs a checkpoint's own Python (its config.json `auto_map`) when
the answer is "y" (see `load_encoder`).

The tokenizer is still `load_tokenizer`'s (WordPiece vocab.txt or byte-level BPE), and its
`[QUESTION]` id must index the encoder's embeddings: true for BERT-vocabulary encoders such as ELECTRA
(`[unused99]`, id `QUESTION_TOKEN_ID` of splinter/tokenization/question_token.py). A saved model is the encoder in transformers' own layout (config.json,
model.safetensors) plus `span_head.safetensors` and `span_head.json` (this package's head and its
config), so `AutoModel.from_pretrained` reads the encoder of a fine-tuned run as is.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from splinter.errors import CheckpointError, ConfigError, one_line
from splinter.files import atomic_path, write_text
from splinter.model.config import SplinterConfig
from splinter.model.encoder import SplinterModelOutput
from splinter.model.qa import SplinterForQuestionAnswering

logger = logging.getLogger("splinter")

BACKENDS = ("native", "transformers")
HEAD_WEIGHTS = "span_head.safetensors"
HEAD_CONFIG = "span_head.json"
_INSTALL_HINT = 'pip install -e ".[hf]"'


def import_transformers():
    try:
        import transformers
    except ImportError:
        raise ConfigError("model.backend", f"'transformers' needs the transformers package, which is not "
                          f"installed: {_INSTALL_HINT}") from None
    return transformers


def load_encoder(name: str, overrides: dict[str, Any]) -> nn.Module:
    """`AutoModel.from_pretrained(name, **overrides)` that never runs a checkpoint's own code."""
    transformers = import_transformers()
    if "trust_remote_code" in overrides:
        raise ConfigError("model.config.trust_remote_code", "a checkpoint's own Python code is never run; "
                          "model.backend=transformers loads only the architectures transformers ships")
    try:
        # Explicitly False: unset, transformers prompts on stdin and a "y" runs the checkpoint's Python.
        return transformers.AutoModel.from_pretrained(name, trust_remote_code=False, **overrides)
    except (OSError, ValueError, KeyError) as err:
        if _needs_own_code(name, err):
            raise CheckpointError(f"model.backend=transformers: {name!r} needs its own Python code (config.json "
                                  f"auto_map), which is never run; only architectures transformers ships load") from None
        raise CheckpointError(f"model.backend=transformers: cannot load {name!r} with AutoModel "
                              f"({one_line(err)})") from None


def _needs_own_code(name: str, err: Exception) -> bool:
    """Whether loading failed because the checkpoint asks for its own code (auto_map / trust_remote_code)."""
    if "trust_remote_code" in str(err):
        return True
    try:
        config = json.loads((Path(name) / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and "auto_map" in config


class AutoEncoder(nn.Module):
    """A transformers encoder behind SplinterModel's interface: `(input_ids, attention_mask,
    token_type_ids, position_ids)` → `.last_hidden_state`, and `encode_attended`."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        # DeBERTa-v3 has no token types (type_vocab_size 0) and some encoders take no such input.
        self.uses_token_types = getattr(model.config, "type_vocab_size", 0) > 0

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
    ) -> SplinterModelOutput:
        inputs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None and self.uses_token_types:
            inputs["token_type_ids"] = token_type_ids
        if position_ids is not None:
            inputs["position_ids"] = position_ids
        return SplinterModelOutput(last_hidden_state=self.model(**inputs).last_hidden_state)

    def encode_attended(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        keep: torch.Tensor | None = None,
    ) -> torch.Tensor:
        # No token packing here: the whole padded batch (the head masks padded logits anyway).
        del keep
        return self(input_ids, attention_mask, token_type_ids, position_ids).last_hidden_state


def head_config(encoder_config: Any, head_type: str, head_init: str | None) -> SplinterConfig:
    """The SplinterConfig the head is built from: the encoder's width and initialiser range."""
    values = {
        "vocab_size": encoder_config.vocab_size,
        "hidden_size": encoder_config.hidden_size,
        "num_hidden_layers": getattr(encoder_config, "num_hidden_layers", 0),
        "num_attention_heads": 1,  # the head has no attention; 1 divides any width
        "initializer_range": getattr(encoder_config, "initializer_range", 0.02),
        "pad_token_id": getattr(encoder_config, "pad_token_id", None) or 0,
        "head_type": head_type,
    }
    if head_init is not None:
        values["head_init"] = head_init
    return SplinterConfig(**values)


class TransformersQAModel(SplinterForQuestionAnswering):
    """SplinterForQuestionAnswering over an AutoModel encoder (see the module docstring)."""

    @property
    def max_sequence_length(self) -> None:
        return None  # the encoder's own (absolute, relative or none): transformers checks it

    @classmethod
    def from_encoder(cls, encoder: nn.Module, head_type: str = "qass", head_init: str | None = None):
        return cls(head_config(encoder.config, head_type, head_init), encoder=AutoEncoder(encoder))

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike[str],
        *,
        fresh_head: bool = False,
        output_loading_info: bool = False,
        head_type: str = "qass",
        head_init: str | None = None,
        **encoder_overrides: Any,
    ):
        """`AutoModel.from_pretrained(name_or_path, **encoder_overrides)` under a head: the saved one
        (span_head.*) unless `fresh_head`, else a fresh one. In eval mode, like the native loader."""
        name = os.fspath(name_or_path)
        encoder = load_encoder(name, encoder_overrides)
        model = cls.from_encoder(encoder, head_type, head_init)
        head_file = Path(name) / HEAD_WEIGHTS
        info = {"missing_keys": [], "unexpected_keys": [], "reinitialized_keys": []}
        prefix = f"{model.head_name}."
        if head_file.is_file() and not fresh_head:
            saved_type = _saved_head_type(Path(name))
            if saved_type not in (None, head_type):
                raise CheckpointError(f"{head_file}: the saved head is {saved_type!r}, model.head_type is "
                                      f"{head_type!r} (model.fresh_head=true starts a new head)")
            state = {prefix + key: tensor for key, tensor in load_file(head_file).items()}
            info = model._load_weights(state, head_file, fresh_head=False)
            # Only the head came from this file: the encoder's keys are not "missing".
            info["missing_keys"] = [key for key in info["missing_keys"] if key.startswith(prefix)]
        else:
            info["missing_keys"] = sorted(key for key in model.state_dict() if key.startswith(prefix))
            logger.info("model.backend=transformers: fresh %s head on %s", head_type, name)
        model.eval()
        return (model, info) if output_loading_info else model

    def save_pretrained(self, directory: str | os.PathLike[str], tokenizer: Any = None) -> Path:
        """The encoder in transformers' layout, the head in span_head.safetensors (+ span_head.json),
        and the tokenizer files when `tokenizer` is given."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.splinter.model.save_pretrained(directory)
        head = {key: tensor.detach().to("cpu", copy=True).contiguous() for key, tensor in self.head.state_dict().items()}
        with atomic_path(directory / HEAD_WEIGHTS) as partial:  # renamed once complete
            save_file(head, partial, metadata={"format": "pt"})
        _write_head_config(self.config, directory)
        if tokenizer is not None:
            from splinter.tokenization.tokenizer import save_tokenizer_files

            save_tokenizer_files(tokenizer, directory)
        return directory


def _write_head_config(config: SplinterConfig, directory: Path) -> None:
    write_text(directory / HEAD_CONFIG, json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n")


def _saved_head_type(directory: Path) -> str | None:
    path = directory / HEAD_CONFIG
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())["head_type"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path}: cannot read the head config ({one_line(err)})") from None
