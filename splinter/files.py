"""Files a run writes and the torch files a user gives it.

Writes are atomic: the bytes go to a temporary file next to the target, which is renamed over the
target only once it is complete, so a crash or a full disk never leaves a truncated file under the
final name (the temporary file is removed). Torch files given by a user (`ckpt_path=`, `.ckpt`,
`pytorch_model.bin`) load with `weights_only=True` only: a pickle that holds Python objects or code is
refused, and said to be refused, not reported as corrupt.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pickle
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import torch

from splinter.errors import CheckpointError, SplinterError


class WriteError(SplinterError):
    """An output file could not be written (full disk, no permission); nothing was left half-written."""

    def __init__(self, path: str | Path, error: OSError):
        reason = "the disk is full" if error.errno == errno.ENOSPC else one_line(error)
        super().__init__(f"{path}: could not be written ({reason}); the previous version, if any, is kept")


@contextlib.contextmanager
def atomic_write(path: str | Path) -> Iterator[IO[bytes]]:
    """A binary file handle whose contents replace `path` when the block ends without an error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with open(handle, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError as error:
        _remove(temporary)
        raise WriteError(path, error) from error
    except BaseException:
        _remove(temporary)
        raise


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """A new directory for the block to fill, renamed to `path` (which must not exist) when the block
    ends without an error: `path` is either absent or complete. It is built in the sibling
    `.<name>.partial`, removed after a failure; one left by a killed process is replaced by the next try.
    """
    path = Path(path)
    staging = path.parent / f".{path.name}.partial"
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        yield staging
        os.replace(staging, path)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise WriteError(path, error) from error
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def write_json(path: str | Path, payload: Any, indent: int = 2) -> Path:
    return write_text(path, json.dumps(payload, indent=indent, ensure_ascii=False, default=str) + "\n")


def write_text(path: str | Path, text: str) -> Path:
    with atomic_write(path) as file:
        file.write(text.encode("utf-8"))
    return Path(path)


def save_torch_file(payload: Any, path: str | Path) -> None:
    with atomic_write(path) as file:
        torch.save(payload, file)


def load_torch_file(path: str | Path, what: str = "checkpoint", mmap: bool = False) -> Any:
    """`torch.load(path, weights_only=True)` with one-line errors for a missing, unreadable or refused file.

    `mmap=True` maps the tensors instead of reading them (cheap when only the metadata is needed); a
    file torch cannot map (not a zip checkpoint) is then read normally, to say what is wrong with it.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: is a directory, not a {what} file")
    if not path.is_file():
        raise CheckpointError(f"{path}: {what} not found")
    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
        except Exception:  # noqa: BLE001 - a file that cannot be mapped is read, to say what is wrong with it
            if not mmap:
                raise
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "weights only load failed" in str(error).lower():
            raise CheckpointError(
                f"{path}: REFUSED: the {what} contains Python objects or code, which weights_only loading "
                f"never runs ({_refusal_detail(error)}); only use a file from a source you trust"
            ) from None
        raise CheckpointError(f"{path}: cannot read the {what}: truncated or corrupt ({one_line(error)})") from None
    except Exception as error:  # noqa: BLE001 - zip, EOF and unpickler errors all mean "not a complete file"
        raise CheckpointError(
            f"{path}: cannot read the {what}: truncated or corrupt ({type(error).__name__}: {one_line(error, 160)})"
        ) from None


def one_line(error: BaseException, limit: int = 300) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _refusal_detail(error: Exception) -> str:
    # torch's message is a paragraph; the line naming the blocked global or opcode is the useful part
    for line in str(error).splitlines():
        if "GLOBAL" in line or "Unsupported" in line:
            return line.strip()
    return "not a plain tensor file"
