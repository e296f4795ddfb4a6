"""Turning a RoBERTa-family checkpoint (config + state dict) into a Splinter encoder, and back.

RoBERTa is BERT's encoder with three differences that matter here: position ids start at
`padding_idx + 1` (padding tokens take position `padding_idx`), there is one token type, and the
LayerNorm eps is 1e-5 (read from config.json like every other size). Everything else (keys below
`roberta.`, layers, post-LayerNorm) is BERT's, so the same native encoder runs it
(`SplinterConfig.encoder_family = "roberta"`).

The question token. A byte-level BPE vocabulary has no unused slot to rename, so `[QUESTION]` is a new
special token with a new embedding row, id = the checkpoint's vocab_size (the tokenizer gives it the
same id: the next free one, see splinter/tokenization/byte_level_bpe.py). The row starts as a copy of the
`<mask>` row. The paper's code did the closest thing for encoders not pretrained with a question
token: its `qass_preprocess.py` appends " [MASK]." to every question and `ModelWithQASSHead`
(`replace_mask_with_question_token=True`) then swaps the [MASK] id for the question id of the
BERT vocabulary, an unused entry (`QUESTION_TOKEN_ID`, splinter/tokenization/question_token.py). So the QASS head reads the representation of a token the
encoder knows as "fill in the missing span"; copying `<mask>` keeps that starting point here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from splinter.errors import CheckpointError

if TYPE_CHECKING:
    import torch

logger = logging.getLogger("splinter")

MASK_TOKEN = "<mask>"
ROBERTA_PAD_TOKEN_ID = 1
# Pooler and masked-LM head have no counterpart in Splinter.
_DROPPED_PREFIXES = ("roberta.pooler.", "pooler.", "lm_head.")
_WORD_EMBEDDINGS = "splinter.embeddings.word_embeddings.weight"


def roberta_config_to_splinter(values: Mapping[str, Any], path: str | Path) -> dict[str, Any]:
    """A RoBERTa config.json dict as a Splinter one; `path` names the file in errors.

    A checkpoint without a question token (any RoBERTa from the Hub) gets one: vocab_size grows by
    one and question_token_id is the new row. One this package saved already has it.
    """
    position_type = values.get("position_embedding_type", "absolute")
    if position_type != "absolute":
        raise CheckpointError(f"{path}: position_embedding_type {position_type!r} is not supported "
                              "(RoBERTa uses 'absolute')")
    if "vocab_size" not in values:
        raise CheckpointError(f"{path}: a RoBERTa config needs vocab_size")
    converted = {**values, "encoder_family": "roberta"}
    converted.setdefault("pad_token_id", ROBERTA_PAD_TOKEN_ID)
    if converted.get("question_token_id") is None:
        converted["question_token_id"] = values["vocab_size"]
        converted["vocab_size"] = values["vocab_size"] + 1
    return converted


def mask_token_id(directory: Path, vocab_size: int) -> int:
    """The id of `<mask>` in the tokenizer files next to a checkpoint; RoBERTa's own layout (the last
    entry, vocab_size - 1) when there are none."""
    for name in ("tokenizer.json", "vocab.json"):
        path = directory / name
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise CheckpointError(f"{path}: cannot read tokenizer file ({err})") from None
        if name == "tokenizer.json":
            for token in data.get("added_tokens") or []:
                if token.get("content") == MASK_TOKEN:
                    return int(token["id"])
            data = (data.get("model") or {}).get("vocab") or {}
        if isinstance(data, dict) and MASK_TOKEN in data:
            return int(data[MASK_TOKEN])
    return vocab_size - 1


def roberta_state_dict_to_splinter(
    state: Mapping[str, torch.Tensor], vocab_size: int, question_init_id: int
) -> dict[str, torch.Tensor]:
    """Rename `roberta.*` and bare encoder keys to `splinter.*`, drop the pooler and LM head, and add
    the `[QUESTION]` row (a copy of row `question_init_id`) when the embeddings are one row short of
    `vocab_size` (the model's, question token included). Other keys (a RobertaForQuestionAnswering
    `qa_outputs.*`, our QASS head) pass through.
    """
    import torch  # here, so that the config conversion above stays free of torch

    converted = {}
    for key, tensor in state.items():
        if key.startswith(_DROPPED_PREFIXES):
            continue
        if key.startswith("roberta."):
            key = "splinter." + key.removeprefix("roberta.")
        elif key.startswith(("embeddings.", "encoder.")):
            key = "splinter." + key
        converted[key] = tensor
    words = converted.get(_WORD_EMBEDDINGS)
    if words is not None and words.shape[0] == vocab_size - 1:
        if not 0 <= question_init_id < words.shape[0]:
            raise CheckpointError(f"<mask> id {question_init_id} is outside the embeddings "
                                  f"({words.shape[0]} rows)")
        converted[_WORD_EMBEDDINGS] = torch.cat([words, words[question_init_id:question_init_id + 1]])
        logger.info("[QUESTION] is a new token, id %d, its embedding a copy of <mask> (id %d)",
                    vocab_size - 1, question_init_id)
    return converted


def splinter_state_dict_to_roberta(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The keys transformers' Roberta classes expect: the encoder under `roberta.` (heads unchanged)."""
    return {("roberta." + key.removeprefix("splinter.") if key.startswith("splinter.") else key): tensor
            for key, tensor in state.items()}


def roberta_position_ids(input_ids: torch.Tensor, padding_idx: int) -> torch.Tensor:
    """RoBERTa's positions: padding_idx + 1, + 2, ... over the non-padding tokens, padding_idx on padding.

    With right padding (all batches here) that is padding_idx + 1 + t for every real token t.
    """
    real = (input_ids != padding_idx).int()
    return (real.cumsum(dim=1) * real + padding_idx).long()
