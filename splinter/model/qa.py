"""SplinterForQuestionAnswering and SplinterForPreTraining: the encoder plus a span-selection head.

Both compute start/end logits [B, Q, L] for Q question positions per sequence and push padding
positions to the dtype's minimum; they differ in how question positions default and how labels are
ignored (see each `forward`). Semantics follow transformers' classes of the same names, except that
labels are never modified in place and the padding mask is also right for Q > 1 in the QA model.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from splinter.errors import ConfigError
from splinter.model.checkpoints import CheckpointMixin
from splinter.model.config import SplinterConfig
from splinter.model.encoder import SplinterModel, init_weights
from splinter.model.heads import HEAD_ATTRIBUTES, build_head


@dataclass
class QuestionAnsweringOutput:
    loss: torch.Tensor | None
    start_logits: torch.Tensor
    end_logits: torch.Tensor


@dataclass
class PreTrainingOutput:
    loss: torch.Tensor | None
    start_logits: torch.Tensor
    end_logits: torch.Tensor


def _span_loss(
    start_logits: torch.Tensor,
    end_logits: torch.Tensor,
    start_positions: torch.Tensor,
    end_positions: torch.Tensor,
    max_label: int,
    ignore_index: int,
) -> torch.Tensor:
    """(CE_start + CE_end) / 2 over all questions; labels are clamped to [0, max_label] first."""
    length = start_logits.shape[-1]

    def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        labels = labels.reshape(-1).clamp(0, max_label)
        return F.cross_entropy(logits.reshape(-1, length), labels, ignore_index=ignore_index)

    return (cross_entropy(start_logits, start_positions) + cross_entropy(end_logits, end_positions)) / 2


class _SpanSelectionModel(CheckpointMixin):
    encoder_prefix = "splinter."

    def __init__(self, config: SplinterConfig, encoder: nn.Module | None = None):
        """`encoder`: another module with SplinterModel's call interface (the transformers backend)."""
        super().__init__()
        self.config = config
        self.splinter = SplinterModel(config) if encoder is None else encoder
        self.head_name = HEAD_ATTRIBUTES[config.head_type]
        self.add_module(self.head_name, build_head(config))
        self.reset_head()

    # The longest window the encoder takes; None where the encoder sets no limit of its own that this
    # package knows (the transformers backend).
    @property
    def max_sequence_length(self) -> int | None:
        return self.config.max_sequence_length

    def check_sequence_length(self, length: int, key: str = "data.max_seq_length") -> None:
        """Windows of `length` tokens fit the position table: else one line at the start of a run (the
        encoder itself would stop at the first forward)."""
        limit = self.max_sequence_length
        if limit is not None and length > limit:
            raise ConfigError(key, f"got {length}, but the model has only {limit} positions "
                                   f"(max_position_embeddings); use at most {limit}")

    @property
    def head(self) -> nn.Module:
        return getattr(self, self.head_name)

    def reset_head(self) -> None:
        """Re-initialise the span-selection head (the encoder is untouched).

        Every layer gets transformers' initialisation, N(0, initializer_range). `config.head_init`
        decides the final scoring weights: "paper" leaves them random, as transformers' port of the
        paper's model does; "zero" (the default outside experiment=paper) zeroes them. (The paper's own
        code, finetuning/modeling.py, created them as `torch.Tensor(d, d)`, which its `init_weights`
        never reaches since a bare Parameter is no Linear: uninitialised memory, not a defined draw.)
        Why zero: with normal(0, 0.02) there, the bilinear QASS score of a fresh head has a standard
        deviation of about 0.02·d (≈ 8 for d = 384, 15 for 768): confidently wrong span distributions
        and a first loss near 15 that takes much of a few-shot budget to undo. From zero the first
        distributions are uniform (loss log L) and the gradient still reaches the zeroed weights
        first. Measured once on MiniLM, 128 SQuAD examples, 40 steps at lr 1e-4: F1 12.5 against 9.9
        (one run each; the zero-init run had max_seq_length 256, the other 384).
        """
        self.head.apply(partial(init_weights, std=self.config.initializer_range))
        if self.config.head_init == "zero":
            self.head.zero_scores()

    def _logits(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        token_type_ids: torch.Tensor | None,
        position_ids: torch.Tensor | None,
        question_positions: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Start/end logits [B, Q, L], padding positions set to the dtype's minimum."""
        if attention_mask is None:
            hidden = self.splinter(input_ids, None, token_type_ids, position_ids).last_hidden_state
        else:
            # Masked tokens only ever get logits set to the minimum below, so the encoder may skip them,
            # except where a question position points (their states feed every logit of the row).
            keep = torch.zeros_like(attention_mask, dtype=torch.bool).scatter_(1, question_positions, True)
            hidden = self.splinter.encode_attended(input_ids, attention_mask, token_type_ids, position_ids, keep)
        start_logits, end_logits = self.head(hidden, question_positions)
        if attention_mask is not None:
            padding = ~attention_mask.bool()[:, None, :]
            start_logits = start_logits.masked_fill(padding, torch.finfo(start_logits.dtype).min)
            end_logits = end_logits.masked_fill(padding, torch.finfo(end_logits.dtype).min)
        return start_logits, end_logits


class SplinterForQuestionAnswering(_SpanSelectionModel):
    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        question_positions: torch.Tensor | None = None,
        start_positions: torch.Tensor | None = None,
        end_positions: torch.Tensor | None = None,
    ) -> QuestionAnsweringOutput:
        """Logits [B, L] for the first [QUESTION] token of each sequence (position 0 if there is none),
        or [B, Q, L] when `question_positions` [B, Q] is given (also for Q = 1).

        Labels ([B], or [B, Q] / [B, 1] matching the logits) outside [0, L) are ignored: they are
        clamped to L, the ignore index.
        """
        squeeze = question_positions is None
        if squeeze:
            # argmax returns the first maximum, i.e. the first question token (0 when absent).
            is_question = input_ids == self.config.question_token_id
            question_positions = is_question.int().argmax(dim=-1, keepdim=True)
        start_logits, end_logits = self._logits(
            input_ids, attention_mask, token_type_ids, position_ids, question_positions
        )
        if squeeze:
            start_logits, end_logits = start_logits.squeeze(1), end_logits.squeeze(1)
        loss = None
        if start_positions is not None and end_positions is not None:
            length = start_logits.shape[-1]
            loss = _span_loss(
                start_logits,
                end_logits,
                start_positions,
                end_positions,
                max_label=length,
                ignore_index=length,
            )
        return QuestionAnsweringOutput(loss=loss, start_logits=start_logits, end_logits=end_logits)


class SplinterForPreTraining(_SpanSelectionModel):
    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        question_positions: torch.Tensor | None = None,
        start_positions: torch.Tensor | None = None,
        end_positions: torch.Tensor | None = None,
    ) -> PreTrainingOutput:
        """Logits [B, Q, L] for the question positions [B, Q] (required; padded with 0).

        Labels [B, Q] are clamped to [0, L - 1]; label 0 (the pad id, which is [CLS] and never an
        answer in pretraining) marks padded questions and is ignored by the loss.
        """
        if question_positions is None:
            raise ValueError("SplinterForPreTraining needs question_positions [batch, questions]")
        start_logits, end_logits = self._logits(
            input_ids, attention_mask, token_type_ids, position_ids, question_positions
        )
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = _span_loss(
                start_logits,
                end_logits,
                start_positions,
                end_positions,
                max_label=max(0, start_logits.shape[-1] - 1),
                ignore_index=self.config.pad_token_id,
            )
        return PreTrainingOutput(loss=loss, start_logits=start_logits, end_logits=end_logits)
