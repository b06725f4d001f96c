"""The real rpicam backend, run against the stand-in camera apps (tests/standins) through the API."""

from __future__ import annotations

import time

import pytest
from django.conf import settings

from capture.camera.backends.rpicam import parse_list_cameras
from capture.camera.lock import CameraLock
from capture.camera.registry import reset_cameras
from capture.models import Capture
from tests.conftest import capture_processes, probe, wait_for_detection, wait_until
from tests.standins import install_standins

URL = "/api/camera/capture"
SMALL = {"width": 320, "height": 240}


def capture(post_json, **body):
    return post_json(URL, {**SMALL, **body})


def argv_of(row: Capture, index: int = 0) -> list[str]:
    return row.commands[index]["argv"]


def test_a_jpg_uses_rpicam_still_with_the_real_flags(post_json, standins):
    response = capture(post_json, format="jpg", durationSec=0.3, width=640, height=480)
    assert response.status_code == 200, response.json()
    path = settings.MEDIA_ROOT / response.json()["filename"]
    assert probe(path)["width"] == 640
    row = Capture.objects.get()
    argv = argv_of(row)
    assert argv[0].endswith("/rpicam-still")
    assert argv[argv.index("--timeout") + 1] == "300"  # plain numbers are milliseconds
    assert argv[argv.index("--encoding") + 1] == "jpg"
    assert "--nopreview" in argv
    assert row.backend == "rpicam"
    runs = (standins / "runs.log").read_text().splitlines()
    assert [line.split()[0] for line in runs if not line.startswith("list-")] == ["start", "end"]


def test_h264_is_the_raw_stream_from_rpicam_vid(post_json, standins):
    response = capture(post_json, format="h264", durationSec=1, fps=15)
    assert response.status_code == 200
    facts = probe(settings.MEDIA_ROOT / response.json()["filename"])
    assert facts["format"] == "h264"
    assert facts["frames"] == pytest.approx(15, abs=2)
    argv = argv_of(Capture.objects.get())
    assert argv[argv.index("--codec") + 1] == "h264"
    assert argv[argv.index("--framerate") + 1] == "15"
    assert "--inline" in argv


def test_mp4_is_written_by_rpicam_vid_itself_when_it_has_libav(post_json, standins):
    # The stand-in's help is as long as the real v1.13.0 one (13 kB, --libav-format 2 kB before its end), which
    # a check reading only the tail of the output missed; `--version` says `libav:1`.
    response = capture(post_json, format="mp4", durationSec=1, fps=15)
    assert response.status_code == 200
    facts = probe(settings.MEDIA_ROOT / response.json()["filename"])
    assert facts["duration"] == pytest.approx(1, rel=0.1)
    row = Capture.objects.get()
    assert len(row.commands) == 1  # no remux
    argv = argv_of(row)
    assert argv[argv.index("--codec") + 1] == "libav"
    assert argv[argv.index("--libav-format") + 1] == "mp4"
    assert row.remux_ms is None


@pytest.mark.parametrize("platform", ["pi5", "pi4"])
def test_without_libav_mp4_is_remuxed_with_the_rate_before_the_input(post_json, standins, monkeypatch, platform):
    # A Pi 5 stream has B-frames and a 1 MHz VUI tick: the Node server's `-framerate N -i` made 0.001 s files.
    monkeypatch.setenv("STANDIN_NO_LIBAV", "1")
    monkeypatch.setenv("STANDIN_PLATFORM", platform)
    response = capture(post_json, format="mp4", durationSec=1, fps=15)
    assert response.status_code == 200, response.json()
    facts = probe(settings.MEDIA_ROOT / response.json()["filename"])
    assert facts["format"].startswith("mov,mp4")
    assert facts["duration"] == pytest.approx(1, rel=0.1)
    row = Capture.objects.get()
    remux = argv_of(row, 1)
    assert remux.index("-r") < remux.index("-i")
    assert remux[remux.index("-r") + 1] == "15"
    assert row.remux_ms is not None
    assert [p.name for p in settings.MEDIA_ROOT.iterdir()] == [row.filename]  # the raw .h264 is gone


def test_the_legacy_libcamera_names_are_the_fallback(post_json, standins, tmp_path):
    install_standins(tmp_path / "bin", legacy_names=True)  # replaces rpicam-* with libcamera-* (Bullseye)
    response = capture(post_json, format="jpg", durationSec=0.1)
    assert response.status_code == 200
    assert argv_of(Capture.objects.get())[0].endswith("/libcamera-still")


def test_no_camera_is_a_500_that_says_so(post_json, standins, monkeypatch, api):
    monkeypatch.setenv("STANDIN_CAMERAS", "none")
    response = capture(post_json, format="jpg", durationSec=0.1)
    assert response.status_code == 500
    assert response.json()["error"].startswith("No camera detected")
    row = Capture.objects.get()
    assert row.status == "failed"
    assert "no cameras available" in row.commands[0]["stderr"]
    assert api.get("/api/camera/status").json()["lastError"] == response.json()["error"]


def test_a_camera_app_failure_is_a_500_with_its_message(post_json, standins, monkeypatch):
    monkeypatch.setenv("STANDIN_FAIL", "camera frontend has timed out")
    response = capture(post_json, format="jpg", durationSec=0.1)
    assert response.status_code == 500
    assert "camera frontend has timed out" in response.json()["error"]
    assert list(settings.MEDIA_ROOT.iterdir()) == []


def test_a_camera_held_by_another_program_is_a_409(post_json, standins):
    import subprocess

    other = subprocess.Popen(["rpicam-hello", "--timeout", "10000", "--nopreview"], stderr=subprocess.DEVNULL)
    try:
        runs = standins / "runs.log"
        wait_until(lambda: runs.exists() and "start rpicam-hello" in runs.read_text(), message="rpicam-hello started")
        response = capture(post_json, format="jpg", durationSec=0.1)
    finally:
        other.kill()
        other.wait()
    assert response.status_code == 409
    assert response.json()["error"] == "Camera busy: it is in use by another program"


@pytest.mark.parametrize("fmt", ["jpg", "h264"])
def test_a_hung_camera_is_a_504_and_leaves_nothing_behind(post_json, standins, monkeypatch, settings, fmt):
    monkeypatch.setenv("STANDIN_IGNORE_SIGTERM", "1")
    settings.CAMERA_TIMEOUT_MARGIN_SEC = 0.5
    settings.CAMERA_KILL_GRACE_SEC = 0.3
    started = time.monotonic()
    response = capture(post_json, format=fmt, durationSec=0.1)
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert "timed out" in response.json()["error"]
    # Budget: duration + margin, then SIGINT/SIGTERM grace before SIGKILL.
    assert elapsed < 0.1 + 0.5 + 3 * 0.3 + 1
    wait_for_detection()  # a failed capture triggers a re-detection; let it finish
    assert capture_processes(standins) == []
    assert CameraLock(settings.CAMERA_LOCK_PATH).peek() is None
    assert Capture.objects.get().status == "timeout"
    assert list(settings.MEDIA_ROOT.iterdir()) == []


def test_a_camera_that_forks_leaves_no_process_behind(post_json, standins, monkeypatch):
    monkeypatch.setenv("STANDIN_FORK_CHILD", "1")
    response = capture(post_json, format="jpg", durationSec=0.1)
    assert response.status_code == 200
    wait_until(lambda: capture_processes(standins) == [], timeout=3, message="no camera process left")


def test_the_first_status_already_knows_the_camera(api, standins):
    # The seed's contract is a boolean: the very first status waits for the first listing (10 s at most).
    body = api.get("/api/camera/status").json()
    assert (body["backend"], body["cameraDetected"], body["simulated"]) == ("rpicam", True, False)
    assert body["detectedAt"] is not None
    assert body["cameras"][0]["model"] == "imx708"


def test_one_listing_serves_every_process(api, standins):
    api.get("/api/camera/status")
    reset_cameras()  # as a second gunicorn worker would start: nothing cached in memory
    assert api.get("/api/camera/status").json()["cameraDetected"] is True
    listings = [line for line in (standins / "runs.log").read_text().splitlines() if line.startswith("list-start")]
    assert len(listings) == 1  # the second read the first one's listing from <lock>.cameras.json


def test_status_says_no_camera_when_list_cameras_finds_none(api, standins, monkeypatch):
    monkeypatch.setenv("STANDIN_CAMERAS", "none")
    deadline = time.monotonic() + 10
    body = api.get("/api/camera/status").json()
    while body["detectedAt"] is None and time.monotonic() < deadline:
        time.sleep(0.05)
        body = api.get("/api/camera/status").json()
    assert body["cameraDetected"] is False
    assert body["cameras"] == []


REAL_LISTING = """Available cameras
-----------------
0 : imx585 [3840x2160 16-bit RGGB] (/base/axi/pcie@120000/rp1/i2c@80000/imx585@1A)
    Modes: 'SRGGB12_CSI2P' : 1928x1090 [87.60 fps - (0, 0)/3840x2160 crop]
                             3856x2180 [43.80 fps - (0, 0)/3840x2160 crop]
           'SRGGB16' : 1928x1090 [30.00 fps - (0, 0)/3840x2160 crop]

1 : imx219 [3280x2464] (/base/soc/i2c0mux/i2c@1/imx219@10)
    Modes: 'SRGGB10_CSI2P' : 640x480 [206.65 fps - (1000, 752)/1280x960 crop]

"""


def test_list_cameras_parsing():
    cameras = parse_list_cameras(REAL_LISTING)
    assert [(c["index"], c["model"], c["width"], c["height"], c["bitDepth"], c["cfa"]) for c in cameras] == [
        (0, "imx585", 3840, 2160, 16, "RGGB"),
        (1, "imx219", 3280, 2464, None, None),
    ]
    assert cameras[0]["id"] == "/base/axi/pcie@120000/rp1/i2c@80000/imx585@1A"
    assert parse_list_cameras("0 : virtual [1920x1080] (Virtual0)\n")[0]["model"] == "virtual"
    assert parse_list_cameras("No cameras available!\n") == []
    assert parse_list_cameras("") == []
