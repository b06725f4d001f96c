"""The server as users run it: real gunicorn with several worker processes, real camera processes."""

from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import capture_processes, probe, wait_until
from tests.servers import GunicornServer

pytestmark = pytest.mark.slow


@pytest.fixture
def server(gunicorn, standins) -> GunicornServer:
    # `standins` put the stand-in apps on PATH (inherited by gunicorn) and set their state directory.
    return gunicorn(workers=2, threads=3, env={"CAMERA_BACKEND": "rpicam"})


def test_the_seed_curl_examples_work(server):
    status = server.get("/api/camera/status").json()
    assert status["ok"] is True and status["backend"] == "rpicam"

    jpg = server.post("/api/camera/capture", {"format": "jpg", "durationSec": 1, "width": 1280, "height": 720})
    assert jpg.status_code == 200, jpg.text
    served = server.get(jpg.json()["url"])
    assert served.headers["Content-Type"] == "image/jpeg"
    assert served.content[:2] == b"\xff\xd8"

    mp4 = server.post(
        "/api/camera/capture", {"format": "mp4", "durationSec": 3, "fps": 30, "width": 640, "height": 480}
    )
    assert mp4.status_code == 200, mp4.text
    assert probe(server.uploads / mp4.json()["filename"])["duration"] == pytest.approx(3, rel=0.1)

    h264 = server.post(
        "/api/camera/capture", {"format": "h264", "durationSec": 1, "fps": 30, "width": 640, "height": 480}
    )
    assert h264.status_code == 200
    assert server.get(h264.json()["url"]).headers["Content-Type"] == "video/h264"

    # Every request is logged with method, path, status and ms; every command with its argv.
    log = server.log()
    assert "POST /api/camera/capture 200" in log
    assert "run: " in log and "rpicam-still" in log


def test_concurrent_captures_across_workers_one_wins_the_rest_get_409(server, standins):
    body = {"format": "jpg", "durationSec": 1.5, "width": 320, "height": 240}
    with ThreadPoolExecutor(max_workers=6) as pool:
        codes = sorted(r.status_code for r in pool.map(lambda _: server.post("/api/camera/capture", body), range(6)))
    assert codes == [200] + [409] * 5
    runs = (standins / "runs.log").read_text().split("\n")
    assert sum(line.startswith("start ") for line in runs) == 1  # the camera itself ran once
    assert server.get("/api/camera/status").json()["busy"] is False


def test_status_from_another_worker_sees_busy_without_blocking(server):
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(
            server.post, "/api/camera/capture", {"format": "h264", "durationSec": 2, "width": 320, "height": 240}
        )
        deadline = time.monotonic() + 10
        while not server.get("/api/camera/status").json()["busy"] and time.monotonic() < deadline:
            time.sleep(0.05)
        started = time.monotonic()
        statuses = [server.get("/api/camera/status").json() for _ in range(20)]
        assert all(status["busy"] for status in statuses)
        assert time.monotonic() - started < 2  # 20 answers while a capture holds the camera
        assert pending.result().status_code == 200  # and the probes never cost the capture its camera


def test_killing_the_worker_mid_capture_frees_the_camera_at_once(server, standins):
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(
            server.post, "/api/camera/capture", {"format": "h264", "durationSec": 20, "width": 320, "height": 240}
        )
        record = wait_until(lambda: lock_record(server.lock_path).get("cameraPgid") and lock_record(server.lock_path),
                            message="the capture started")  # fmt: skip
        os.kill(record["pid"], signal.SIGKILL)  # the gunicorn worker holding the camera
        with pytest.raises(Exception):  # noqa: B017 - the connection dies with the worker
            pending.result()

    # The camera process died with its worker (it had 20 s to go), so the camera is free straight away.
    wait_until(lambda: capture_processes(standins) == [], timeout=5, message="no camera process left")
    retry = server.post("/api/camera/capture", {"format": "jpg", "durationSec": 0.5, "width": 320, "height": 240})
    assert retry.status_code == 200, retry.text

    history = server.get("/api/captures/").json()["results"]
    assert [row["status"] for row in history] == ["ok", "interrupted"]
    assert sorted(p.name for p in server.uploads.iterdir()) == [retry.json()["filename"]]  # no partial file left


def lock_record(path) -> dict:
    """The camera lock's holder record (empty while nobody holds it)."""
    text = path.read_text() if path.exists() else ""
    return json.loads(text) if text.strip() else {}
