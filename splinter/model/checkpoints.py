"""from_pretrained / save_pretrained for the Splinter models, without transformers.

A checkpoint is a directory with config.json and model.safetensors or pytorch_model.bin, in the
Hugging Face layout, so that transformers and this package read each other's checkpoints. Loading:

1. resolve the name: a registered name (splinter.registry: "minilm" → the MiniLM package), an existing local directory, else a Hub id
   fetched with `huggingface_hub.snapshot_download`;
2. read config.json (Splinter, BERT or RoBERTa) and build the model, freshly initialised;
3. read the weights, rename them into this model's keys (BERT/RoBERTa → `splinter.*`, bare encoder keys ↔
   `splinter.*`, legacy buffers dropped; RoBERTa gains a `[QUESTION]` row), check shapes, load, and
   report what was missing or unused.

A RoBERTa-family model is saved with its encoder under `roberta.` (and model_type "roberta"), so that
transformers' Roberta classes read it too.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from safetensors.torch import load_file, save
from torch import nn

from splinter.errors import CheckpointError, one_line
from splinter.files import atomic_write, load_torch_file
from splinter.hub import resolve_directory
from splinter.model.bert import ENCODER_KEY_PREFIXES, bert_state_dict_to_splinter
from splinter.model.config import SplinterConfig, read_config_dict
from splinter.model.roberta import (
    mask_token_id,
    roberta_state_dict_to_splinter,
    splinter_state_dict_to_roberta,
)
from splinter.registry import alias_directory

logger = logging.getLogger("splinter")

CONFIG_NAME = "config.json"
SAFETENSORS_NAME = "model.safetensors"
BIN_NAME = "pytorch_model.bin"
# What a Hub download fetches: the config, either weight format, and the tokenizer files.
HUB_FILES = [
    CONFIG_NAME,
    SAFETENSORS_NAME,
    BIN_NAME,
    "vocab.txt",
    "vocab.json",  # byte-level BPE (RoBERTa family)
    "merges.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
]
_LOCAL_HINT = "pass a local directory holding config.json and model.safetensors or pytorch_model.bin"
# Non-learned buffers that older transformers versions saved; the models here derive them.
_BUFFER_SUFFIXES = ("embeddings.position_ids", "embeddings.token_type_ids")
# TF-era BERT checkpoints name LayerNorm parameters gamma/beta.
_LEGACY_LAYER_NORM = {"LayerNorm.gamma": "LayerNorm.weight", "LayerNorm.beta": "LayerNorm.bias"}

LoadingInfo = dict[str, list[str]]
ModelT = TypeVar("ModelT", bound="CheckpointMixin")


def resolve_checkpoint_dir(name: str) -> Path:
    """The local directory for `name`: a registered name ("minilm"), a local directory, or a Hub id (downloaded)."""
    return alias_directory(name) or resolve_directory(name, what="checkpoint", files=HUB_FILES, local_hint=_LOCAL_HINT)


def read_state_dict(directory: Path) -> tuple[dict[str, torch.Tensor], Path]:
    """The weights in `directory` (safetensors preferred) on CPU, and the file they came from."""
    path = directory / SAFETENSORS_NAME
    if not path.is_file():
        path = directory / BIN_NAME
    if not path.is_file():
        raise CheckpointError(f"{directory}: no {SAFETENSORS_NAME} or {BIN_NAME} found")
    if path.name == SAFETENSORS_NAME:
        try:
            state = load_file(path, device="cpu")
        except Exception as err:  # a truncated or corrupt file fails in several ways
            raise CheckpointError(
                f"{path}: cannot read the weights ({type(err).__name__}: {one_line(err)}); "
                "the file may be truncated or corrupt: download it again"
            ) from err
    else:  # weights_only=True: a pickle with objects or code is refused, and said so
        state = load_torch_file(path, what="weights file")
    if not isinstance(state, Mapping) or not all(isinstance(t, torch.Tensor) for t in state.values()):
        raise CheckpointError(f"{path}: does not hold a state dict (a mapping of names to tensors)")
    return dict(state), path


def canonical_state_dict(
    state: Mapping[str, torch.Tensor], from_bert: bool, encoder_prefix: str, kept_bert_prefixes: tuple[str, ...] = ()
) -> dict[str, torch.Tensor]:
    """Rename checkpoint keys into a model's keys: its encoder lives under `encoder_prefix`; BERT head
    keys under `kept_bert_prefixes` are kept (the model has that head), the others dropped.

    RoBERTa checkpoints are renamed by `roberta_state_dict_to_splinter` before they get here."""
    if from_bert:
        state = bert_state_dict_to_splinter(state, keep=kept_bert_prefixes)
    renamed = {}
    for key, tensor in state.items():
        if key.endswith(_BUFFER_SUFFIXES):
            continue
        for old, new in _LEGACY_LAYER_NORM.items():
            if key.endswith(old):
                key = key.removesuffix(old) + new
        # A saved bare encoder has no prefix, a saved model with a head has "splinter.": either
        # loads into either, as with transformers' base_model_prefix.
        if key.startswith(ENCODER_KEY_PREFIXES):
            key = "splinter." + key
        if not encoder_prefix:
            key = key.removeprefix("splinter.")
        renamed[key] = tensor
    return renamed


class CheckpointMixin(nn.Module):
    """The nn.Module base of SplinterModel and the models with a head: from_pretrained / save_pretrained."""

    config: SplinterConfig
    # Where the encoder's keys live in this model's state dict ("" for the bare encoder).
    encoder_prefix: ClassVar[str] = ""
    # Attribute name of the span-selection head, for models that have one.
    head_name: str | None = None
    # Keys that share their tensor with another one (a tied decoder): not saved, never missing.
    tied_keys: ClassVar[tuple[str, ...]] = ()
    # BERT pretraining-head keys (normally dropped on conversion) that this model loads.
    kept_bert_prefixes: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_pretrained(
        cls: type[ModelT],
        name_or_path: str | os.PathLike[str],
        *,
        fresh_head: bool = False,
        output_loading_info: bool = False,
        **config_overrides: Any,
    ) -> ModelT | tuple[ModelT, LoadingInfo]:
        """Load a Splinter or BERT checkpoint: a local directory, a Hub id, or "minilm".

        `config_overrides` replace config.json values (e.g. `hidden_dropout_prob=0.0`,
        `head_type="linear"`). `fresh_head=True` re-initialises the head even when the checkpoint
        has one (what the paper's fine-tuning command does). Weights the checkpoint lacks are
        freshly initialised and logged, as are checkpoint weights the model does not use; with
        `output_loading_info=True` the lists come back too: `(model, {"missing_keys": [...],
        "unexpected_keys": [...], "reinitialized_keys": [...]})`. The model is in eval mode.
        """
        name = os.fspath(name_or_path)
        directory = resolve_checkpoint_dir(name)
        values, source = read_config_dict(directory / CONFIG_NAME)
        from_bert = source == "bert"
        model = cls(SplinterConfig.from_dict(values, **config_overrides))
        if fresh_head and model.head_name is None:
            raise ValueError(f"fresh_head=True needs a model with a head, not {cls.__name__}")
        state, weights_path = read_state_dict(directory)
        if source == "roberta":
            vocab_size = model.config.vocab_size
            state = roberta_state_dict_to_splinter(state, vocab_size, mask_token_id(directory, vocab_size - 1))
        state = canonical_state_dict(state, from_bert, cls.encoder_prefix, cls.kept_bert_prefixes)
        info = model._load_weights(state, weights_path, fresh_head)
        _log_loading_info(info, model, name)
        if from_bert:
            logger.info(
                "%s is a BERT checkpoint: [QUESTION] is token id %d",
                name,
                model.config.question_token_id,
            )
        model.eval()
        return (model, info) if output_loading_info else model

    def _load_weights(self, state: dict[str, torch.Tensor], source: Path, fresh_head: bool) -> LoadingInfo:
        reinitialized: list[str] = []
        if fresh_head:
            head = f"{self.head_name}."
            reinitialized = sorted(key for key in state if key.startswith(head))
            state = {key: t for key, t in state.items() if not key.startswith(head)}
        own = self.state_dict()
        for key, tensor in state.items():
            if key in own and own[key].shape != tensor.shape:
                raise CheckpointError(
                    f"{source}: shape mismatch for {key}: checkpoint {tuple(tensor.shape)}, "
                    f"model {tuple(own[key].shape)} (does config.json match the weights?)"
                )
        result = self.load_state_dict(state, strict=False)
        return {
            "missing_keys": sorted(set(result.missing_keys) - set(reinitialized)),
            "unexpected_keys": sorted(result.unexpected_keys),
            "reinitialized_keys": reinitialized,
        }

    def save_pretrained(self, directory: str | os.PathLike[str], tokenizer: Any = None) -> Path:
        """Write config.json and model.safetensors (and tokenizer files when `tokenizer` is given:
        a `tokenizers.Tokenizer` or a path holding tokenizer files). transformers' class of the same
        name loads the result."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.config.save(directory, architecture=type(self).__name__)
        # Private CPU copies: safetensors refuses tensors that share storage or are not contiguous.
        tensors = {
            key: tensor.detach().to("cpu", copy=True).contiguous()
            for key, tensor in self.state_dict().items()
            if key not in self.tied_keys
        }
        if self.config.encoder_family == "roberta":
            tensors = splinter_state_dict_to_roberta(tensors)
        with atomic_write(directory / SAFETENSORS_NAME) as file:  # never a truncated weights file
            file.write(save(tensors, metadata={"format": "pt"}))
        if tokenizer is not None:
            # Imported here: the tokenizer module is only needed when a tokenizer is saved.
            from splinter.tokenization.tokenizer import save_tokenizer_files

            save_tokenizer_files(tokenizer, directory)
        return directory


# What the loading report calls a model's head (`head_name`).
_HEAD_LABELS = {"splinter_qass": "QASS", "qa_outputs": "linear QA", "cls": "MLM"}


def _log_loading_info(info: LoadingInfo, model: CheckpointMixin, checkpoint: str) -> None:
    """Report what was not loaded: in one line when it is exactly the model's head (a checkpoint
    without this head, the usual start of fine-tuning), else every key, in the words transformers
    users know from its from_pretrained (a missing encoder weight matters)."""
    missing = info["missing_keys"]
    head_name = getattr(model, "head_name", None)
    if missing and head_name and all(key.startswith(f"{head_name}.") for key in missing):
        logger.warning(
            "fresh %s head (%d tensors): %s has none, so it starts untrained (train it before using its answers)",
            _HEAD_LABELS.get(head_name, head_name), len(missing), checkpoint,
        )
    elif missing:
        logger.warning(
            "Some weights of %s were not initialized from the model checkpoint at %s and are newly "
            "initialized: %s\nYou should probably TRAIN this model on a down-stream task to be able "
            "to use it for predictions and inference.",
            type(model).__name__,
            checkpoint,
            missing,
        )
    if info["unexpected_keys"]:
        logger.warning(
            "Some weights of the model checkpoint at %s were not used when initializing %s: %s",
            checkpoint,
            type(model).__name__,
            info["unexpected_keys"],
        )
    if info["reinitialized_keys"]:
        logger.info(
            "fresh_head=True: the head of %s was re-initialized instead of loaded from %s (%d tensors)",
            type(model).__name__,
            checkpoint,
            len(info["reinitialized_keys"]),
        )
