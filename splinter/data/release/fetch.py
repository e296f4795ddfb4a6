"""Download one URL to a file: a temporary `.part` name, a progress bar, resumption, then a rename.

A `.part` left by an interrupted call (or by a connection dropped in this one) is continued with an
HTTP `Range: bytes=N-` request. A server that answers 206 with that offset appends to it; one that
ignores the range (200) or refuses it (416) makes the download restart from byte 0, cleanly, into the
same `.part`. The file gets its final name only once every byte announced by the server has arrived,
so a final name never holds a truncated download. Only the standard library speaks HTTP here.
"""

from __future__ import annotations

import http.client
import re
import urllib.error
import urllib.request
from pathlib import Path

from huggingface_hub.utils import tqdm

from splinter.errors import DownloadError

CHUNK = 1 << 16
OFFLINE_HINT = "without network: fetch it elsewhere and run `python -m splinter.download --archive PATH`"


def download(url: str, dest: Path, *, attempts: int = 4, timeout: float = 60.0, progress: bool = True) -> Path:
    """Fetch `url` into `dest` (via `dest.part`), resuming after dropped connections; returns `dest`."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    received = expected = None
    for _ in range(attempts):
        have = part.stat().st_size if part.exists() else 0
        response = _open(url, have, timeout)
        if response is None:  # 416: the partial file does not fit this resource any more
            part.unlink()
            continue
        with response:
            resumed = have > 0 and response.status == 206 and _range_start(response) == have
            if response.status == 206 and not resumed:  # a range we did not ask for: start again
                part.unlink(missing_ok=True)
                continue
            offset = have if resumed else 0
            length = response.headers.get("Content-Length")
            expected = offset + int(length) if length is not None else None
            written, ended = _copy(response, part, "ab" if resumed else "wb", offset, expected, dest.name,
                                   progress)
            received = offset + written
        if ended and (expected is None or received == expected):
            part.replace(dest)
            return dest
        # the connection dropped before the end: the next attempt resumes from what arrived
    raise DownloadError(
        f"cannot download {url}: the connection dropped {attempts} times ({received} of {expected} bytes "
        f"kept in {part}; run again to resume); {OFFLINE_HINT}"
    )


def _open(url: str, have: int, timeout: float):
    headers = {"User-Agent": "splinter-download"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:
            return None
        raise DownloadError(f"cannot download {url}: HTTP {e.code} {e.reason}; {OFFLINE_HINT}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        reason = getattr(e, "reason", None) or e
        raise DownloadError(f"cannot download {url}: {reason}; {OFFLINE_HINT}") from None


def _range_start(response) -> int | None:
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def _copy(response, part: Path, mode: str, offset: int, total: int | None, name: str,
          progress: bool) -> tuple[int, bool]:
    """Append the body to `part`; returns (bytes written, whether the body ended normally). A connection
    that breaks mid-body ends the copy early; the caller resumes, it is not an error."""
    written, ended = 0, False
    with open(part, mode) as out, tqdm(total=total, initial=offset, unit="B", unit_scale=True, desc=name,
                                       disable=not progress) as bar:
        while True:
            try:
                block = response.read(CHUNK)
            except (OSError, http.client.HTTPException):  # reset, timeout, IncompleteRead of a chunked body
                break
            if not block:
                ended = True
                break
            out.write(block)
            written += len(block)
            bar.update(len(block))
    return written, ended
