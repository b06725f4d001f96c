"""Warm stills (CAMERA_WARM_STILLS): the owner keeps `rpicam-still -s` ready; a default jpg capture is one trigger,
anything else runs cold and the owner warms up again. Real gunicorn and owner on the stand-in camera apps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT
from tests.previews import LivePreview, Viewer

pytestmark = pytest.mark.slow


@pytest.fixture
def live(tmp_path):
    preview = LivePreview(
        tmp_path, CAMERA_WARM_STILLS="true", DEFAULT_WIDTH="640", DEFAULT_HEIGHT="480", PREVIEW_IDLE_SEC="1"
    ).start()
    yield preview
    preview.stop()


def wait_for_warm(live: LivePreview, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while live.owner.status()["warm"] != "ready":
        assert time.monotonic() < deadline, live.owner.log()
        time.sleep(0.05)


def test_a_default_jpg_capture_is_one_trigger_of_the_warm_process(live):
    wait_for_warm(live)
    starts = live.runs("start rpicam-still")
    answer = live.server.post("/api/camera/capture", {"format": "jpg"})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["width"], answer.json()["height"]) == (640, 480)
    assert live.runs("start rpicam-still") == starts  # no new camera process
    [row] = live.server.get("/api/captures/").json()["results"]
    assert row["warm"] is True and row["status"] == "ok"
    assert live.server.get(row["url"]).content.startswith(b"\xff\xd8")
    assert live.server.get("/api/camera/status").json()["busy"] is False


def test_another_size_runs_cold_and_the_owner_warms_up_again(live):
    wait_for_warm(live)
    answer = live.server.post("/api/camera/capture", {"width": 320, "height": 240})
    assert answer.status_code == 200, answer.text
    [row] = live.server.get("/api/captures/").json()["results"]
    assert row["warm"] is False
    ends = live.runs("end rpicam-still")
    assert "stop=SIGUSR2" in ends[0]  # the warm process stepped aside cleanly
    wait_for_warm(live)
    assert len(live.runs("start rpicam-still")) == 3  # warm, cold, warm again


def test_the_preview_takes_the_camera_from_the_warm_process_and_gives_it_back(live):
    wait_for_warm(live)
    viewer = Viewer(live.server.port)
    viewer.start()
    try:
        assert viewer.wait_for_frames(3)
        assert live.owner.status()["warm"] is None
    finally:
        viewer.close()
    wait_for_warm(live)


def test_camera_n_warm_stills_turns_them_on_for_that_camera_only():
    code = (
        "import django, json; django.setup(); from django.conf import settings;"
        "from capture.camera.preview import warm_stills_enabled;"
        "print(json.dumps([warm_stills_enabled(0), warm_stills_enabled(1), settings.CAMERA_CONTROL_DEFAULTS[1]]))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "camsite.settings", "DJANGO_SECRET_KEY": "k"}
    env.update(CAMERA_WARM_STILLS="false", CAMERA_1_WARM_STILLS="true", CAMERA_1_ROTATION="180")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    # Camera 1 warms, camera 0 doesn't, and the setting is not taken for a capture control of camera 1.
    assert json.loads(out.stdout) == [False, True, {"ROTATION": "180"}], out.stderr


def test_a_bad_camera_n_warm_stills_stops_startup_naming_it():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "camsite.settings",
        "DJANGO_SECRET_KEY": "k",
        "CAMERA_2_WARM_STILLS": "maybe",
    }
    out = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0 and "CAMERA_2_WARM_STILLS" in out.stderr
