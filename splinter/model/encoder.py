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
from splinter.model.roberta import roberta_position_ids

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
        # RoBERTa numbers positions from padding_idx + 1 (padding itself sits at padding_idx): its
        # position table has pad_token_id + 1 rows before the first real position.
        self.roberta_padding_idx = config.pad_token_id if config.encoder_family == "roberta" else None
        self.position_embeddings = nn.Embedding(
            config.max_position_embeddings, config.hidden_size, padding_idx=self.roberta_padding_idx
        )
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
        if self.roberta_padding_idx is not None:
            max_length -= self.roberta_padding_idx + 1
            if position_ids is None:
                position_ids = roberta_position_ids(input_ids, self.roberta_padding_idx)
        if length > max_length:
            # An out-of-range index is a cryptic device assert on GPU; say what is wrong instead.
            # (for RoBERTa: max_position_embeddings less the pad_token_id + 1 rows before position 0)
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

    def forward(
        self, hidden: torch.Tensor, mask: torch.Tensor | None, tokens: TokenLayout | None = None
    ) -> torch.Tensor:
        """hidden [B, L, d] → context [B, L, d]; or, with `tokens`, packed [T, d] → packed [T, d]."""
        # One GEMM for q, k and v (N = 3d runs closer to the matmul peak than three N = d ones); the
        # concatenated weight is rebuilt each call, so the parameters and their keys stay separate.
        weight = torch.cat((self.query.weight, self.key.weight, self.value.weight))
        bias = torch.cat((self.query.bias, self.key.bias, self.value.bias))
        qkv = F.linear(hidden, weight, bias)
        if tokens is not None and tokens.per_sequence:
            # Each sequence on its own, at its own length: no padded keys or queries, no mask.
            parts = [self._attend(part[None], key_mask)[0]
                     for part, key_mask in zip(qkv.split(tokens.counts), tokens.key_masks, strict=True)]
            return torch.cat(parts)
        if tokens is not None:
            qkv = tokens.pad(qkv)  # the [B, L] layout again; the padded rows are masked keys
        context = self._attend(qkv, mask)
        return context if tokens is None else tokens.unpad(context)

    def _attend(self, qkv: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """[B, L, 3d] (q, k, v side by side) → context [B, L, d]."""
        batch, length = qkv.shape[:2]
        # [B, L, 3, heads, d/heads] → three [B, heads, L, d/heads] views
        query, key, value = qkv.view(batch, length, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        dropout_p = self.dropout_p if self.training else 0.0
        if dropout_p > 0 and qkv.device.type == "cpu":
            context = attention_with_dropout(query, key, value, mask, dropout_p)
        else:
            context = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=dropout_p)
        return context.transpose(1, 2).reshape(batch, length, -1)


def attention_with_dropout(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor | None, dropout_p: float
) -> torch.Tensor:
    """softmax(q·kᵀ/√d_head, masked) with dropout, · v: what scaled_dot_product_attention computes with
    dropout_p > 0, written out for the CPU, where that call has no fused kernel and falls back to an
    unfused path whose dropout draws a float Bernoulli mask per probability (the costliest op of the
    attention: 1.3-1.5× slower per layer, forward + backward, on SQuAD-sized sequences). Here a
    probability is dropped where a uniform draw from `torch.rand` falls below p, so it is kept with
    probability 1 - p (to float32's 2⁻²⁴ resolution), and the result is scaled by 1 / (1 - p).
    `mask`: bool, True where a key may be attended to (broadcast to [B, heads, L, L]), or None.
    """
    scores = torch.matmul(query * query.shape[-1] ** -0.5, key.transpose(-1, -2))
    if mask is not None:
        # the dtype's minimum rather than -inf: a row without any key then stays finite (uniform)
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    probs = scores.softmax(dim=-1)
    probs = probs.masked_fill(torch.rand(probs.shape, dtype=probs.dtype, device=probs.device) < dropout_p, 0.0)
    return torch.matmul(probs, value) * (1.0 / (1.0 - dropout_p))


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

    def forward(
        self, hidden: torch.Tensor, mask: torch.Tensor | None, tokens: TokenLayout | None = None
    ) -> torch.Tensor:
        return self.output(self.self(hidden, mask, tokens), hidden)


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

    def forward(
        self, hidden: torch.Tensor, mask: torch.Tensor | None, tokens: TokenLayout | None = None
    ) -> torch.Tensor:
        hidden = self.attention(hidden, mask, tokens)
        return self.output(self.intermediate(hidden), hidden)


class Encoder(nn.Module):
    def __init__(self, config: SplinterConfig):
        super().__init__()
        self.layer = nn.ModuleList(Layer(config) for _ in range(config.num_hidden_layers))

    def forward(
        self, hidden: torch.Tensor, mask: torch.Tensor | None, tokens: TokenLayout | None = None
    ) -> torch.Tensor:
        for layer in self.layer:
            hidden = layer(hidden, mask, tokens)
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

    def encode_attended(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        keep: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Hidden states [B, L, d] that equal `forward`'s where `attention_mask` (or `keep`) is 1 and are
        0 elsewhere, computed only for those tokens when padding is worth skipping (see TokenLayout).

        No token ever attends to a masked one, so masked tokens change nothing else: callers that ignore
        their outputs (the span heads mask their logits) get the same result for less work.
        `keep` [B, L] bool adds tokens whose states are needed although they are masked.
        """
        if attention_mask is None:
            return self(input_ids, None, token_type_ids, position_ids).last_hidden_state
        attended = attention_mask.bool()
        computed = attended if keep is None else attended | keep
        tokens = TokenLayout.build(computed, attended)
        mask = attended[:, None, None, :]
        hidden = self.embeddings(input_ids, token_type_ids, position_ids)
        if tokens is None:
            return self.encoder(hidden, mask).masked_fill(~computed[..., None], 0.0)
        return tokens.pad(self.encoder(tokens.unpad(hidden), mask, tokens))


class TokenLayout:
    """Which of the B × L positions of a padded batch are computed, and how attention sees them.

    The linear layers (projections, feed-forward, LayerNorms) run on the T kept tokens packed as
    [T, d], in batch-row order, so that each sequence's tokens are contiguous. Attention then either
    * runs each sequence on its own slice, at its own length and without a mask (`per_sequence`, on
      CPU: attention FLOPs fall from B·L² to Σ lᵢ², and the masked softmax and the dropout of padded
      positions disappear; 2-3.5× faster attention on SQuAD-like batches), or
    * scatters the tokens back to the padded [B, L] layout for one batched call (`pad` / `unpad`; on
      GPU, where one fused kernel beats many small ones).

    On SQuAD-like data with random batches about 40 % of the padded positions are padding, so this
    skips most of the waste that dynamic padding leaves (the FLOPs of the linear layers scale with T).
    """

    # Below this fraction of padding the packing costs more than the skipped rows save.
    MIN_PADDING_FRACTION = 0.05

    def __init__(self, keep: torch.Tensor, attended: torch.Tensor, index: torch.Tensor, per_sequence: bool):
        self.batch, self.length = keep.shape
        self.index = index  # [T] flat positions b * L + t of the kept tokens
        self.per_sequence = per_sequence
        if per_sequence:
            self.counts = keep.sum(1).tolist()  # tokens of each sequence: its slice of the packed rows
            # A key mask only for sequences that keep a token nobody may attend to (a question position
            # on a masked token); [1, 1, 1, count], True where the kept token is attended.
            extra = (keep & ~attended).any(1).tolist()
            self.key_masks = [attended[b][keep[b]][None, None, None, :] if extra[b] else None
                              for b in range(self.batch)]

    @classmethod
    def build(cls, keep: torch.Tensor, attended: torch.Tensor | None = None) -> TokenLayout | None:
        """The layout for a [B, L] bool mask of tokens to compute (`attended`: which of them may be
        attended to, default all), or None when packing would not pay."""
        index = keep.flatten().nonzero().squeeze(1)
        if index.numel() > (1 - cls.MIN_PADDING_FRACTION) * keep.numel():
            return None
        return cls(keep, keep if attended is None else attended, index, per_sequence=keep.device.type == "cpu")

    def unpad(self, x: torch.Tensor) -> torch.Tensor:
        """[B, L, C] → [T, C]."""
        return x.flatten(0, 1).index_select(0, self.index)

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """[T, C] → [B, L, C], zeros at the positions that were not kept."""
        out = x.new_zeros(self.batch * self.length, x.shape[-1])
        return out.index_copy(0, self.index, x).view(self.batch, self.length, -1)
