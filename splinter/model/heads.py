"""Span-selection heads: encoder output [B, L, d] + question positions [B, Q] → start/end logits [B, Q, L].

`QuestionAwareSpanSelectionHead` is the paper's QASS head; `LinearSpanHead` is the plain start/end
Linear(d, 2) of BERT-style QA (the paper's non-QASS baselines), which ignores the question positions.
Each head is registered in the model under the attribute name that gives its Hugging Face keys:
`HEAD_ATTRIBUTES[head_type]`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from splinter.model.config import SplinterConfig

HEAD_ATTRIBUTES = {"qass": "splinter_qass", "linear": "qa_outputs"}


class FullyConnectedLayer(nn.Module):
    """FC(x) = LayerNorm(GELU(W x + b)).

    The LayerNorm keeps PyTorch's default eps 1e-5 (not the config's 1e-12) and the activation is
    always erf GELU, whatever the encoder's `hidden_act`: that is how the released head was trained.
    """

    def __init__(self, width: int):
        super().__init__()
        self.dense = nn.Linear(width, width)
        self.LayerNorm = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(F.gelu(self.dense(x)))


class QuestionAwareSpanSelectionHead(nn.Module):
    """logits[b, i, t] = classifier(FC_query(H[b, q_bi])) · FC(H[b, t]), for start and end."""

    def __init__(self, config: SplinterConfig):
        super().__init__()
        width = config.hidden_size
        self.query_start_transform = FullyConnectedLayer(width)
        self.query_end_transform = FullyConnectedLayer(width)
        self.start_transform = FullyConnectedLayer(width)
        self.end_transform = FullyConnectedLayer(width)
        self.start_classifier = nn.Linear(width, width, bias=False)
        self.end_classifier = nn.Linear(width, width, bias=False)

    def zero_scores(self) -> None:
        """Zero the bilinear classifiers: a fresh head then scores every token alike (see reset_head)."""
        nn.init.zeros_(self.start_classifier.weight)
        nn.init.zeros_(self.end_classifier.weight)

    def forward(
        self, hidden: torch.Tensor, question_positions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        index = question_positions.unsqueeze(-1).expand(-1, -1, hidden.shape[-1])
        questions = hidden.gather(1, index)  # [B, Q, d]
        start_queries = self.start_classifier(self.query_start_transform(questions))
        end_queries = self.end_classifier(self.query_end_transform(questions))
        start_logits = start_queries @ self.start_transform(hidden).transpose(1, 2)  # [B, Q, L]
        end_logits = end_queries @ self.end_transform(hidden).transpose(1, 2)
        return start_logits, end_logits


class LinearSpanHead(nn.Linear):
    """Start/end scores from each token alone; the same [B, L] row is shared by every question."""

    def __init__(self, config: SplinterConfig):
        super().__init__(config.hidden_size, 2)

    def zero_scores(self) -> None:
        nn.init.zeros_(self.weight)
        nn.init.zeros_(self.bias)

    def forward(
        self, hidden: torch.Tensor, question_positions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        start_logits, end_logits = super().forward(hidden).unbind(-1)  # [B, L] each
        shape = (-1, question_positions.shape[1], -1)
        return start_logits.unsqueeze(1).expand(shape), end_logits.unsqueeze(1).expand(shape)


def build_head(config: SplinterConfig) -> nn.Module:
    if config.head_type == "linear":
        return LinearSpanHead(config)
    return QuestionAwareSpanSelectionHead(config)
