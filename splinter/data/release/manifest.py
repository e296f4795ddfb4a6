"""Integrity of a data root: pinned hashes of the files this package can vouch for, and ROOT/MANIFEST.json.

- Pinned (`pinned_sha256.txt`, shipped with the package, `sha256sum` format, paths relative to the data
  root): the 35 SQuAD few-shot splits as published. A file that does not match is never installed.
- `MANIFEST.json`, written by `python -m splinter.download`: `{"files": [{"file", "bytes", "sha256"}, ...]}`
  for every file it installed, so that a later download (which re-checks everything) and every training
  or evaluation run (which compares the hash it computes anyway) notice a file that changed or was
  truncated since. Roots without a manifest (a hand-made folder, test fixtures) are not checked.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path

from splinter.errors import ChecksumError, DataError
from splinter.files import write_text

MANIFEST = "MANIFEST.json"


@functools.cache
def pinned() -> dict[str, str]:
    """Relative path → sha256 of every pinned file."""
    text = resources.files("splinter.data.release").joinpath("pinned_sha256.txt").read_text(encoding="utf-8")
    pins = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split(maxsplit=1)
            pins[name.strip()] = digest
    return pins


def entry(root: Path, path: Path, sha256: str) -> tuple[str, dict]:
    """(relative name, {"bytes", "sha256"}) of a file under root, for the manifest."""
    return relative(root, path), {"bytes": Path(path).stat().st_size, "sha256": sha256}


def relative(root, path) -> str:
    return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()


def read_manifest(root) -> dict[str, dict]:
    """Relative path → {"bytes", "sha256"}; empty when the root has no manifest."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        return {}
    try:
        files = json.loads(path.read_text(encoding="utf-8"))["files"]
        return {f["file"]: {"bytes": int(f["bytes"]), "sha256": str(f["sha256"])} for f in files}
    except (ValueError, KeyError, TypeError) as e:
        raise DataError(path, f"unreadable manifest ({type(e).__name__}: {e}); delete it and run "
                              "`python -m splinter.download` again") from None


def write_manifest(root, files: dict[str, dict]) -> Path:
    """Write the manifest (sorted, to a temporary name, then renamed)."""
    path = Path(root) / MANIFEST
    rows = [{"file": name, **files[name]} for name in sorted(files)]
    return write_text(path, json.dumps({"files": rows}, indent=1) + "\n")


def mismatch(path, expected: str, actual: str) -> ChecksumError:
    return ChecksumError(f"{path}: sha256 mismatch: expected {expected}, got {actual} (changed or truncated; "
                         "run `python -m splinter.download` to replace it)")


def check_installed(root, path, sha256: str) -> None:
    """Raise ChecksumError when `path` (whose hash is `sha256`) is pinned or listed in root's manifest with
    another hash. Files outside the root or unknown, and roots without a manifest, pass."""
    if not sha256:  # a Hub dataset: no file to check
        return
    files = read_manifest(root)
    if not files:
        return
    try:
        name = relative(root, path)
    except ValueError:  # not under the root
        return
    expected = pinned().get(name) or files.get(name, {}).get("sha256")
    if expected and expected != sha256:
        raise mismatch(path, expected, sha256)


def verify(root, files: dict[str, dict]) -> dict[str, str]:
    """Relative path → one line, for every listed file that is missing, truncated or changed (pinned
    hashes take precedence over the manifest's)."""
    from splinter.data.formats.readers import file_sha256

    problems = {}
    for name, meta in sorted(files.items()):
        path = Path(root) / name
        if not path.is_file():
            problems[name] = f"{path}: missing (listed in {Path(root) / MANIFEST})"
            continue
        expected = pinned().get(name, meta["sha256"])
        actual = file_sha256(path)
        if actual != expected:
            problems[name] = str(mismatch(path, expected, actual))
    return problems
