"""Test-wide settings: no network, no wandb, deterministic CPU math."""

import os

# The page tests' headless Chromium (tests/browser.py): registered once here, so the whole session shares
# one browser (a module that imported the fixtures would start a second Playwright inside the first's loop).
pytest_plugins = ["browser"]

# Set before any Hugging Face / wandb import so that nothing ever tries the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# The tests' data root, set explicitly (never the user's ~/.cache/splinter): the shared real data beside
# the repository. Tests that need files there skip when it is absent.
os.environ["SPLINTER_DATA_ROOT"] = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
