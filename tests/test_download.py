"""`python -m splinter.download` end to end and offline: a zip of the shared SQuAD splits served by an HTTP
server on 127.0.0.1 started here (with or without Range support, cutting connections on demand)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import socket
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from splinter.data.release import manifest
from splinter.data.release.archive import FOLDERS, expected_files
from splinter.data.release.download import main
from splinter.data.release.fetch import download
from splinter.errors import ChecksumError, DownloadError

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
SPLITS = SHARED / "mrqa-few-shot" / "squad"
DEV_FIXTURE = REPO / "tests" / "fixtures" / "root" / "mrqa-dev" / "SQuAD.jsonl.gz"
SMALL = ["squad-train-seed-42-num-examples-16.jsonl", "squad-train-seed-43-num-examples-16.jsonl"]
OFFLINE_HINT = "without network: fetch it elsewhere and run `python -m splinter.download --archive PATH`"

pytestmark = pytest.mark.skipif(not SPLITS.is_dir(), reason="../shared/data is not there")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:  # stored: a flipped byte stays a flipped byte
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def small_members(prefix: str = "") -> dict[str, bytes]:
    return {f"{prefix}squad/{name}": (SPLITS / name).read_bytes() for name in SMALL}


# ------------------------------------------------------------------------------------------ the server


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        server = self.server
        server.ranges_asked.append(self.headers.get("Range"))
        if self.path != "/release.zip":
            self.send_error(404)
            return
        data, start = server.payload, 0
        asked = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if asked and server.supports_range:
            start = 0 if server.supports_range == "from zero" else int(asked.group(1))
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if server.cuts > 0:  # announce everything, send half, hang up
            server.cuts -= 1
            self.wfile.write(body[: len(body) // 2])
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def serve():
    servers = []

    def start(payload: bytes, supports_range: bool = True, cuts: int = 0):
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.payload, server.supports_range, server.cuts, server.ranges_asked = payload, supports_range, cuts, []
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server, f"http://127.0.0.1:{server.server_address[1]}/release.zip"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def run(capsys, *args) -> tuple[int, str, str]:
    code = main([*args, "--no-mrqa-dev", "--no-progress"])
    out, err = capsys.readouterr()
    return code, out, err


def leftovers(root: Path) -> list[str]:
    """Files under a temporary or partial name, anywhere under root."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.name.endswith(".part")
                  or p.name.startswith(".install-"))


# ------------------------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("prefix", ["", "mrqa-few-shot/"], ids=["top-level", "nested"])
def test_download_installs_verified_files_and_names_the_missing_datasets(serve, tmp_path, capsys, prefix):
    members = small_members(prefix)
    members[f"{prefix}__MACOSX/._squad"] = b"resource fork"
    server, url = serve(make_zip(members))
    code, out, err = run(capsys, "--root", str(tmp_path), "--url", url)
    assert code == 0, err
    for name in SMALL:
        installed = tmp_path / "mrqa-few-shot" / "squad" / name
        assert installed.read_bytes() == (SPLITS / name).read_bytes()
    assert "installed 2 files under" in out and "(squad 2)" in out
    assert "left out 1 archive members outside the dataset folders: " in out
    assert "not in this archive: newsqa, triviaqa, searchqa, hotpotqa, naturalquestions, bioasq, textbookqa" in out
    listed = json.loads((tmp_path / "MANIFEST.json").read_text())["files"]
    assert [f["file"] for f in listed] == [f"mrqa-few-shot/squad/{name}" for name in SMALL]
    for entry in listed:
        data = (tmp_path / entry["file"]).read_bytes()
        assert entry["bytes"] == len(data) and entry["sha256"] == sha(data) == manifest.pinned()[entry["file"]]
    assert leftovers(tmp_path) == [] and not (tmp_path / ".downloads" / "mrqa-few-shot.zip").exists()
    assert server.ranges_asked == [None]


def test_a_complete_install_is_verified_and_skipped_the_second_time(serve, tmp_path, capsys):
    members = {f"squad/{p.name}": p.read_bytes() for p in sorted(SPLITS.glob("*.jsonl"))}
    members["squad/dev.jsonl"] = DEV_FIXTURE.read_bytes()
    for folder in FOLDERS[1:]:  # the other datasets: small stand-ins with the release's file names
        for name in expected_files(folder):
            members[name.removeprefix("mrqa-few-shot/")] = f"{name}\n".encode()
    server, url = serve(make_zip(members))
    code, out, err = run(capsys, "--root", str(tmp_path), "--url", url)
    assert code == 0, err
    assert f"installed {len(members)} files" in out and len(members) == 8 * 36
    assert "not in this archive" not in out
    code, out, err = run(capsys, "--root", str(tmp_path), "--url", url)
    assert code == 0 and err == ""
    assert (f"few-shot splits: 280 training splits under {tmp_path / 'mrqa-few-shot'} verified; nothing to "
            "download") in out
    assert server.ranges_asked == [None]  # the second call did not download
    assert main(["--root", str(tmp_path), "--check"]) == 0
    assert capsys.readouterr().out == f"288 files under {tmp_path} verified\n"


def test_a_changed_or_truncated_file_is_detected_later_and_replaced(serve, tmp_path, capsys):
    server, url = serve(make_zip(small_members()))
    assert run(capsys, "--root", str(tmp_path), "--url", url)[0] == 0
    target = tmp_path / "mrqa-few-shot" / "squad" / SMALL[0]
    pin = manifest.pinned()[f"mrqa-few-shot/squad/{SMALL[0]}"]
    data = target.read_bytes()
    target.write_bytes(data[: len(data) // 2])  # truncated
    line = (f"{target}: sha256 mismatch: expected {pin}, got {sha(data[: len(data) // 2])} (changed or truncated; "
            "run `python -m splinter.download` to replace it)")
    code, out, err = run(capsys, "--root", str(tmp_path), "--check")
    assert code == 2
    assert err.splitlines() == [line, f"error: 1 of 2 files under {tmp_path} failed verification (listed above); "
                                      f"run `python -m splinter.download --root {tmp_path}` to replace them"]
    # a training run reading it stops with the same line
    with pytest.raises(ChecksumError) as info:
        manifest.check_installed(tmp_path, target, sha(target.read_bytes()))
    assert str(info.value) == line
    manifest.check_installed(tmp_path, tmp_path / "mrqa-few-shot" / "squad" / SMALL[1],
                             sha((SPLITS / SMALL[1]).read_bytes()))  # an intact file passes
    # the next download call warns and installs it again
    code, out, err = run(capsys, "--root", str(tmp_path), "--url", url)
    assert code == 0 and err == f"warning: {line}\n"
    assert target.read_bytes() == data


def test_a_corrupted_byte_is_a_checksum_error_and_nothing_is_installed(serve, tmp_path, capsys):
    members = small_members()
    name = f"squad/{SMALL[0]}"
    changed = bytearray(members[name])
    changed[1000] ^= 0x01
    members[name] = bytes(changed)
    server, url = serve(make_zip(members))
    code, out, err = run(capsys, "--root", str(tmp_path), "--url", url)
    archive = tmp_path / ".downloads" / "mrqa-few-shot.zip"
    assert code == 2
    assert err == (f"error: {archive}:{name}: sha256 mismatch: expected {manifest.pinned()['mrqa-few-shot/' + name]}, "
                   f"got {sha(bytes(changed))} (changed or truncated; run `python -m splinter.download` to "
                   "replace it)\n")
    assert not (tmp_path / "mrqa-few-shot").exists() and not (tmp_path / "MANIFEST.json").exists()
    assert leftovers(tmp_path) == [] and not archive.exists()  # the bad download is not reused


def test_a_damaged_archive_member_fails_its_crc(tmp_path, capsys):
    payload = bytearray(make_zip(small_members()))
    payload[payload.index(b'"header"') + 3] ^= 0x01  # inside the first member's stored bytes
    archive = tmp_path / "damaged.zip"
    archive.write_bytes(bytes(payload))
    code, out, err = run(capsys, "--root", str(tmp_path / "root"), "--archive", str(archive))
    assert code == 2
    assert err.startswith(f"error: {archive}:squad/{SMALL[0]}: corrupt archive member (Bad CRC-32")
    assert err.endswith("delete the archive and download it again\n") and err.count("\n") == 1
    assert not (tmp_path / "root" / "mrqa-few-shot").exists() and archive.exists()  # the user's file is kept


@pytest.mark.parametrize("supports_range", [True, False], ids=["resumes", "restarts"])
def test_a_download_cut_halfway_resumes_or_restarts_cleanly(serve, tmp_path, capsys, supports_range):
    payload = make_zip(small_members())
    server, url = serve(payload, supports_range=supports_range, cuts=1)
    code, out, err = run(capsys, "--root", str(tmp_path), "--url", url)
    assert code == 0, err
    half = (len(payload)) // 2
    assert server.ranges_asked == [None, f"bytes={half}-"]
    for name in SMALL:
        assert (tmp_path / "mrqa-few-shot" / "squad" / name).read_bytes() == (SPLITS / name).read_bytes()
    assert leftovers(tmp_path) == []


def test_a_download_that_keeps_failing_leaves_only_a_part_file(serve, tmp_path):
    payload = make_zip(small_members())
    server, url = serve(payload, cuts=99)
    dest = tmp_path / "release.zip"
    with pytest.raises(DownloadError) as info:
        download(url, dest, attempts=3, progress=False)
    part = tmp_path / "release.zip.part"
    assert str(info.value) == (f"cannot download {url}: the connection dropped 3 times ({part.stat().st_size} of "
                               f"{len(payload)} bytes kept in {part}; run again to resume); {OFFLINE_HINT}")
    assert not dest.exists() and 0 < part.stat().st_size < len(payload)
    assert payload.startswith(part.read_bytes())  # every resumed piece landed at its offset
    kept = part.stat().st_size
    server.cuts = 0  # the next call resumes from the part file and finishes
    assert download(url, dest, progress=False).read_bytes() == payload and not part.exists()
    assert server.ranges_asked[-1] == f"bytes={kept}-"


def test_a_stale_part_file_longer_than_the_resource_restarts(serve, tmp_path):
    payload = make_zip(small_members())
    server, url = serve(payload)
    (tmp_path / "release.zip.part").write_bytes(b"x" * (len(payload) + 10))
    assert download(url, tmp_path / "release.zip", progress=False).read_bytes() == payload
    assert server.ranges_asked == [f"bytes={len(payload) + 10}-", None]  # 416, then from byte 0


def test_a_range_answered_at_another_offset_restarts(serve, tmp_path):
    payload = make_zip(small_members())
    server, url = serve(payload, supports_range="from zero")  # 206, but always from byte 0
    (tmp_path / "release.zip.part").write_bytes(payload[:100])
    assert download(url, tmp_path / "release.zip", progress=False).read_bytes() == payload
    assert server.ranges_asked == ["bytes=100-", None]


def test_a_refused_connection_is_one_line(tmp_path, capsys):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/release.zip"
    code, out, err = run(capsys, "--root", str(tmp_path), "--url", url)
    assert code == 2
    assert err == f"error: cannot download {url}: [Errno 111] Connection refused; {OFFLINE_HINT}\n"
    assert leftovers(tmp_path) == [] and not (tmp_path / "mrqa-few-shot").exists()


def test_an_http_error_is_one_line(serve, tmp_path, capsys):
    server, url = serve(b"")
    missing = url.replace("release.zip", "gone.zip")
    code, out, err = run(capsys, "--root", str(tmp_path), "--url", missing)
    assert code == 2 and err == f"error: cannot download {missing}: HTTP 404 Not Found; {OFFLINE_HINT}\n"


def test_the_package_pins_the_35_squad_splits():
    pins = manifest.pinned()
    assert len(pins) == 35 and all(name.startswith("mrqa-few-shot/squad/squad-train-seed-") for name in pins)
    for name, digest in pins.items():
        assert sha((SHARED / name).read_bytes()) == digest
