"""Install the released few-shot archive under `ROOT/mrqa-few-shot/<name>/`.

The Splinter authors publish the splits as one zip whose members are the dataset folders (`squad/`,
`triviaqa/`, ...), at the top level or under `mrqa-few-shot/`; each folder holds the 35 training
splits, `dev.jsonl` and `*_qass` variants. Both layouts are accepted, and an archive holding only some
of the datasets (a mirror of one) installs those. Members outside the dataset folders are counted and
reported, never written.

Nothing is put in place unless the whole archive checks out: every member is extracted into a staging
folder inside the root (zip's CRC-32 is verified as it is read), pinned files must match their sha256,
and only then is each file renamed to its final name.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from splinter.data.release.manifest import mismatch, pinned
from splinter.data.splits import DATASETS, SEEDS, SHOTS
from splinter.errors import ChecksumError, DataError

RELEASE_DIR = "mrqa-few-shot"
FOLDERS = tuple(folder for folder, _ in DATASETS.values())


@dataclass
class Installed:
    """What an archive put in place: relative path → {"bytes", "sha256"}, per-dataset file counts, and
    the member names that were left out."""

    files: dict[str, dict] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)

    @property
    def missing(self) -> list[str]:
        return [folder for folder in FOLDERS if folder not in self.counts]


def training_files(folder: str) -> list[str]:
    """The 35 released training splits of a dataset folder (relative to the root)."""
    return [f"{RELEASE_DIR}/{folder}/{folder}-train-seed-{seed}-num-examples-{shots}.jsonl"
            for seed in SEEDS for shots in SHOTS]


def expected_files(folder: str) -> list[str]:
    """The files a complete dataset folder has (relative to the root): the 35 splits and dev.jsonl."""
    return [*training_files(folder), f"{RELEASE_DIR}/{folder}/dev.jsonl"]


def install_archive(archive: Path, root: Path) -> Installed:
    """Verify and install every dataset file of `archive` under `root`; see the module docstring."""
    archive, root = Path(archive), Path(root)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as e:
        raise DataError(archive, f"not a readable zip archive ({e}); delete it and download it again") from None
    result = Installed()
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".install-", dir=root))
    try:
        with zf:
            staged = []
            for info in zf.infolist():
                if info.is_dir():
                    continue
                target = _target(info.filename)
                if target is None:
                    result.ignored.append(info.filename)
                    continue
                staged_path = staging / target
                digest = _extract(zf, info, staged_path, archive)
                expected = pinned().get(target)
                if expected is not None and digest != expected:
                    raise mismatch(f"{archive}:{info.filename}", expected, digest)
                staged.append((staged_path, target, digest))
            for staged_path, target, digest in staged:
                final = root / target
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged_path, final)
                result.files[target] = {"bytes": final.stat().st_size, "sha256": digest}
                folder = PurePosixPath(target).parts[1]
                result.counts[folder] = result.counts.get(folder, 0) + 1
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result


def _target(member: str) -> str | None:
    """`[mrqa-few-shot/]<dataset>/<file>` → `mrqa-few-shot/<dataset>/<file>`; None for anything else."""
    parts = PurePosixPath(member).parts
    if parts and parts[0] == RELEASE_DIR:
        parts = parts[1:]
    if len(parts) != 2 or parts[0] not in FOLDERS or parts[1].startswith("."):
        return None
    return f"{RELEASE_DIR}/{parts[0]}/{parts[1]}"


def _extract(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, archive: Path) -> str:
    """Copy one member to `dest`, returning its sha256; zipfile checks the CRC-32 at the member's end."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    try:
        with zf.open(info) as src, open(dest, "wb") as out:
            for block in iter(lambda: src.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
        raise ChecksumError(f"{archive}:{info.filename}: corrupt archive member ({e}); delete the archive "
                            "and download it again") from None
    return digest.hexdigest()
