"""SplinterForMaskedLM: the encoder plus BERT's masked-language-model head (`cls.predictions`).

The control arm of the recurring-span experiment: the same encoder, continued-pretrained with BERT's
objective instead of span selection. Module names mirror transformers' `BertForMaskedLM`, so its
checkpoints load here (and the head is fresh where a checkpoint has none, as MiniLM's), and the
saved directory loads into `SplinterForQuestionAnswering` (the encoder; the QASS head starts fresh
and the unused `cls.predictions.*` weights are reported, as transformers does).

The decoder is tied to the input word embeddings, as in BERT: it is not a parameter of its own, is
not saved (`tied_keys`), and a checkpoint's copy of it is ignored in favour of the embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from splinter.model.checkpoints import CheckpointMixin, LoadingInfo
from splinter.model.config import SplinterConfig
from splinter.model.encoder import ACTIVATIONS, SplinterModel, init_weights

IGNORE_INDEX = -100  # label of positions that are not predicted (torch's and transformers' default)
DECODER_WEIGHT = "cls.predictions.decoder.weight"
DECODER_BIAS = "cls.predictions.decoder.bias"  # transformers saves the bias under both names
BIAS = "cls.predictions.bias"


@dataclass
class MaskedLMOutput:
    loss: torch.Tensor | None
    logits: torch.Tensor


class PredictionHeadTransform(nn.Module):
    """LayerNorm(act(W h + b)), with the encoder's activation and LayerNorm eps (BERT's transform)."""

    def __init__(self, config: SplinterConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = ACTIVATIONS[config.hidden_act]
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.activation(self.dense(hidden)))


class LMPredictionHead(nn.Module):
    """transform → decoder (weights = the word embeddings) + a per-token bias → vocabulary logits."""

    def __init__(self, config: SplinterConfig, word_embeddings: nn.Embedding):
        super().__init__()
        self.transform = PredictionHeadTransform(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.decoder.weight = word_embeddings.weight
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(hidden)) + self.bias


class OnlyMLMHead(nn.Module):
    """The `cls` module of BertForMaskedLM (keys `cls.predictions.*`)."""

    def __init__(self, config: SplinterConfig, word_embeddings: nn.Embedding):
        super().__init__()
        self.predictions = LMPredictionHead(config, word_embeddings)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.predictions(hidden)


class SplinterForMaskedLM(CheckpointMixin):
    encoder_prefix = "splinter."
    head_name = "cls"
    tied_keys: ClassVar[tuple[str, ...]] = (DECODER_WEIGHT,)
    kept_bert_prefixes: ClassVar[tuple[str, ...]] = ("cls.predictions.",)

    def __init__(self, config: SplinterConfig):
        super().__init__()
        self.config = config
        self.splinter = SplinterModel(config)
        self.cls = OnlyMLMHead(config, self.splinter.embeddings.word_embeddings)
        self.reset_head()

    def reset_head(self) -> None:
        """transformers' initialisation of the transform and a zero bias; the decoder stays tied."""
        self.cls.predictions.transform.apply(partial(init_weights, std=self.config.initializer_range))
        nn.init.zeros_(self.cls.predictions.bias)

    def _load_weights(self, state: dict[str, torch.Tensor], source, fresh_head: bool) -> LoadingInfo:
        state = dict(state)
        # The decoder is the word-embedding matrix here: a checkpoint's (tied) copy adds nothing.
        state.pop(DECODER_WEIGHT, None)
        decoder_bias = state.pop(DECODER_BIAS, None)
        if decoder_bias is not None:
            state.setdefault(BIAS, decoder_bias)
        info = super()._load_weights(state, source, fresh_head)
        info["missing_keys"] = [key for key in info["missing_keys"] if key not in self.tied_keys]
        return info

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        masked_positions: torch.Tensor | None = None,
    ) -> MaskedLMOutput:
        """Vocabulary logits [B, L, V] for every position, as transformers' BertForMaskedLM, or
        [B, P, V] for the positions `masked_positions` [B, P] only (pretraining: the decoder, the
        costliest layer, then runs on the ~15 % of tokens that are predicted, and the encoder skips
        padding). `labels` match the logits' first two dimensions; -100 is ignored. The loss is the
        mean cross-entropy over the labelled positions (NaN when there is none, as in transformers).
        """
        if masked_positions is None:
            hidden = self.splinter(input_ids, attention_mask, token_type_ids, position_ids).last_hidden_state
        else:
            hidden = self.splinter.encode_attended(input_ids, attention_mask, token_type_ids, position_ids)
            index = masked_positions.unsqueeze(-1).expand(-1, -1, hidden.shape[-1])
            hidden = hidden.gather(1, index)
        logits = self.cls(hidden)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE_INDEX
            )
        return MaskedLMOutput(loss=loss, logits=logits)
