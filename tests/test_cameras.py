"""Several cameras and per-shot controls, against the stand-in rpicam apps (two cameras where it matters)."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from django.conf import settings

from capture.camera.registry import DETECTION_WAIT_SEC, get_camera
from capture.models import Capture
from tests.test_camera_lock import hold_in_other_process

CAPTURE = "/api/camera/capture"
SMALL = {"width": 320, "height": 240, "durationSec": 0.1}  # the floor: the stand-in previews no longer than it must


@pytest.fixture
def two_cameras(standins, monkeypatch):
    monkeypatch.setenv("STANDIN_CAMERAS", "imx708,imx219")
    return standins


def argv_log(state) -> list[dict]:
    """What each stand-in run was given, from the stand-in's own log."""
    path = state / "argv.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def capture_argv(state) -> list[str]:
    """The argv of the one capture (not the listings or --help/--version probes) the stand-ins ran."""
    [run] = [run for run in argv_log(state) if run["camera"] is not None and "--output" in run["argv"]]
    return run["argv"]


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_it_lists_every_camera_with_its_model_and_modes(api, two_cameras):
    body = api.get("/api/cameras/").json()
    assert body["ok"] is True
    cameras = body["cameras"]
    assert [(c["index"], c["model"], c["detected"], c["backend"]) for c in cameras] == [
        (0, "imx708", True, "rpicam"),
        (1, "imx219", True, "rpicam"),
    ]
    assert cameras[0]["autofocus"] is True and cameras[1]["autofocus"] is False
    assert {"format": "SRGGB10_CSI2P", "width": 4608, "height": 2592, "fps": 14.35} in [
        {k: m[k] for k in ("format", "width", "height", "fps")} for m in cameras[0]["modes"]
    ]
    assert len(cameras[1]["modes"]) == 8  # two pixel formats of four sizes: no line of the listing is lost


def test_one_camera_and_its_status(api, two_cameras):
    camera = api.get("/api/cameras/1/").json()
    assert (camera["ok"], camera["index"], camera["model"]) == (True, 1, "imx219")
    status = api.get("/api/cameras/1/status").json()
    assert (status["cameraDetected"], status["busy"], status["lastCaptureAt"]) == (True, False, None)


def test_an_unknown_camera_is_a_404_that_lists_the_cameras(api, two_cameras):
    response = api.get("/api/cameras/5/")
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error": "No camera 5: the cameras are 0, 1"}


def test_a_capture_on_camera_1_runs_camera_1(post_json, two_cameras):
    response = post_json(CAPTURE, {**SMALL, "camera": 1})
    assert response.status_code == 200
    assert response.json()["camera"] == 1
    assert flag(capture_argv(two_cameras), "--camera") == "1"
    assert Capture.objects.get().camera_index == 1


def test_an_index_that_is_not_detected_is_a_400_naming_camera(post_json, two_cameras):
    response = post_json(CAPTURE, {**SMALL, "camera": 2})
    assert response.status_code == 400
    assert response.json()["fields"] == {"camera": ["camera 2 is not detected; the cameras are: 0, 1"]}
    assert not Capture.objects.exists()


def test_each_camera_has_its_own_lock(post_json, two_cameras):
    holder = hold_in_other_process(settings.CAMERA_LOCK_PATH)  # camera 0 is busy in another process
    try:
        assert post_json(CAPTURE, {**SMALL, "camera": 0}).status_code == 409
        started = time.monotonic()
        assert post_json(CAPTURE, {**SMALL, "camera": 1}).status_code == 200
        # No listing can run while camera 0 records, and camera 1's capture doesn't sit waiting for one.
        assert time.monotonic() - started < DETECTION_WAIT_SEC / 2
    finally:
        holder.kill()
        holder.wait()


def test_camera_1_busy_does_not_make_camera_0_busy(post_json, api, two_cameras):
    holder = hold_in_other_process(f"{settings.CAMERA_LOCK_PATH}.1")
    try:
        assert api.get("/api/cameras/1/status").json()["busy"] is True
        assert api.get("/api/camera/status").json()["busy"] is False
        assert post_json(CAPTURE, {**SMALL, "camera": 1}).status_code == 409
        assert post_json(CAPTURE, SMALL).status_code == 200
    finally:
        holder.kill()
        holder.wait()


def test_a_usb_camera_whose_model_has_spaces_is_detected(api, post_json, standins, monkeypatch):
    monkeypatch.setenv("STANDIN_CAMERAS", "HD Pro Webcam C920")
    status = api.get("/api/camera/status").json()
    assert status["cameraDetected"] is True
    assert [camera["model"] for camera in status["cameras"]] == ["HD Pro Webcam C920"]
    assert post_json(CAPTURE, SMALL).status_code == 200


def test_the_history_filters_by_camera(post_json, api, two_cameras):
    post_json(CAPTURE, {**SMALL, "camera": 0})
    post_json(CAPTURE, {**SMALL, "camera": 1})
    only_1 = api.get("/api/captures/?camera=1").json()["results"]
    assert [row["cameraIndex"] for row in only_1] == [1]
    assert api.get("/api/captures/?camera=x").status_code == 400


def test_the_simulated_backend_has_as_many_cameras_as_configured(api, post_json, settings):
    settings.CAMERA_BACKEND, settings.SIMULATED_CAMERAS = "simulated", 2
    cameras = api.get("/api/cameras/").json()["cameras"]
    assert [(c["index"], c["model"], c["detected"], c["simulated"]) for c in cameras] == [
        (0, "simulated", False, True),
        (1, "simulated", False, True),
    ]
    response = post_json(CAPTURE, {**SMALL, "camera": 1, "hflip": True, "rotation": 180, "quality": 80})
    assert response.status_code == 200
    row = Capture.objects.get()
    assert (row.camera_index, row.controls) == (1, {"hflip": True, "rotation": 180, "quality": 80})
    # rotation 180 with hflip is a vertical flip only; the frames say which camera made them
    argv = row.commands[0]["argv"]
    assert argv[argv.index("--camera") + 1] == "1"
    assert ("--vflip" in argv, "--hflip" in argv, flag(argv, "--quality")) == (True, False, "80")


# --- Controls: each one reaches the camera app as its own flag ---------------------------------------------

CONTROL_FLAGS = [
    ({"rotation": 180}, ["--rotation", "180"]),
    ({"hflip": True}, ["--hflip"]),
    ({"vflip": True}, ["--vflip"]),
    ({"shutterUs": 20000}, ["--shutter", "20000"]),
    ({"gain": 2.5}, ["--gain", "2.5"]),
    ({"ev": -1.5}, ["--ev", "-1.5"]),
    ({"metering": "spot"}, ["--metering", "spot"]),
    ({"exposure": "sport"}, ["--exposure", "sport"]),
    ({"awb": "daylight"}, ["--awb", "daylight"]),
    ({"awbGains": [1.5, 1.2]}, ["--awbgains", "1.5,1.2"]),
    ({"brightness": 0.1}, ["--brightness", "0.1"]),
    ({"contrast": 1.2}, ["--contrast", "1.2"]),
    ({"saturation": 0}, ["--saturation", "0"]),
    ({"sharpness": 2}, ["--sharpness", "2"]),
    ({"denoise": "cdn_hq"}, ["--denoise", "cdn_hq"]),
    ({"quality": 80}, ["--quality", "80"]),
    ({"autofocusMode": "manual"}, ["--autofocus-mode", "manual"]),
    ({"lensPosition": 2.0}, ["--lens-position", "2"]),
    ({"hdr": "sensor"}, ["--hdr", "sensor"]),
    ({"roi": [0.25, 0.25, 0.5, 0.5]}, ["--roi", "0.25,0.25,0.5,0.5"]),
]


@pytest.mark.parametrize(("control", "expected"), CONTROL_FLAGS, ids=[next(iter(c)) for c, _ in CONTROL_FLAGS])
def test_each_control_reaches_the_camera_app_and_the_row(post_json, standins, control, expected):
    response = post_json(CAPTURE, {**SMALL, **control})
    assert response.status_code == 200, response.json()
    argv = capture_argv(standins)
    start = argv.index(expected[0])
    assert argv[start : start + len(expected)] == expected
    assert Capture.objects.get().controls == control


def test_video_controls_reach_rpicam_vid(post_json, standins):
    response = post_json(CAPTURE, {"format": "h264", **SMALL, "vflip": True, "awb": "cloudy"})
    assert response.status_code == 200
    argv = capture_argv(standins)
    assert "--vflip" in argv and flag(argv, "--awb") == "cloudy"


BAD_CONTROLS = [
    ({"rotation": 90}, "rotation"),
    ({"hflip": 2}, "hflip"),
    ({"shutterUs": 0}, "shutterUs"),
    ({"shutterUs": 60_000_001}, "shutterUs"),
    ({"gain": 0.5}, "gain"),
    ({"ev": 11}, "ev"),
    ({"metering": "matrix"}, "metering"),
    ({"exposure": "short"}, "exposure"),
    ({"awb": "sunny"}, "awb"),
    ({"awbGains": [1.5]}, "awbGains"),
    ({"awbGains": [1.5, 99]}, "awbGains"),
    ({"brightness": 1.5}, "brightness"),
    ({"contrast": -1}, "contrast"),
    ({"saturation": "lots"}, "saturation"),
    ({"sharpness": 17}, "sharpness"),
    ({"denoise": "on"}, "denoise"),
    ({"quality": 0}, "quality"),
    ({"quality": 101}, "quality"),
    ({"autofocusMode": "fast"}, "autofocusMode"),
    ({"lensPosition": -1}, "lensPosition"),
    ({"hdr": "on"}, "hdr"),
    ({"roi": [0.5, 0.5, 0.6, 0.5]}, "roi"),
    ({"roi": [0, 0, 0, 1]}, "roi"),
]


@pytest.mark.parametrize(("control", "field"), BAD_CONTROLS)
def test_a_control_out_of_bounds_is_a_400_naming_it(post_json, control, field):
    response = post_json(CAPTURE, {**SMALL, **control})
    assert response.status_code == 400
    body = response.json()
    assert list(body["fields"]) == [field]
    assert body["error"].startswith(f"Invalid parameters: {field}")
    assert not Capture.objects.exists()


def test_quality_is_for_stills_only(post_json):
    response = post_json(CAPTURE, {"format": "mp4", **SMALL, "quality": 80})
    assert response.status_code == 400
    assert response.json()["fields"] == {"quality": ["applies to jpg stills only, not mp4"]}


@pytest.mark.parametrize("control", [{"autofocusMode": "auto"}, {"lensPosition": 1.0}, {"hdr": "sensor"}])
def test_a_control_the_camera_lacks_is_a_400_that_says_so(post_json, two_cameras, control):
    # Camera 1 is an imx219 (Camera Module 2): a fixed-focus lens, no sensor HDR.
    response = post_json(CAPTURE, {**SMALL, "camera": 1, **control})
    assert response.status_code == 400
    [(field, [message])] = response.json()["fields"].items()
    assert field == next(iter(control))
    assert message.startswith("camera 1 (imx219) has no ")
    assert not Capture.objects.exists()


def test_what_the_camera_reported_is_stored_and_answered(post_json, api, standins):
    response = post_json(CAPTURE, {**SMALL, "shutterUs": 20000, "gain": 2.0})
    metadata = response.json()["metadata"]
    assert (metadata["ExposureTime"], metadata["AnalogueGain"]) == (20000, 2.0)
    assert Capture.objects.get().metadata == metadata
    [row] = api.get("/api/captures/").json()["results"]
    assert row["metadata"] == metadata
    assert not list(settings.MEDIA_ROOT.glob("*.json"))  # the metadata file was a temporary one


def test_a_cameras_defaults_come_from_settings_and_a_request_overrides_them(post_json, standins, settings):
    settings.CAMERA_CONTROL_DEFAULTS = {0: {"ROTATION": "180", "AWB": "indoor"}}
    post_json(CAPTURE, {**SMALL, "awb": "daylight"})
    argv = capture_argv(standins)
    assert (flag(argv, "--rotation"), flag(argv, "--awb")) == ("180", "daylight")
    assert Capture.objects.get().controls == {"rotation": 180, "awb": "daylight"}


def test_a_bad_camera_default_fails_the_system_checks(settings):
    from capture.checks import check_camera_control_defaults

    settings.CAMERA_CONTROL_DEFAULTS = {1: {"ROTATION": "90"}, 2: {"ZOOM": "2"}}
    errors = [error.msg for error in check_camera_control_defaults(None)]
    assert errors[0].startswith("CAMERA_1_ROTATION='90': ")
    assert errors[1].startswith("CAMERA_2_ZOOM: no such camera control")


def test_a_value_the_camera_refuses_at_run_time_is_its_own_message(post_json, standins, monkeypatch):
    monkeypatch.setenv("STANDIN_FAIL", "Invalid denoise mode cdn_hq")
    response = post_json(CAPTURE, {**SMALL, "denoise": "cdn_hq"})
    assert response.status_code == 500
    assert "Invalid denoise mode cdn_hq" in response.json()["error"]
    assert "Traceback" not in response.content.decode()


# --- Promises that only timing covered before --------------------------------------------------------------


def test_status_and_the_camera_list_start_no_process(api, two_cameras, monkeypatch):
    get_camera().detection(wait=True)  # the listing is known (the server lists at start)

    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"a process was started: {args}")

    monkeypatch.setattr(subprocess, "Popen", no_subprocess)
    for path in ("/api/camera/status", "/api/cameras/", "/api/cameras/1/", "/api/cameras/1/status"):
        assert api.get(path).status_code == 200, path


def test_the_row_and_the_answer_say_the_files_real_size(post_json, standins):
    # The real apps rounded a 641x479 request to a 640x478 JPEG.
    response = post_json(CAPTURE, {"width": 641, "height": 479, "durationSec": 0.1})
    assert (response.json()["width"], response.json()["height"]) == (640, 478)
    row = Capture.objects.get()
    assert (row.width, row.height, row.file_width, row.file_height) == (641, 479, 640, 478)


def test_no_listing_runs_while_a_camera_captures(standins):
    shared = get_camera().shared_detection
    holder = hold_in_other_process(settings.CAMERA_LOCK_PATH)  # a capture in another process holds camera 0
    try:
        assert shared.refresh(shared.locks_for([0])) is None  # deferred, not run beside the capture
        assert not (standins / "runs.log").exists() or "list-start" not in (standins / "runs.log").read_text()
    finally:
        holder.kill()
        holder.wait()
    detection = shared.refresh(shared.locks_for([0]))
    assert [camera["model"] for camera in detection.cameras] == ["imx708"]
    assert shared.last() == detection  # written for every other process to read
