"""Few-shot splits and evaluation sets: which file holds dataset × shots × seed, which file a dataset is
evaluated on, where the data root is, and seeded sampling from a full file.

`python -m splinter.download` lays the benchmark out under the data root as

    {root}/mrqa-few-shot/{name}/{name}-train-seed-{seed}-num-examples-{shots}.jsonl   (training splits)
    {root}/mrqa-few-shot/{name}/dev.jsonl                                           (the release's eval file)
    {root}/mrqa-dev/{Name}.jsonl.gz                                                 (MRQA dev sets, from the Hub)

with `name` a key of `DATASETS`, `shots` in `SHOTS` and `seed` in `SEEDS`. Those split files are the
paper's exact samples; `sample_few_shot` is for drawing new ones from a full training file (it does
not reproduce the paper's files, whose sampling code is not part of the release).

The evaluation file of a dataset (`resolve_dev_file`) follows the paper's protocol:
- the release's `mrqa-few-shot/{name}/dev.jsonl` first: it is the file the paper's code evaluated on;
- BioASQ and TextbookQA (`HELD_OUT_DEV`): only that file. MRQA has no training set for them, so the
  released training splits were sampled from the MRQA dev set and `dev.jsonl` is what remains of it;
  `mrqa-dev/BioASQ.jsonl.gz` contains the training questions and is never used to score them;
- the six in-domain sets: else the MRQA in-domain dev set `mrqa-dev/{Name}.jsonl.gz` (or `.jsonl`),
  the same questions;
- DROP, DuoRC, RACE, RelationExtraction (MRQA out-of-domain, no few-shot release): `mrqa-dev/` only.
The same file is used whatever the model was trained on, so a train → eval table compares like with like.
"""

from __future__ import annotations

import os
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

# Evaluation sets: name → MRQA file stem under mrqa-dev/ (also the Hub's `subset` value). The six
# in-domain dev sets, then the six out-of-domain ones (of which BioASQ and TextbookQA have few-shot splits).
EVAL_SETS: dict[str, str] = {
    **{name: stem for name, (_, stem) in DATASETS.items()},
    "drop": "DROP",
    "duorc": "DuoRC.ParaphraseRC",
    "race": "RACE",
    "relationextraction": "RelationExtraction",
}
# Training splits sampled from the MRQA dev set itself: evaluated on the release's held-out dev.jsonl only.
HELD_OUT_DEV = frozenset({"bioasq", "textbookqa"})

DOWNLOAD_HINT = "python -m splinter.download"


def default_data_root() -> Path:
    """$SPLINTER_DATA_ROOT, else a per-user folder: $XDG_CACHE_HOME/splinter or ~/.cache/splinter
    (where `python -m splinter.download` puts the benchmark when given no --root)."""
    if os.environ.get("SPLINTER_DATA_ROOT"):
        return Path(os.environ["SPLINTER_DATA_ROOT"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "splinter"


def eval_set_name(name: str, key: str = "data.eval_set") -> str:
    """The EVAL_SETS key for `name`, given as a key ("bioasq") or an MRQA name ("BioASQ", "DuoRC")."""
    text = str(name).strip().lower()
    for candidate, stem in EVAL_SETS.items():
        if text in (candidate, stem.lower(), stem.split(".")[0].lower()):
            return candidate
    raise ConfigError(key, f"unknown evaluation set '{name}'", choices=list(EVAL_SETS))


def _check_dataset(dataset: str) -> tuple[str, str]:
    key = str(dataset).lower()
    if key not in DATASETS:
        raise ConfigError("data.dataset", f"unknown dataset '{dataset}'", choices=list(DATASETS))
    return DATASETS[key]


def _check_root(root) -> Path:
    path = default_data_root() if root is None else Path(root).expanduser()
    if not path.is_dir():
        raise ConfigError(
            "data.root",
            f"data folder {path} does not exist: run `{DOWNLOAD_HINT} --root {path}`, or point data.root "
            "or SPLINTER_DATA_ROOT at a folder holding mrqa-few-shot/ and mrqa-dev/",
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
            f"split file not found: {path} (run `{DOWNLOAD_HINT} --root {base}` to fetch the released splits, "
            "or set data.train_file)",
        )
    return path


def resolve_dev_file(root, dataset: str, key: str = "data.dataset") -> Path:
    """The evaluation file of `dataset` (a key or MRQA name of EVAL_SETS) under `root`: the rule in the
    module docstring. ConfigError naming every path tried when none exists."""
    name = eval_set_name(dataset, key)
    stem = EVAL_SETS[name]
    base = _check_root(root)
    release = [base / "mrqa-few-shot" / DATASETS[name][0] / "dev.jsonl"] if name in DATASETS else []
    mrqa = [base / "mrqa-dev" / f"{stem}.jsonl.gz", base / "mrqa-dev" / f"{stem}.jsonl"]
    tried = release if name in HELD_OUT_DEV else release + mrqa
    for path in tried:
        if path.is_file():
            return path
    why = (f"; mrqa-dev/{stem}.jsonl.gz is not used: it holds the questions the {stem} training splits were "
           "sampled from" if name in HELD_OUT_DEV else "")
    raise ConfigError(
        "data.root",
        f"no evaluation file for '{name}': tried {', '.join(str(p) for p in tried)}{why} "
        f"(run `{DOWNLOAD_HINT} --root {base}`, or set data.eval_file)",
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
