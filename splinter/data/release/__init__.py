"""The released data: `python -m splinter.download` (download.py) fetches the few-shot splits (fetch.py,
archive.py) and the MRQA dev sets, and pins and checks their sha256 (manifest.py, pinned_sha256.txt)."""
