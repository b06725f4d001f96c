"""/uploads and /static under a real gunicorn with DEBUG off, as `make run` serves them."""

from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path

import pytest
import requests

from tests.collected_static import with_collected_static
from tests.servers import GunicornServer

pytestmark = pytest.mark.slow

BIG_FILE_BYTES = 256 * 1024 * 1024


@pytest.fixture(scope="module")
def server(module_gunicorn) -> GunicornServer:
    def prepare(server: GunicornServer) -> None:
        with_collected_static(server)
        server.uploads.mkdir(exist_ok=True)

    return module_gunicorn(workers=1, threads=2, env={"DJANGO_DEBUG": "false"}, before_start=prepare)


@pytest.fixture(scope="module")
def random_file(server) -> bytes:
    data = os.urandom(3 * 1024 * 1024 + 17)
    (server.uploads / "random.mp4").write_bytes(data)
    return data


def worker_pid(server: GunicornServer) -> int:
    [pid] = [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and _parent_of(entry) == server.proc.pid
    ]
    return pid


def _parent_of(entry: Path) -> int | None:
    try:
        return int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def peak_memory_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))


def raw_request(server: GunicornServer, request: str) -> bytes:
    """Send one HTTP/1.1 request on a fresh connection and return every byte the server sends until it closes."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request.encode())
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


# --- /uploads ---


@pytest.mark.parametrize(
    ("range_header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=1000000-2000000", 1_000_000, 2_000_000),  # the middle: sendfile from an offset, for a length
        ("bytes=3145000-", 3_145_000, 3 * 1024 * 1024 + 16),
        ("bytes=-1234", 3 * 1024 * 1024 + 17 - 1234, 3 * 1024 * 1024 + 16),
    ],
)
def test_ranges_are_exact_through_gunicorn(server, random_file, range_header, first, last):
    response = server.get("/uploads/random.mp4", headers={"Range": range_header})
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes {first}-{last}/{len(random_file)}"
    assert response.content == random_file[first : last + 1]
    assert int(response.headers["Content-Length"]) == last - first + 1


def test_the_whole_file_and_an_unsatisfiable_range(server, random_file):
    whole = server.get("/uploads/random.mp4")
    assert whole.status_code == 200 and whole.content == random_file
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert server.get("/uploads/random.mp4", headers={"Range": "bytes=99999999-"}).status_code == 416


def test_head_sends_headers_and_not_one_body_byte(server, random_file):
    for extra in ("", "Range: bytes=0-99\r\n"):
        request = f"HEAD /uploads/random.mp4 HTTP/1.1\r\nHost: t\r\n{extra}Connection: close\r\n\r\n"
        answer = raw_request(server, request)
        head, _, after = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 20")
        assert after == b""


def test_a_304_has_no_body(server, random_file):
    etag = server.get("/uploads/random.mp4").headers["ETag"]
    answer = raw_request(
        server, f"GET /uploads/random.mp4 HTTP/1.1\r\nHost: t\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n"
    )
    head, _, after = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 304")
    assert f"etag: {etag}".encode() in head.lower()
    assert after == b""


def test_a_big_file_streams_without_being_read_into_memory(server):
    big = server.uploads / "big.mp4"
    with big.open("wb") as file:
        file.truncate(BIG_FILE_BYTES)  # sparse: no disk space used
    pid = worker_pid(server)
    assert server.get("/uploads/big.mp4", headers={"Range": "bytes=0-0"}).status_code == 206  # a warm worker
    before = peak_memory_kib(pid)
    received = 0
    started = time.monotonic()
    with requests.get(f"{server.url}/uploads/big.mp4", stream=True, timeout=60) as response:
        assert response.status_code == 200
        for chunk in response.iter_content(1024 * 1024):
            received += len(chunk)
    assert received == BIG_FILE_BYTES
    growth_mib = (peak_memory_kib(pid) - before) / 1024
    assert growth_mib < 32, f"the worker's peak memory grew by {growth_mib:.0f} MiB serving a 256 MiB file"
    assert time.monotonic() - started < 60
    big.unlink()


# --- /static (whitenoise) ---


def test_the_admin_css_and_js_are_served_with_debug_off(server):
    login = server.get("/admin/login/")
    assert login.status_code == 200
    stylesheets = re.findall(r'href="(/static/admin/css/[^"]+\.css)"', login.text)
    assert stylesheets and all(re.search(r"\.[0-9a-f]{12}\.css$", href) for href in stylesheets)  # hashed names
    for href in stylesheets:
        response = server.get(href, headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/css")
        assert "immutable" in response.headers["Cache-Control"]
        assert response.headers.get("Content-Encoding") == "gzip"  # the precompressed copy


def test_our_own_admin_stylesheet_is_served(server):
    manifest = (Path(server.env["STATIC_ROOT"]) / "staticfiles.json").read_text()
    hashed = re.search(r'"capture/admin.css": "([^"]+)"', manifest).group(1)
    response = server.get(f"/static/{hashed}")
    assert response.status_code == 200
    assert ".capture-thumb" in response.text


def test_a_missing_static_file_is_a_404(server):
    assert server.get("/static/admin/css/nope.css").status_code == 404
