"""SplinterModel: the BERT encoder under Splinter (post-LayerNorm, absolute positions, no pooler).

Module and attribute names mirror transformers' so that `state_dict()` keys are exactly the Hugging
Face ones (`embeddings.word_embeddings.weight`, `encoder.layer.0.attention.self.query.weight`, ...)
and checkpoints load without renaming. Attention runs through `scaled_dot_product_attention`, which
picks a fused kernel (flash / memory-efficient) when the device has one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from splinter.model.checkpoints import CheckpointMixin
from splinter.model.config import SplinterConfig

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": F.gelu,  # exact (erf) GELU, as in BERT and transformers' "gelu"
    "gelu_new": partial(F.gelu, approximate="tanh"),
    "relu": F.relu,
}


@dataclass
class SplinterModelOutput:
    last_hidden_state: torch.Tensor


def init_weights(module: nn.Module, std: float) -> None:
    """transformers' BERT initialisation: N(0, std) weights, zero biases, LayerNorm 1/0."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, mean=0.0, std=std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, mean=0.0, std=std)
        if module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx].zero_()
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class Embeddings(nn.Module):
    def __init__(self, config: SplinterConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None,
        position_ids: torch.Tensor | None,
    ) -> torch.Tensor:
        length = input_ids.shape[1]
        max_length = self.position_embeddings.num_embeddings
        if length > max_length:
            # An out-of-range index is a cryptic device assert on GPU; say what is wrong instead.
            raise ValueError(f"sequence length {length} exceeds max_position_embeddings {max_length}")
        embeddings = self.word_embeddings(input_ids)
        # The defaults (type 0, positions 0..L-1) add a broadcast row instead of gathering per token.
        if token_type_ids is None:
            embeddings = embeddings + self.token_type_embeddings.weight[0]
        else:
            embeddings = embeddings + self.token_type_embeddings(token_type_ids)
        if position_ids is None:
            embeddings = embeddings + self.position_embeddings.weight[:length]
        else:
            embeddings = embeddings + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings))


class SelfAttention(nn.Module):
    def __init__(self, config: SplinterConfig):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.dropout_p = config.attention_probs_dropout_prob
        # Separate projections keep the Hugging Face keys (query/key/value) without any renaming.
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        batch, length, width = hidden.shape

        def heads(x: torch.Tensor) -> torch.Tensor:  # [B, L, d] -> [B, heads, L, d/heads]
            return x.view(batch, length, self.num_heads, -1).transpose(1, 2)

        context = F.scaled_dot_product_attention(
            heads(self.query(hidden)),
            heads(self.key(hidden)),
            heads(self.value(hidden)),
            attn_mask=mask,
            dropout_p=self.dropout_p if self.training else 0.0,
        )
        return context.transpose(1, 2).reshape(batch, length, width)


class DenseAddNorm(nn.Module):
    """dense → dropout → LayerNorm(x + residual): BERT's post-LN sublayer output."""

    def __init__(self, in_features: int, config: SplinterConfig):
        super().__init__()
        self.dense = nn.Linear(in_features, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden)) + residual)


class Attention(nn.Module):
    def __init__(self, config: SplinterConfig):
        super().__init__()
        self.self = SelfAttention(config)
        self.output = DenseAddNorm(config.hidden_size, config)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return self.output(self.self(hidden, mask), hidden)


class Intermediate(nn.Module):
    def __init__(self, config: SplinterConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.activation = ACTIVATIONS[config.hidden_act]

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.activation(self.dense(hidden))


class Layer(nn.Module):
    def __init__(self, config: SplinterConfig):
        super().__init__()
        self.attention = Attention(config)
        self.intermediate = Intermediate(config)
        self.output = DenseAddNorm(config.intermediate_size, config)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        hidden = self.attention(hidden, mask)
        return self.output(self.intermediate(hidden), hidden)


class Encoder(nn.Module):
    def __init__(self, config: SplinterConfig):
        super().__init__()
        self.layer = nn.ModuleList(Layer(config) for _ in range(config.num_hidden_layers))

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        for layer in self.layer:
            hidden = layer(hidden, mask)
        return hidden


class SplinterModel(CheckpointMixin):
    """The bare encoder: `forward(...)` → `SplinterModelOutput(last_hidden_state [B, L, d])`."""

    encoder_prefix = ""

    def __init__(self, config: SplinterConfig):
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        self.encoder = Encoder(config)
        self.apply(partial(init_weights, std=config.initializer_range))

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
    ) -> SplinterModelOutput:
        # Built once and shared by all layers: [B, 1, 1, L], True where a key may be attended to.
        # A boolean mask stays valid under autocast, where an additive float mask would need a cast.
        mask = None if attention_mask is None else attention_mask.bool()[:, None, None, :]
        hidden = self.embeddings(input_ids, token_type_ids, position_ids)
        return SplinterModelOutput(last_hidden_state=self.encoder(hidden, mask))
