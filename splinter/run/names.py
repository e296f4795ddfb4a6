"""What a run trained on, in a directory name: Hydra's sweep job directories (conf/train.yaml
`hydra.sweep.subdir`) use the `splinter.training_data` resolver registered here, so that two jobs
that trained on different data never share a name and no name claims a split that was not read."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from omegaconf import OmegaConf

RESOLVER = "splinter.training_data"
_SUFFIXES = (".gz", ".jsonl", ".json")


def _file_name(train_file: str) -> str:
    """A training file (or hub name) as a directory-name part: its name without data suffixes."""
    name = PurePosixPath(str(train_file).replace("\\", "/")).name or str(train_file)
    for suffix in _SUFFIXES:
        name = name.removesuffix(suffix)
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "train_file"


def training_data_name(train_file, shots, seed, sample_from_full=False) -> str:
    """`<shots>shots-split<seed>` for a released split; the file's name for a train_file read whole
    (data.shots and data.seed chose nothing); `<file>-<shots>shots-sample<seed>` for questions drawn
    from a full training file; `seed<seed>` for a corpus without shots (pretraining)."""
    if train_file:
        if sample_from_full:
            return f"{_file_name(train_file)}-{shots}shots-sample{seed}"
        return _file_name(train_file)
    if shots is None:
        return f"seed{seed}"
    return f"{shots}shots-split{seed}"


def register_resolvers() -> None:
    """Register the resolver once (Hydra resolves the sweep's job directories in the launching process)."""
    if not OmegaConf.has_resolver(RESOLVER):
        OmegaConf.register_new_resolver(RESOLVER, training_data_name)
