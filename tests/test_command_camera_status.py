"""`manage.py camera_status`: the status endpoint's facts with a fresh detection, and who holds the camera."""

from __future__ import annotations

import json

import pytest
from django.conf import settings

from tests.cli import run_manage
from tests.test_camera_lock import hold_in_other_process


@pytest.fixture
def manage(db, capsys):
    return lambda *args: run_manage(capsys, *args)


def test_its_json_is_the_status_endpoints_plus_the_holder(manage, api):
    api_status = api.get("/api/camera/status").json()
    code, out, _ = manage("camera_status", "--json")
    assert code == 0
    status = json.loads(out)
    assert status.pop("holder") is None
    # Detection ran again for the command, so only its time differs.
    assert status.pop("detectedAt") >= api_status.pop("detectedAt")
    assert status == api_status
    assert status["backend"] == "simulated"


def test_it_detects_the_camera_now_instead_of_reading_the_cache(manage, standins, monkeypatch):
    code, out, _ = manage("camera_status", "--json")
    assert code == 0
    first = json.loads(out)
    assert (first["backend"], first["cameraDetected"]) == ("rpicam", True)
    assert [camera["model"] for camera in first["cameras"]] == ["imx708"]

    monkeypatch.setenv("STANDIN_CAMERAS", "none")  # the ribbon cable is pulled
    _, out, _ = manage("camera_status", "--json")
    # The cached detection would still say "detected" for CAMERA_DETECT_TTL_SEC (60 s).
    assert (json.loads(out)["cameraDetected"], json.loads(out)["cameras"]) == (False, [])


def test_it_says_in_words_what_it_found(manage, standins):
    code, out, err = manage("camera_status")
    assert code == 0
    assert out.splitlines() == [
        "camera:          0",
        "backend:         rpicam",
        "camera detected: yes",
        "cameras:         0: imx708 4608x2592 10-bit RGGB (/base/axi/pcie@120000/rp1/i2c@88000/imx708@1a)",
        "busy:            no",
        "last capture:    never",
        "last error:      none",
    ]
    assert err == ""  # the detection command's log line shows with -v 2 only


def test_it_says_why_no_camera_was_found(manage, settings, monkeypatch):
    settings.CAMERA_BACKEND = "rpicam"
    monkeypatch.setenv("PATH", "/nonexistent")  # rpicam-apps missing
    _, out, _ = manage("camera_status")
    assert "camera detected: no (No camera app found: install rpicam-apps" in out
    assert "cameras:         none" in out


def test_it_names_the_process_holding_the_camera(manage):
    holder = hold_in_other_process(settings.CAMERA_LOCK_PATH)
    try:
        _, text, _ = manage("camera_status")
        _, out, _ = manage("camera_status", "--json")
    finally:
        holder.kill()
        holder.wait()
    status = json.loads(out)
    assert status["busy"] is True
    assert status["holder"]["pid"] == holder.pid
    assert f"pid {holder.pid}" in text
    assert "busy:            yes, since " in text


def test_it_shows_the_last_capture_and_the_last_error(manage, post_json, settings):
    settings.ANALYZE_URL = "http://127.0.0.1:9/api/analyze"  # nothing listens: the capture is kept, with an error
    response = post_json("/api/camera/capture-and-analyze", {"width": 64, "height": 64, "durationSec": 0.2})
    assert response.status_code == 500

    _, out, _ = manage("camera_status")
    lines = dict(line.split(":", 1) for line in out.splitlines())
    assert lines["last capture"].strip().endswith(" UTC")
    assert lines["last error"].strip().startswith(response.json()["error"] + " (")
