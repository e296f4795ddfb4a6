"""The tiny SplinterConfig fields shared by the model and checkpoint tests (odd sizes on purpose:
intermediate 37 catches any code that assumes 4 × hidden)."""

TINY = dict(
    vocab_size=128,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=37,
    max_position_embeddings=64,
    initializer_range=0.2,
)
