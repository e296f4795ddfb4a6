"""Where a model or tokenizer name points: "minilm", a local directory, or a Hugging Face Hub id.

One resolver for checkpoints and tokenizers, so both say the same thing when a name cannot be found:
one line with the name, what was tried (the local path, the Hub download and why it failed) and how to
pass a local directory instead. Hub downloads fetch only the files the caller asks for.
"""

from __future__ import annotations

import re
from pathlib import Path

from splinter.errors import CheckpointError
from splinter.model.minilm import MINILM_NAME, minilm_model_dir

# Optional owner, then name: the shape of a Hub repo id (anything else can only be a local path).
HUB_ID = re.compile(r"^[\w-][\w.-]*(/[\w-][\w.-]*)?$")


def one_line(error: BaseException, limit: int = 300) -> str:
    """An exception's message on one line, shortened: for messages that quote a library's error."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def resolve_directory(name: str | Path, *, what: str, files: list[str], local_hint: str) -> Path:
    """The local directory `name` stands for; a Hub id is downloaded (only `files`, by pattern).

    `what` ("checkpoint", "tokenizer") and `local_hint` ("pass a local directory holding ...") make
    the error messages specific to the caller.
    """
    name = str(name)
    if name == MINILM_NAME:
        return minilm_model_dir()
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise CheckpointError(f"{what} {name!r}: {path} is a file; {local_hint}")
    if not HUB_ID.match(name):
        raise CheckpointError(f"{what} {name!r}: local directory {path.absolute()} not found; {local_hint}")
    # Imported here: only Hub ids need it, it is slow to import, and it reads HF_HUB_OFFLINE at import.
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(name, allow_patterns=files))
    except Exception as err:  # offline, unknown repo, bad id, network: all mean "not available"
        raise CheckpointError(
            f"{what} {name!r}: no local directory {path.absolute()}, and the Hugging Face Hub "
            f"download failed ({type(err).__name__}: {one_line(err)}); {local_hint}"
        ) from err
