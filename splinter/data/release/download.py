"""`python -m splinter.download` (`make data`): fetch, verify and install the benchmark data.

    python -m splinter.download [--root DIR] [--url URL | --archive ZIP] [--mrqa-source ID|DIR]
                                [--no-splits] [--no-mrqa-dev] [--check]

1. The released few-shot splits: the authors' zip (`--url`, default their Dropbox link; `--archive` for
   a zip already on disk) is downloaded into ROOT/.downloads/ (resumed where the server allows it),
   verified and installed as ROOT/mrqa-few-shot/<name>/ (`splinter.data.release.fetch`, `splinter.data.release.archive`).
2. The twelve MRQA dev sets from the Hub dataset `mrqa-workshop/mrqa` (`--mrqa-source`: the Hub id or a
   local copy of it), written as ROOT/mrqa-dev/<Name>.jsonl.gz (`splinter.data.formats.mrqa_hub`).

Every installed file goes into ROOT/MANIFEST.json (file, bytes, sha256). A second call verifies what is
there and downloads only what is missing or damaged; `--check` verifies without any network access and
exits 2 when a file is missing or changed. ROOT defaults to the data root the configs use
($SPLINTER_DATA_ROOT, else ~/.cache/splinter).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from splinter.errors import ChecksumError, DataError, DownloadError, SplinterError

RELEASE_URL = "https://www.dropbox.com/sh/pfg8j6yfpjltwdx/AAC8Oky0w8ZS-S3S5zSSAuQma?dl=1"
ARCHIVE_NAME = "mrqa-few-shot.zip"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from splinter.data.splits import default_data_root
    from splinter.files import check_directory_path

    root = Path(args.root).expanduser() if args.root else default_data_root()
    try:
        check_directory_path(root, "--root")
        if args.check:
            return _check(root)
        from splinter.data.release.manifest import read_manifest, verify

        files = read_manifest(root)
        problems = verify(root, files)
        for line in problems.values():
            print(f"warning: {line}", file=sys.stderr)
        good = {name for name in files if name not in problems}
        if not args.no_splits:
            _install_splits(args, root, files, good)
        if not args.no_mrqa_dev:
            _install_mrqa_dev(args, root, files, good)
    except SplinterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"data root: {root}  (train.py reads it when data.root / SPLINTER_DATA_ROOT point here)")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m splinter.download", description=__doc__.split("\n")[0])
    parser.add_argument("--root", help="data root (default: $SPLINTER_DATA_ROOT, else ~/.cache/splinter)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--url", default=RELEASE_URL, help="where the few-shot archive is (default: the release, %(default)s)")
    source.add_argument("--archive", help="a few-shot zip already downloaded: install it, no network")
    parser.add_argument("--mrqa-source", default=None,
                        help="the MRQA Hub dataset id (default mrqa-workshop/mrqa) or a local copy of it")
    parser.add_argument("--no-splits", action="store_true", help="skip the few-shot splits")
    parser.add_argument("--no-mrqa-dev", action="store_true", help="skip the MRQA dev sets")
    parser.add_argument("--check", action="store_true", help="only verify the installed files (no network)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _check(root: Path) -> int:
    from splinter.data.release.manifest import MANIFEST, read_manifest, verify

    files = read_manifest(root)
    if not files:
        raise DataError(root / MANIFEST, "not found: nothing was installed here by `python -m splinter.download`")
    problems = verify(root, files)
    for line in problems.values():
        print(line, file=sys.stderr)
    if problems:
        raise ChecksumError(f"{len(problems)} of {len(files)} files under {root} failed verification (listed "
                            f"above); run `python -m splinter.download --root {root}` to replace them")
    print(f"{len(files)} files under {root} verified")
    return 0


def _install_splits(args, root: Path, files: dict, good: set) -> None:
    from splinter.data.release.archive import (
        FOLDERS,
        RELEASE_DIR,
        expected_files,
        install_archive,
        training_files,
    )
    from splinter.data.release.fetch import download
    from splinter.data.release.manifest import write_manifest

    # installed = every training split of every dataset verified (dev.jsonl is reported, not required:
    # the in-domain sets have mrqa-dev/ too, and a release without it could never count as installed)
    wanted = [name for folder in FOLDERS for name in training_files(folder)]
    if not args.archive and all(name in good for name in wanted):
        print(f"few-shot splits: {len(wanted)} training splits under {root / RELEASE_DIR} verified; "
              "nothing to download")
        return
    if args.archive:
        archive = Path(args.archive).expanduser()
        if not archive.is_file():
            raise DataError(archive, "archive not found (--archive)")
    else:
        print(f"downloading the few-shot splits from {args.url}")
        archive = download(args.url, root / ".downloads" / ARCHIVE_NAME, progress=not args.no_progress)
    try:
        installed = install_archive(archive, root)
    except SplinterError:
        if not args.archive:  # a damaged download must not be reused by the next call
            archive.unlink(missing_ok=True)
        raise
    files.update(installed.files)
    good.update(installed.files)
    write_manifest(root, files)
    if not args.archive:
        archive.unlink()
    counts = ", ".join(f"{folder} {n}" for folder, n in installed.counts.items())
    print(f"few-shot splits: installed {len(installed.files)} files under {root / RELEASE_DIR} ({counts})")
    if installed.ignored:
        shown = ", ".join(installed.ignored[:3]) + (", ..." if len(installed.ignored) > 3 else "")
        print(f"left out {len(installed.ignored)} archive members outside the dataset folders: {shown}")
    if installed.missing:
        print(f"not in this archive: {', '.join(installed.missing)} (their splits are not installed)")
    for folder in installed.counts:
        absent = [name for name in expected_files(folder) if not (root / name).is_file()]
        if absent:
            print(f"{folder}: {len(absent)} expected files not in the archive, e.g. {absent[0]}")


def _install_mrqa_dev(args, root: Path, files: dict, good: set) -> None:
    from splinter.data.formats import mrqa_hub
    from splinter.data.formats.readers import file_sha256
    from splinter.data.release.manifest import write_manifest

    source = args.mrqa_source or mrqa_hub.HUB_ID
    todo = [s for s in mrqa_hub.SUBSET_SPLITS if f"mrqa-dev/{s}.jsonl.gz" not in good]
    if not todo:
        print(f"MRQA dev sets: {len(mrqa_hub.SUBSET_SPLITS)} files under {root / 'mrqa-dev'} verified; "
              "nothing to download")
        return
    absent = []
    for split in dict.fromkeys(mrqa_hub.SUBSET_SPLITS[s] for s in todo):
        print(f"MRQA dev sets: loading split '{split}' of {source}")
        try:
            rows = mrqa_hub.load_split(split, source=source)
        except Exception as e:  # offline, refused, not found: one line
            first = (str(e).strip().splitlines() or [""])[0][:200]
            raise DownloadError(
                f"cannot load split '{split}' of {source}: {type(e).__name__}: {first}; without network: copy "
                f"the dataset (`huggingface-cli download {mrqa_hub.HUB_ID} --repo-type dataset --local-dir DIR`) "
                "and pass --mrqa-source DIR, or skip the dev sets with --no-mrqa-dev"
            ) from None
        for subset in (s for s in todo if mrqa_hub.SUBSET_SPLITS[s] == split):
            selected = mrqa_hub.select_subset(rows, subset)
            if not len(selected):
                absent.append(subset)
                continue
            name = f"mrqa-dev/{subset}.jsonl.gz"
            questions = mrqa_hub.write_mrqa_file(selected, root / name, subset, split)
            files[name] = {"bytes": (root / name).stat().st_size, "sha256": file_sha256(root / name)}
            good.add(name)
            write_manifest(root, files)
            print(f"{name}: {questions} questions")
    if absent:
        print(f"not in {source}: {', '.join(absent)}")


if __name__ == "__main__":
    sys.exit(main())
