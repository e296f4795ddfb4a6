"""Shared by the model and checkpoint tests: the tiny SplinterConfig fields (odd sizes on purpose:
intermediate 37 catches any code that assumes 4 × hidden) and `perturbed`."""

import torch

TINY = dict(
    vocab_size=128,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=37,
    max_position_embeddings=64,
    initializer_range=0.2,
)


def perturbed(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """All parameters moved off their initial values, so unloaded weights show in the outputs."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.1 * torch.randn(param.shape, generator=generator))
    return model.eval()
