"""Turning a plain BERT checkpoint (config + state dict) into a Splinter encoder.

Splinter is BERT with one vocabulary entry repurposed as [QUESTION], so the conversion is a rename:
the encoder weights move under `splinter.`, BERT's pooler and pretraining heads are dropped, and the
question token is an entry BERT never trained on.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from splinter.errors import CheckpointError
from splinter.tokenization.question_token import QUESTION_TOKEN_ID

if TYPE_CHECKING:
    import torch

# The pooler and the MLM/NSP heads have no counterpart in Splinter.
_DROPPED_PREFIXES = ("bert.pooler.", "pooler.", "cls.")
# The encoder's keys in a checkpoint saved without a head (BertModel, SplinterModel).
ENCODER_KEY_PREFIXES = ("embeddings.", "encoder.")


# The fields every BERT config.json has had, with or without model_type.
_BERT_FIELDS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                "max_position_embeddings", "type_vocab_size")


def looks_like_bert_config(values: Mapping[str, Any]) -> bool:
    """A config.json written before transformers added model_type (e.g. SpanBERT's) with BERT's fields."""
    return all(key in values for key in _BERT_FIELDS)


def bert_config_to_splinter(values: Mapping[str, Any], path: str | Path) -> dict[str, Any]:
    """A BERT config.json dict as a Splinter one; `path` names the file in errors."""
    position_type = values.get("position_embedding_type", "absolute")
    if position_type != "absolute":
        raise CheckpointError(
            f"{path}: position_embedding_type {position_type!r} is not supported (Splinter uses 'absolute')"
        )
    converted = {**values, "model_type": "splinter", "encoder_family": "bert"}
    if converted.get("question_token_id") is None:
        converted["question_token_id"] = QUESTION_TOKEN_ID
    return converted


def bert_state_dict_to_splinter(
    state: Mapping[str, torch.Tensor], keep: tuple[str, ...] = ()
) -> dict[str, torch.Tensor]:
    """Rename `bert.*` and bare `embeddings.*`/`encoder.*` keys to `splinter.*`; drop pooler/MLM heads
    (except keys under the prefixes `keep`: `SplinterForMaskedLM` loads `cls.predictions.*`).

    Other keys (e.g. a BertForQuestionAnswering `qa_outputs.*`, which matches our linear head) pass
    through unchanged, so the loader can load or report them.
    """
    converted = {}
    for key, tensor in state.items():
        if key.startswith(_DROPPED_PREFIXES) and not key.startswith(keep):
            continue
        if key.startswith("bert."):
            key = "splinter." + key.removeprefix("bert.")
        elif key.startswith(ENCODER_KEY_PREFIXES):
            key = "splinter." + key
        converted[key] = tensor
    return converted
