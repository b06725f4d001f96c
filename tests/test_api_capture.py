"""POST /api/camera/capture against the simulated camera: shapes, defaults, files, rows, errors."""

from __future__ import annotations

import re

import pytest
from django.conf import settings

from capture.camera.lock import CameraLock
from capture.models import Capture
from tests.conftest import probe
from tests.test_camera_lock import hold_in_other_process

URL = "/api/camera/capture"
DEFAULT_NAME = re.compile(r"^\d{8}_\d{6}_(\d+)x(\d+)_(\d+)fps_([\d.]+)s\.(jpg|h264|mp4)$")


def test_an_empty_body_takes_a_default_jpg(post_json, api):
    response = api.post(URL)  # no body at all, like `curl -X POST`
    assert response.status_code == 200
    body = response.json()
    # The seed's answer, plus the camera and what the file really is.
    assert set(body) == {"ok", "filename", "url", "camera", "width", "height", "sizeBytes", "metadata"}
    assert body["ok"] is True
    assert (body["camera"], body["sizeBytes"]) == (0, (settings.MEDIA_ROOT / body["filename"]).stat().st_size)
    assert DEFAULT_NAME.match(body["filename"]).groups() == ("1920", "1080", "30", "1", "jpg")
    assert body["url"] == f"/uploads/{body['filename']}"
    path = settings.MEDIA_ROOT / body["filename"]
    assert path.read_bytes()[:2] == b"\xff\xd8"  # a JPEG


def test_the_seed_jpg_example(post_json):
    response = post_json(URL, {"format": "jpg", "durationSec": 1, "width": 1280, "height": 720})
    assert response.status_code == 200
    filename = response.json()["filename"]
    assert DEFAULT_NAME.match(filename).groups() == ("1280", "720", "30", "1", "jpg")
    assert probe(settings.MEDIA_ROOT / filename)["width"] == 1280


def test_an_mp4_lasts_durationsec(post_json):
    response = post_json(URL, {"format": "mp4", "durationSec": 2, "fps": 15, "width": 320, "height": 240})
    assert response.status_code == 200
    facts = probe(settings.MEDIA_ROOT / response.json()["filename"])
    assert facts["codec"] == "h264"
    assert facts["duration"] == pytest.approx(2, rel=0.1)
    assert (facts["width"], facts["height"]) == (320, 240)


def test_an_h264_is_a_raw_stream(post_json):
    response = post_json(URL, {"format": "h264", "durationSec": 1, "fps": 10, "width": 320, "height": 240})
    assert response.status_code == 200
    path = settings.MEDIA_ROOT / response.json()["filename"]
    assert path.suffix == ".h264"
    assert path.read_bytes()[:4] == b"\x00\x00\x00\x01"  # Annex-B start code
    assert probe(path)["frames"] == 10


def test_each_capture_writes_a_row(post_json):
    response = post_json(URL, {"format": "jpg", "durationSec": 0.5, "width": 640, "height": 480})
    row = Capture.objects.get()
    assert row.filename == response.json()["filename"]
    assert row.status == "ok"
    assert row.source == "api"
    assert row.backend == "simulated"
    assert (row.format, row.width, row.height, row.fps, row.duration_sec) == ("jpg", 640, 480, 30, 0.5)
    assert row.size_bytes == (settings.MEDIA_ROOT / row.filename).stat().st_size
    assert row.commands[0]["exitCode"] == 0
    assert row.started_at >= row.requested_at
    assert row.finished_at >= row.started_at
    assert row.total_ms >= row.camera_ms > 0


def test_a_capture_asks_the_database_only_what_it_needs(post_json, api, django_assert_num_queries):
    # Whether auth is on (asked once, though three checks need it), any retention rule, a row left running by
    # a crash, the row's insert, whether a webhook is enabled, and the outcome (the changed columns, with no
    # transaction around it when there is no webhook or MQTT to record an event for).
    body = {"durationSec": 0.2, "width": 64, "height": 64}
    post_json(URL, body)  # the first request of a thread compiles its lookups
    with django_assert_num_queries(6) as queries:
        assert post_json(URL, body).status_code == 200
    statements = [query["sql"].split()[0] for query in queries.captured_queries]
    assert statements == ["SELECT", "SELECT", "SELECT", "INSERT", "SELECT", "UPDATE"]


def test_while_the_camera_runs_the_lock_record_names_its_capture_and_process_group(post_json, monkeypatch):
    from capture.camera import service

    seen = {}
    real_run = service.run_command

    def run_and_read_the_record(argv, **kwargs):
        def started(pid):
            kwargs["on_start"](pid)
            holder = CameraLock(settings.CAMERA_LOCK_PATH).peek()
            seen.update(captureId=holder.captureId, cameraPgid=holder.cameraPgid, pid=pid)

        return real_run(argv, **{**kwargs, "on_start": started})

    monkeypatch.setattr(service, "run_command", run_and_read_the_record)
    assert post_json(URL, {"durationSec": 0.2, "width": 64, "height": 64}).status_code == 200
    assert seen["captureId"] == Capture.objects.get().pk
    assert seen["cameraPgid"] == seen["pid"]


def test_a_given_name_is_sanitised_and_never_overwritten(post_json):
    first = post_json(URL, {"filename": "my garden", "durationSec": 0.2, "width": 64, "height": 64}).json()
    second = post_json(URL, {"filename": "my garden.jpg", "durationSec": 0.2, "width": 64, "height": 64}).json()
    assert first["filename"] == "my_garden.jpg"
    assert second["filename"] == "my_garden_1.jpg"
    assert sorted(p.name for p in settings.MEDIA_ROOT.iterdir()) == ["my_garden.jpg", "my_garden_1.jpg"]


def test_configured_defaults_apply(post_json, settings):
    settings.DEFAULT_WIDTH, settings.DEFAULT_HEIGHT, settings.DEFAULT_FPS = 320, 240, 12
    settings.DEFAULT_VIDEO_DURATION_SEC = 0.5
    filename = post_json(URL, {"format": "h264"}).json()["filename"]
    assert DEFAULT_NAME.match(filename).groups() == ("320", "240", "12", "0.5", "h264")


def test_the_limits_follow_the_settings(post_json, settings):
    # The body's fields are built once, for the limits in force: a changed limit applies at the next request.
    assert post_json(URL, {"width": 320, "height": 240, "durationSec": 0.2}).status_code == 200
    settings.CAPTURE_MAX_WIDTH = 256
    refused = post_json(URL, {"width": 320, "height": 240, "durationSec": 0.2})
    assert refused.status_code == 400 and list(refused.json()["fields"]) == ["width"]
    assert "less than or equal to 256" in refused.json()["error"]
    settings.CAPTURE_MAX_WIDTH = 4608
    assert post_json(URL, {"width": 320, "height": 240, "durationSec": 0.2}).status_code == 200


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"width": "wide"}, ["width"]),
        ({"width": 0}, ["width"]),
        ({"height": -5}, ["height"]),
        ({"fps": 1.5}, ["fps"]),
        ({"durationSec": 0}, ["durationSec"]),
        ({"durationSec": 601}, ["durationSec"]),
        ({"durationSec": "NaN"}, ["durationSec"]),
        ({"durationSec": True}, ["durationSec"]),
        ({"width": 10**30}, ["width"]),
        ({"width": [1920]}, ["width"]),
        ({"height": {"a": 1}}, ["height"]),
        ({"format": "gif"}, ["format"]),
        ({"format": "mp4", "width": 641}, ["width"]),
        ({"filename": "../../etc/passwd"}, ["filename"]),
        ({"filename": "clip.mp4", "format": "jpg"}, ["filename"]),
        ({"width": -1, "fps": "x", "durationSec": -2, "filename": "/abs"}, ["width", "fps", "durationSec", "filename"]),
    ],
)
def test_bad_parameters_are_a_400_naming_every_bad_field(post_json, body, fields):
    response = post_json(URL, body)
    assert response.status_code == 400
    payload = response.json()
    assert payload["ok"] is False
    assert sorted(payload["fields"]) == sorted(fields)
    for field in fields:
        assert f"{field}: " in payload["error"]
    assert not Capture.objects.exists()
    assert list(settings.MEDIA_ROOT.iterdir()) == []


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "message"),
    [
        ("{not json", "application/json", 400, "Malformed JSON"),
        ("[1, 2]", "application/json", 400, "Expected a dictionary"),
        ('{"format": "jpg"}', "text/plain", 415, "Unsupported media type"),
        ("format=jpg", "application/x-www-form-urlencoded", 415, "Unsupported media type"),
        ('{"filename": "' + "a" * 70000 + '"}', "application/json", 413, "too large"),
    ],
)
def test_bad_bodies_get_a_clear_json_error(api, raw, content_type, status, message):
    response = api.generic("POST", URL, raw, content_type=content_type)
    assert response.status_code == status
    assert response.json()["ok"] is False
    assert message in response.json()["error"]
    assert not Capture.objects.exists()


def test_a_busy_camera_is_a_409_without_a_row(post_json):
    with CameraLock(settings.CAMERA_LOCK_PATH).acquire(ttl_sec=30):
        response = post_json(URL, {})
    assert response.status_code == 409
    assert response.json() == {"ok": False, "error": "Camera busy: another capture is in progress"}
    assert not Capture.objects.exists()


def test_get_is_not_allowed(api, db):
    response = api.get(URL)
    assert response.status_code == 405
    assert response.json()["ok"] is False


def test_unknown_api_paths_are_json_404s(api, db):
    response = api.get("/api/camera/nothing")
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error": "Not found: /api/camera/nothing"}


def test_the_trailing_slash_is_optional(post_json):
    assert post_json("/api/camera/capture/", {"durationSec": 0.2, "width": 64, "height": 64}).status_code == 200


def test_a_busy_camera_answers_409_before_the_body_is_validated(post_json):
    # Clients poll a busy camera; that answer must not pay for the full validation.
    holder = hold_in_other_process(settings.CAMERA_LOCK_PATH)
    try:
        response = post_json(URL, {"width": "wide"})
        assert response.status_code == 409
        assert not Capture.objects.exists()
    finally:
        holder.kill()
        holder.wait()
    assert post_json(URL, {"width": "wide"}).status_code == 400  # a free camera: the body's error
