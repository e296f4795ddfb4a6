"""Few-shot splits: which file holds dataset × shots × seed, and seeded sampling from a full file.

The Splinter release lays the benchmark out as

    {root}/mrqa-few-shot/{name}/{name}-train-seed-{seed}-num-examples-{shots}.jsonl   (training splits)
    {root}/mrqa-dev/{Name}.jsonl.gz                                                 (MRQA in-domain dev)

with `name` a key of `DATASETS`, `shots` in `SHOTS` and `seed` in `SEEDS`. Those split files are the
paper's exact samples; `sample_few_shot` is for drawing new ones from a full training file (it does
not reproduce the paper's files, whose sampling code is not part of the release).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from datasets import Dataset

from splinter.errors import ConfigError

# name → (folder under mrqa-few-shot/, MRQA dev file stem under mrqa-dev/)
DATASETS: dict[str, tuple[str, str]] = {
    "squad": ("squad", "SQuAD"),
    "newsqa": ("newsqa", "NewsQA"),
    "triviaqa": ("triviaqa", "TriviaQA-web"),
    "searchqa": ("searchqa", "SearchQA"),
    "hotpotqa": ("hotpotqa", "HotpotQA"),
    "naturalquestions": ("naturalquestions", "NaturalQuestionsShort"),
    "bioasq": ("bioasq", "BioASQ"),
    "textbookqa": ("textbookqa", "TextbookQA"),
}
SHOTS = (16, 32, 64, 128, 256, 512, 1024)
SEEDS = (42, 43, 44, 45, 46)


def _check_dataset(dataset: str) -> tuple[str, str]:
    key = str(dataset).lower()
    if key not in DATASETS:
        raise ConfigError("data.dataset", f"unknown dataset '{dataset}'", choices=list(DATASETS))
    return DATASETS[key]


def _check_root(root) -> Path:
    path = Path(root).expanduser()
    if not path.is_dir():
        raise ConfigError(
            "data.root", f"data folder {path} does not exist (set data.root or SPLINTER_DATA_ROOT)"
        )
    return path


def resolve_train_file(root, dataset: str, shots: int, seed: int) -> Path:
    """The released few-shot training split for (dataset, shots, seed); ConfigError when absent."""
    folder, _ = _check_dataset(dataset)
    if shots not in SHOTS:
        raise ConfigError("data.shots", f"no released split with {shots} examples", choices=SHOTS)
    if seed not in SEEDS:
        raise ConfigError("data.seed", f"no released split for seed {seed}", choices=SEEDS)
    base = _check_root(root)
    path = base / "mrqa-few-shot" / folder / f"{folder}-train-seed-{seed}-num-examples-{shots}.jsonl"
    if not path.is_file():
        raise ConfigError(
            "data.root",
            f"split file not found: {path} (download the Splinter few-shot splits there, or set data.train_file)",
        )
    return path


def resolve_dev_file(root, dataset: str) -> Path:
    """The evaluation file: mrqa-dev/{Name}.jsonl.gz (or .jsonl), else mrqa-few-shot/{name}/dev.jsonl."""
    folder, name = _check_dataset(dataset)
    base = _check_root(root)
    tried = [
        base / "mrqa-dev" / f"{name}.jsonl.gz",
        base / "mrqa-dev" / f"{name}.jsonl",
        base / "mrqa-few-shot" / folder / "dev.jsonl",
    ]
    for path in tried:
        if path.is_file():
            return path
    raise ConfigError(
        "data.root",
        f"no dev file for '{dataset}': tried {', '.join(str(p) for p in tried)} (or set data.eval_file)",
    )


def sample_few_shot(examples: Dataset, shots: int, seed: int) -> Dataset:
    """`shots` questions drawn without replacement from `examples`, identically on every machine.

    The questions are first put in a stable order (sorted by `id`, so the file's line order does not
    matter), then `numpy.random.Generator(PCG64(seed)).permutation` picks the first `shots` of them;
    the result keeps the input's row order. No global RNG and no hash order is involved, so the sample
    depends only on (the set of ids, shots, seed). Questions are sampled independently, even when
    several share a context.
    """
    shots, n = int(shots), len(examples)
    if shots <= 0:
        raise ConfigError("data.shots", f"must be positive, got {shots}")
    if shots > n:
        raise ConfigError("data.shots", f"asks for {shots} examples but the training file has only {n}")
    ids = examples["id"]
    ids = list(ids)
    if len(set(ids)) != n:
        raise ValueError("sample_few_shot needs unique question ids")
    stable = sorted(range(n), key=ids.__getitem__)
    order = np.random.Generator(np.random.PCG64(int(seed))).permutation(n)[:shots]
    chosen = sorted(stable[i] for i in order)
    return examples.select(chosen)
