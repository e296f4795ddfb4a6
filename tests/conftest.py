"""Test-wide settings: no network, no wandb, deterministic CPU math."""

import os

# Set before any Hugging Face / wandb import so that nothing ever tries the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
