"""Test-wide settings: no network, no wandb, deterministic CPU math."""

import os

# Set before any Hugging Face / wandb import so that nothing ever tries the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# The tests' data root, set explicitly (never the user's ~/.cache/splinter): the shared real data beside
# the repository. Tests that need files there skip when it is absent.
os.environ["SPLINTER_DATA_ROOT"] = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
