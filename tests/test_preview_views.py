"""The preview's Django side with the test client: access, 404/503 answers, snapshots, status, and captures
pre-empting a preview. The owner is the real one (capture.lib.owner) with a tiny fake camera process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict

import pytest
from django.conf import settings as django_settings

from capture.camera.preview import owner_config
from capture.camera.registry import get_camera
from capture.lib import owner_client
from capture.models import ApiToken, Capture
from tests.conftest import ROOT

# A camera process that sends a small JPEG every 50 ms until SIGINT (exit 0), counting its frames.
FAKE_CAMERA = """
import signal, sys, time
signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
n = 0
while True:
    sys.stdout.buffer.write(b"\\xff\\xd8frame %d\\xff\\xd9" % n)
    sys.stdout.buffer.flush()
    n += 1
    time.sleep(0.05)
"""
NO_OWNER = "No live preview for camera 0: its owner is not running"


@pytest.fixture
def settings_short(settings, tmp_path):
    # A short lock path: the owner's socket beside it must fit in a Unix socket's 108 bytes.
    settings.CAMERA_LOCK_PATH = tmp_path / "c.lock"
    settings.PREVIEW_SOCKET_DIR = tmp_path
    settings.CAMERA_BACKEND = "simulated"
    return settings


@pytest.fixture
def owner(settings_short, tmp_path):
    config = asdict(owner_config(get_camera(0)))
    config["preview_argv"] = [sys.executable, "-c", FAKE_CAMERA]
    config["idle_sec"] = 1
    log = (tmp_path / "owner.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "capture.lib.owner", json.dumps(config)], cwd=ROOT, stdout=log, stderr=log
    )
    path = owner_client.socket_path(config["socket_path"].removesuffix(".owner.sock"))
    deadline = time.monotonic() + 20
    while True:
        try:
            owner_client.status(path)
            break
        except owner_client.OwnerUnavailable:
            assert time.monotonic() < deadline, (tmp_path / "owner.log").read_text()
            time.sleep(0.05)
    yield path
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=15)
    log.close()


def test_without_an_owner_streams_and_snapshots_are_a_503_and_status_says_stopped(client, db, settings_short):
    for path in ("/api/cameras/0/stream.mjpg", "/snapshot.jpg", "/?action=stream"):
        response = client.get(path)
        assert response.status_code == 503
        assert response.json()["ok"] is False and NO_OWNER in response.json()["error"]
    status = client.get("/api/camera/status").json()
    assert status["preview"] == {"state": "stopped", "viewers": 0, "fps": 0.0}


def test_an_unknown_camera_is_a_404(client, db, settings_short):
    response = client.get("/api/cameras/7/stream.mjpg")
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error": "No camera 7: the cameras are 0"}


def test_with_auth_on_a_stream_token_or_an_admin_session_is_needed(client, db, settings_short, django_user_model):
    settings_short.AUTH_TOKEN = "env-token"
    assert client.get("/snapshot.jpg").status_code == 401
    _, read = ApiToken.objects.create_with_secret("r", ["read"])
    _, stream = ApiToken.objects.create_with_secret("s", ["stream"])
    assert client.get(f"/snapshot.jpg?token={read}").status_code == 403
    assert client.get(f"/snapshot.jpg?token={stream}").status_code == 503  # let through; no owner runs
    client.force_login(django_user_model.objects.create_user("admin", is_staff=True))
    assert client.get("/api/cameras/0/snapshot.jpg").status_code == 503


def test_a_snapshot_is_a_preview_frame_and_is_not_stored(client, db, owner):
    response = client.get("/snapshot.jpg")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response.content.startswith(b"\xff\xd8frame ")
    assert Capture.objects.count() == 0


def test_save_stores_one_snapshot_row_with_its_file(client, db, owner):
    response = client.get("/api/cameras/0/snapshot.jpg?save=1")
    assert response.status_code == 200
    row = Capture.objects.get()
    assert (row.source, row.status, row.format) == ("snapshot", "ok", "jpg")
    assert (django_settings.MEDIA_ROOT / row.filename).read_bytes() == response.content
    assert response["X-Capture-Id"] == str(row.pk)


def test_the_test_client_gets_the_stream_proxied(client, db, owner):
    response = client.get("/?action=stream")
    assert response.status_code == 200
    assert response["Content-Type"] == "multipart/x-mixed-replace; boundary=frame"
    received = b""
    for chunk in response.streaming_content:
        received += chunk
        if received.count(b"--frame") >= 3:
            break
    response.close()
    assert b"Content-Type: image/jpeg" in received and b"\xff\xd8frame " in received


def test_status_shows_the_running_preview_and_a_capture_pre_empts_it(client, db, owner):
    assert client.get("/snapshot.jpg").status_code == 200  # starts the preview, which idles out after 1 s
    status = client.get("/api/camera/status").json()
    assert status["preview"]["state"] == "running"
    assert status["busy"] is False
    response = client.post(
        "/api/camera/capture", {"width": 64, "height": 48, "durationSec": 0.1}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert Capture.objects.get().status == "ok"


def test_a_capture_waits_no_longer_than_preview_yield_sec_for_an_owner_that_never_yields(
    client, db, settings_short, tmp_path
):
    # A preview holder whose owner answers nothing: the capture gives up after PREVIEW_YIELD_SEC with a 409.
    settings_short.PREVIEW_YIELD_SEC = 0.3
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom pathlib import Path\nfrom capture.camera.lock import CameraLock\n"
            "lease = CameraLock(Path(sys.argv[1])).acquire(ttl_sec=60, purpose='preview')\n"
            "print('held', flush=True); time.sleep(60)",
            str(settings_short.CAMERA_LOCK_PATH),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert holder.stdout.readline() == b"held\n"
        assert client.get("/api/camera/status").json()["busy"] is False
        response = client.post("/api/camera/capture", {}, content_type="application/json")
        assert response.status_code == 409
    finally:
        holder.kill()
        holder.wait()


def test_the_admin_capture_list_shows_each_cameras_live_view(admin_client, owner):
    page = admin_client.get("/admin/capture/capture/").content.decode()
    assert '<img src="/api/cameras/0/stream.mjpg"' in page
    assert 'class="preview-state">stopped<' in page
    assert "Take a capture" in page


def test_without_an_owner_the_admin_says_why_there_is_no_live_view(admin_client, settings_short):
    page = admin_client.get("/admin/capture/capture/").content.decode()
    assert "No live view: the camera owner is not running" in page
    assert "stream.mjpg" not in page
