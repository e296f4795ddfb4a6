"""Local path or Hugging Face Hub name: the one rule, the one offline check, and the resolver.

Data files (splinter.data.formats.readers), pretraining corpora (splinter.pretraining.corpus), checkpoints
and tokenizers (`resolve_directory`) all take "a local path or a Hub name". The rule, in order:

1. An existing file or directory (`~` expanded) is local: `local_path(name).exists()`.
2. A name that can only be meant as a path is local, and missing: it starts with `/`, `.` or `~`,
   has two or more `/` ("a/b/c"), holds the platform's own separator, or ends like a data file
   (`.json`, `.jsonl`, `.gz`, ...): `looks_like_path`.
3. Otherwise it is a Hub id if huggingface_hub's own `validate_repo_id` accepts it ("name" or
   "owner/name"); `datasets` names may add a `:` tail the reader parses ("squad:validation",
   "mrqa-workshop/mrqa:<Subset>"), checked without it: `is_hub_id(name, suffix=True)`.
4. Anything else is neither: `neither(name)` is the one-line reason.

One resolver for checkpoints and tokenizers, so both say the same thing when a name cannot be found:
one line with the name, what was tried (the local path, the Hub download and why it failed) and how to
pass a local directory instead. Hub downloads fetch only the files the caller asks for.
"""

from __future__ import annotations

import os
from pathlib import Path

from splinter.errors import CheckpointError, one_line

# Names ending like this are data files (the readers' and the corpus' formats), never Hub ids.
DATA_FILE_SUFFIXES = (".json", ".jsonl", ".ndjson", ".gz", ".txt", ".text")


def local_path(name: str | os.PathLike) -> Path:
    """`name` as a local path, `~` expanded: what the rule checks for existence."""
    return Path(os.fspath(name)).expanduser()


def looks_like_path(name: str | os.PathLike) -> bool:
    """True for names that can only be meant as a local path (rule 2 above), existing or not."""
    text = os.fspath(name)
    return (
        text.startswith(("/", ".", "~"))
        or text.count("/") >= 2
        or (os.sep != "/" and os.sep in text)
        or text.lower().endswith(DATA_FILE_SUFFIXES)
    )


def _hub_id_problem(name: str, suffix: bool) -> str | None:
    """Why `name` is not a Hub id (huggingface_hub's own words), or None when it is one."""
    if looks_like_path(name):
        return "it is named like a local path"
    repo_id = name.partition(":")[0] if suffix else name
    # Imported here: this module is imported early, and huggingface_hub reads its settings at import.
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        return one_line(err).rstrip(".")
    return None


def is_hub_id(name: str | os.PathLike, *, suffix: bool = False) -> bool:
    """True for `name` or `owner/name` as the Hub accepts it; with `suffix`, a `:...` tail may follow."""
    return _hub_id_problem(os.fspath(name), suffix) is None


def neither(name: str | os.PathLike, *, suffix: bool = False) -> str:
    """The one-line reason why `name` is neither an existing local path nor a Hub id."""
    text = os.fspath(name)
    problem = _hub_id_problem(text, suffix)
    if problem is None:
        raise ValueError(f"{text!r} is a Hub id")  # a caller's bug: it checks is_hub_id first
    form = "'name' or 'owner/name'" + (", optionally followed by ':<config or split>'" if suffix else "")
    return f"no file or directory {local_path(text).absolute()}, and not a Hugging Face Hub id ({form}): {problem}"


def offline_settings() -> list[str]:
    """The environment settings ("NAME=value") that put huggingface_hub or datasets offline; [] if none.

    Parsed as those libraries parse them (1/ON/YES/TRUE, any case; HF_HUB_OFFLINE, else
    TRANSFORMERS_OFFLINE, for huggingface_hub; HF_DATASETS_OFFLINE for datasets), but read now: both
    libraries read them once, at import, and a later change (a test's monkeypatch) would not show.
    """
    from huggingface_hub.constants import ENV_VARS_TRUE_VALUES

    hub = "HF_HUB_OFFLINE" if os.environ.get("HF_HUB_OFFLINE") else "TRANSFORMERS_OFFLINE"  # its fallback
    settings = []
    for variable in (hub, "HF_DATASETS_OFFLINE"):
        value = os.environ.get(variable)
        if value is not None and value.upper() in ENV_VARS_TRUE_VALUES:
            settings.append(f"{variable}={value}")
    return settings


def offline() -> bool:
    """Whether huggingface_hub or datasets is in offline mode (see `offline_settings`)."""
    return bool(offline_settings())


def offline_note() -> str:
    """The offline settings as an error message's note, e.g. ` (offline: HF_DATASETS_OFFLINE=1)`; or ""."""
    settings = offline_settings()
    return f" (offline: {', '.join(settings)})" if settings else ""


def resolve_directory(name: str | Path, *, what: str, files: list[str], local_hint: str) -> Path:
    """The local directory `name` stands for; a Hub id is downloaded (only `files`, by pattern).

    `what` ("checkpoint", "tokenizer") and `local_hint` ("pass a local directory holding ...") make
    the error messages specific to the caller. Registered model names ("minilm") are the caller's to
    resolve first (splinter.registry): this module knows nothing about models.
    """
    name = str(name)
    path = local_path(name)
    if path.is_dir():
        return path
    if path.exists():
        raise CheckpointError(f"{what} {name!r}: {path} is a file; {local_hint}")
    if looks_like_path(name):
        raise CheckpointError(f"{what} {name!r}: local directory {path.absolute()} not found; {local_hint}")
    if not is_hub_id(name):
        raise CheckpointError(f"{what} {name!r}: {neither(name)}; {local_hint}")
    # Imported here: only Hub ids need it, it is slow to import, and it reads HF_HUB_OFFLINE at import.
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(name, allow_patterns=files))
    except Exception as err:  # offline, unknown repo, bad id, network: all mean "not available"
        raise CheckpointError(
            f"{what} {name!r}: no local directory {path.absolute()}, and the Hugging Face Hub "
            f"download failed{offline_note()} ({type(err).__name__}: {one_line(err)}); {local_hint}"
        ) from err
