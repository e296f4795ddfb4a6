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
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import torch

from splinter.errors import CheckpointError, ConfigError, SplinterError, one_line


class WriteError(SplinterError):
    """An output file could not be written (full disk, no permission); nothing was left half-written."""

    def __init__(self, path: str | Path, error: OSError | None = None, message: str | None = None):
        if message is not None:  # refused before anything was written
            super().__init__(f"{path}: {message}")
            return
        reason = "the disk is full" if error.errno == errno.ENOSPC else one_line(error)
        super().__init__(f"{path}: could not be written ({reason}); the previous version, if any, is kept")


@contextlib.contextmanager
def atomic_write(path: str | Path) -> Iterator[IO[bytes]]:
    """A binary file handle whose contents replace `path` when the block ends without an error.

    Only a regular file (or a new path) is replaced: renaming over a FIFO, a device or a socket would put
    a regular file in place of the node (as root, `/dev/null` itself), so such a target is refused before
    anything is written, and so is a directory. Permissions are those any tool gives: a new file gets
    0o666 minus the umask (mkstemp's own 0600 is not kept), a replaced file keeps its mode.
    """
    with atomic_path(path) as temporary, open(temporary, "wb") as file:
        yield file
        file.flush()
        os.fsync(file.fileno())


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path next to `path` for a writer that wants a file name (matplotlib, safetensors),
    renamed to `path` when the block ends without an error; the rules of `atomic_write`."""
    path = Path(path)
    mode = _target_mode(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(handle)
    except OSError as error:
        raise WriteError(path, error) from error
    try:
        os.chmod(temporary, mode)
        yield Path(temporary)
        os.replace(temporary, path)
    except OSError as error:
        _remove(temporary)
        raise WriteError(path, error) from error
    except BaseException:
        _remove(temporary)
        raise


def check_writable_target(path: str | Path) -> None:
    """`path` can be written by `atomic_write`: absent or a regular file, below directories (or nothing)
    rather than a file; else one line. For checks before a run starts, so it stops before any work."""
    _target_mode(Path(path))


def _target_mode(path: Path) -> int:
    """The mode the written file gets; raises WriteError for a target that is not a regular file."""
    try:
        info = path.stat()
    except FileNotFoundError:
        _check_parents(path)
        return 0o666 & ~_umask()
    except NotADirectoryError:  # a parent is a file
        _check_parents(path)
        raise
    if stat.S_ISREG(info.st_mode):
        return stat.S_IMODE(info.st_mode)
    kind = "a directory" if stat.S_ISDIR(info.st_mode) else _special_kind(info.st_mode)
    raise WriteError(path, message=f"is {kind}, not a regular file; only regular files are written (give a file path)")


def check_directory_path(path: str | Path, what: str) -> None:
    """`path` is a directory, or can be made one (its nearest existing ancestor is a directory); else one
    line naming `what` (e.g. "--root")."""
    path = Path(path)
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            if not candidate.is_dir():
                where = "is a file" if candidate == path else f"is below {candidate}, which is a file"
                raise WriteError(path, message=f"{what} {where}, not a directory")
            return


def _check_parents(path: Path) -> None:
    for parent in path.parents:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise WriteError(path, message=f"its parent {parent} is a file, not a directory")
            return


def _special_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "a special file"


def _umask() -> int:
    """The process's umask, read without changing it where Linux says it (os.umask can only set it)."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    current = os.umask(0o022)
    os.umask(current)
    return current


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


def _refusal_detail(error: Exception) -> str:
    # torch's message is a paragraph; the line naming the blocked global or opcode is the useful part
    for line in str(error).splitlines():
        if "GLOBAL" in line or "Unsupported" in line:
            return line.strip()
    return "not a plain tensor file"


def same_file(a: str | Path, b: str | Path) -> bool:
    """`a` and `b` name one file: the same path after symlinks and `..`, or hard links to one inode."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): only its resolved path can be compared
        return os.path.realpath(a) == os.path.realpath(b)


def refuse_overwriting_inputs(outputs: Iterable[tuple[str, Path]], inputs: dict[str, str | Path | None]) -> None:
    """Stop (one line, before anything is read or written) when an output would replace one of the run's
    inputs: `outputs` pairs each file written by name with the config key that places it; `inputs` maps
    the config key of each input file to it (None: not given)."""
    for out_key, output in outputs:
        for in_key, given in inputs.items():
            if given and same_file(output, given):
                raise ConfigError(out_key, f"{output} is the input file {in_key}={given}: it would be "
                                           "overwritten; give another output path")
