"""The clients people plug the camera into, replayed against a real gunicorn and camera owner (stand-in
camera apps), with a `stream`+`read` token made by `manage.py token create`, as the Integration page makes one:

- Home Assistant: its MJPEG config flow's check (requests: Basic, then Digest on a 401), the still decoded with
  Pillow as its generic camera does, and the stream read part by part (boundary from the Content-Type, each
  part image/jpeg with a Content-Length);
- OctoPrint: the snapshot within its 5 s timeout, by `?token=`;
- Mainsail/Fluidd's `mjpegstreamer-adaptive`: the snapshot URL polled 15 times a second for 10 s;
- and then no secret in any log line.

The tests share one server (module scope) and run in file order; the log check comes last.
"""

from __future__ import annotations

import io
import re
import sqlite3
import subprocess
import sys

import pytest
import requests
from PIL import Image
from requests.auth import HTTPBasicAuth, HTTPDigestAuth

from tests.conftest import ROOT
from tests.previews import LivePreview
from tests.viewers import paced

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

WRONG_PASSWORD = "not-the-token-0123456789"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    preview = LivePreview(tmp_path_factory.mktemp("conformance"), PREVIEW_IDLE_SEC="5").start()
    try:
        made = subprocess.run(
            [sys.executable, "manage.py", "token", "create", "--scope", "stream", "--scope", "read",
             "--label", "integration camera 0 test"],
            cwd=ROOT, env=preview.server.env, capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        preview.secret = made.stdout.strip()
        assert preview.secret
        yield preview
    finally:
        preview.stop()


def url(live: LivePreview, path: str) -> str:
    return live.server.url + path


def decoded(body: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(body))
    image.load()  # decodes every pixel: a truncated or corrupt JPEG raises
    return image


def captures_in(live: LivePreview) -> int:
    with sqlite3.connect(live.server.env["DATABASE_PATH"]) as db:
        return db.execute("SELECT COUNT(*) FROM capture_capture").fetchone()[0]


def ha_validate_url(address: str, username: str, password: str) -> int:
    """Home Assistant's MJPEG config flow check: Basic first; on a 401, Digest; the last status decides."""
    response = requests.get(address, auth=HTTPBasicAuth(username, password), timeout=10, stream=True)
    response.close()
    if response.status_code == 401:
        response = requests.get(address, auth=HTTPDigestAuth(username, password), timeout=10, stream=True)
        response.close()
    return response.status_code


# --- Home Assistant ---


def test_ha_config_flow_passes_with_basic_and_the_token(live):
    for path in ("/api/cameras/0/stream.mjpg", "/api/cameras/0/snapshot.jpg"):
        assert ha_validate_url(url(live, path), "homeassistant", live.secret) == 200


def test_ha_still_image_decodes_with_pillow(live):
    response = requests.get(url(live, "/api/cameras/0/snapshot.jpg"), auth=("homeassistant", live.secret), timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    image = decoded(response.content)
    assert image.format == "JPEG" and image.size == (640, 480)


def test_ha_mjpeg_stream_parts_parse_as_its_multipart_reader_reads_them(live):
    with requests.get(
        url(live, "/api/cameras/0/stream.mjpg"), auth=("homeassistant", live.secret), timeout=10, stream=True
    ) as response:
        assert response.status_code == 200
        content_type = response.headers["Content-Type"]
        assert content_type.startswith("multipart/x-mixed-replace")
        boundary = re.search(r"boundary=\"?([^\";]+)\"?", content_type)[1]
        parts = read_parts(response.raw, boundary, count=3)
    for headers, body in parts:
        assert headers["content-type"] == "image/jpeg"
        assert int(headers["content-length"]) == len(body)
        assert decoded(body).size == (640, 480)


def read_parts(raw, boundary: str, count: int) -> list[tuple[dict[str, str], bytes]]:
    """A multipart reader like aiohttp's: `--boundary` line, header lines to a blank line, then exactly
    Content-Length bytes of body."""
    parts = []
    while len(parts) < count:
        line = raw.readline().strip()
        if not line:
            continue  # the CRLF that ends the previous part
        assert line == f"--{boundary}".encode(), line
        headers = {}
        while header := raw.readline().strip():
            name, _, value = header.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        parts.append((headers, raw.read(int(headers["content-length"]))))
    return parts


def test_ha_wrong_password_fails_cleanly_through_basic_then_digest(live):
    address = url(live, "/api/cameras/0/snapshot.jpg")
    response = requests.get(address, auth=("homeassistant", WRONG_PASSWORD), timeout=10)
    assert response.status_code == 401
    assert response.json()["ok"] is False
    challenge = response.headers["WWW-Authenticate"]
    assert "Basic realm=" in challenge and "Bearer" in challenge
    assert "digest" not in challenge.lower()  # so requests' Digest auth gives up at once instead of looping
    assert ha_validate_url(address, "homeassistant", WRONG_PASSWORD) == 401


def test_a_digest_authorization_header_is_a_401_not_a_5xx(live):
    digest = 'Digest username="homeassistant", realm="api", nonce="abc", uri="/snapshot.jpg", response="0123"'
    for path in ("/snapshot.jpg", "/api/cameras/0/stream.mjpg", "/api/camera/status"):
        response = requests.get(url(live, path), headers={"Authorization": digest}, timeout=10)
        assert response.status_code == 401, path
        assert response.json()["ok"] is False


# --- OctoPrint ---


def test_octoprint_snapshot_answers_within_its_5s_timeout(live):
    for path in ("/api/cameras/0/snapshot.jpg", "/snapshot.jpg", "/"):
        params = {"token": live.secret, **({"action": "snapshot"} if path == "/" else {})}
        response = requests.get(url(live, path), params=params, timeout=5)  # OctoPrint's own timeout
        assert response.status_code == 200, path
        assert decoded(response.content).format == "JPEG"


def test_octoprint_stream_url_with_token_is_mjpeg(live):
    with requests.get(url(live, "/stream.mjpg"), params={"token": live.secret}, timeout=10, stream=True) as answer:
        assert answer.status_code == 200
        assert answer.headers["Content-Type"].startswith("multipart/x-mixed-replace")


# --- Mainsail / Fluidd: mjpegstreamer-adaptive polls the snapshot URL ---


def test_mainsail_adaptive_polling_15_per_second_for_10_s(live):
    before = captures_in(live)
    session = requests.Session()
    address = url(live, f"/api/cameras/0/snapshot.jpg?token={live.secret}")
    statuses, sizes = [], set()
    for _ in paced(rate=15, seconds=10):
        response = session.get(address, timeout=5)
        statuses.append(response.status_code)
        sizes.add(decoded(response.content).size)
    session.close()
    assert statuses == [200] * 150
    assert sizes == {(640, 480)}
    assert captures_in(live) == before  # a snapshot is stored only when asked for (?save=1)


# --- Last: nothing above put the secret in a log ---


def test_no_token_in_any_log_line(live):
    logs = {"gunicorn": live.server.log(), "owner": live.owner.log()}
    assert "snapshot.jpg" in logs["gunicorn"]  # the requests were logged, only without the secret
    for name, text in logs.items():
        for secret in (live.secret, WRONG_PASSWORD):
            assert secret not in text, name
