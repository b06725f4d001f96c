"""The free-space floor before a capture: retention makes room first, and a capture that still would not fit is
a 507 that never started the camera (the stand-in apps' runs.log shows no run)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command
from drf_spectacular.generators import SchemaGenerator

from capture import storage
from capture.camera.request import CaptureRequest
from capture.camera.service import CaptureService
from capture.models import Capture, Deletion, RetentionRule
from capture.retention.space import estimate_bytes
from tests.captures import take
from tests.disk import file_row

pytestmark = pytest.mark.django_db

BODY = {"format": "jpg", "width": 640, "height": 480, "durationSec": 0.2}
NEED = estimate_bytes(CaptureRequest(format="jpg", width=640, height=480, fps=30, duration_sec=0.2))
MB = 1 << 20


def camera_runs(standins) -> list[str]:
    runs = standins / "runs.log"
    return runs.read_text().splitlines() if runs.exists() else []


def captures_started(standins) -> list[dict]:
    log = standins / "argv.log"
    entries = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return [entry for entry in entries if entry["camera"] is not None]


@pytest.fixture
def free(monkeypatch):
    """The upload filesystem's free space, as the test sets it."""
    space = {"bytes": 10 * MB}
    monkeypatch.setattr(storage, "free_bytes", lambda: space["bytes"])
    return space


def test_a_capture_below_the_floor_is_a_507_before_the_camera_runs(post_json, standins, settings, free):
    settings.RETENTION_MIN_FREE_BYTES = 10 * MB
    free["bytes"] = 10 * MB + NEED - 1

    response = post_json("/api/camera/capture", BODY)

    assert response.status_code == 507
    body = response.json()
    assert body["ok"] is False
    assert "Insufficient storage" in body["error"]
    assert f"floor of 10.0 MB ({10 * MB} bytes) (RETENTION_MIN_FREE_BYTES)" in body["error"]
    assert f"({10 * MB + NEED - 1} bytes) free in {settings.MEDIA_ROOT}" in body["error"]
    assert camera_runs(standins) == [] and captures_started(standins) == []
    assert not Capture.objects.exists()


def test_with_room_above_the_floor_the_same_capture_runs(post_json, standins, settings, free):
    settings.RETENTION_MIN_FREE_BYTES = 10 * MB
    free["bytes"] = 10 * MB + NEED
    response = post_json("/api/camera/capture", BODY)
    assert response.status_code == 200, response.json()
    assert [line.split()[:2] for line in camera_runs(standins)] == [["start", "rpicam-still"], ["end", "rpicam-still"]]


def test_retention_deletes_the_oldest_unpinned_first_then_lets_the_capture_run(post_json, settings, monkeypatch):
    settings.RETENTION_MIN_FREE_BYTES = 10 * MB
    file_row("pinned.jpg", 1000, days_old=9, pinned=True)
    file_row("oldest.jpg", 2 * MB, days_old=5)
    file_row("newer.jpg", 2 * MB, days_old=1)
    on_disk = {"bytes": 10 * MB + NEED - MB}
    monkeypatch.setattr(
        storage, "free_bytes", lambda: on_disk["bytes"] + 2 * MB * (not (settings.MEDIA_ROOT / "oldest.jpg").exists())
    )

    response = post_json("/api/camera/capture", BODY)

    assert response.status_code == 200, response.json()
    assert sorted(Capture.objects.values_list("filename", flat=True)) == sorted(
        ["pinned.jpg", "newer.jpg", response.json()["filename"]]
    )
    deletion = Deletion.objects.get()
    assert (deletion.filename, deletion.reason, deletion.size_bytes) == ("oldest.jpg", "min-free", 2 * MB)
    assert deletion.purged_at is not None  # for the floor: the trash would free nothing


def test_pinned_captures_are_kept_and_the_capture_refused(post_json, standins, settings, free):
    settings.RETENTION_MIN_FREE_BYTES = 10 * MB
    free["bytes"] = 5 * MB
    file_row("pinned.jpg", 3 * MB, days_old=30, pinned=True)
    response = post_json("/api/camera/capture", BODY)
    assert response.status_code == 507
    assert "pinned ones are kept" in response.json()["error"]
    assert list(Capture.objects.values_list("filename", flat=True)) == ["pinned.jpg"]
    assert camera_runs(standins) == []


def test_a_floor_that_deleting_everything_would_not_reach_deletes_nothing(post_json, standins, settings, free):
    # A floor set far above the disk (a typo, or a disk filled by something else) must not empty the card in vain.
    settings.RETENTION_MIN_FREE_BYTES = 100 * MB
    free["bytes"] = 10 * MB
    file_row("old.jpg", 2 * MB, days_old=5)
    file_row("newer.jpg", 2 * MB, days_old=1)
    response = post_json("/api/camera/capture", BODY)
    assert response.status_code == 507
    assert sorted(Capture.objects.values_list("filename", flat=True)) == ["newer.jpg", "old.jpg"]
    assert not Deletion.objects.exists()
    assert (settings.MEDIA_ROOT / "old.jpg").exists() and camera_runs(standins) == []


def test_a_rules_floor_names_the_rule(post_json, settings, free):
    rule = RetentionRule.objects.create(name="keep room for API shots", source="api", min_free_bytes=20 * MB)
    response = post_json("/api/camera/capture", BODY)
    assert response.status_code == 507
    assert f"(rule #{rule.pk} “keep room for API shots”)" in response.json()["error"]


def test_the_admin_and_cli_sources_are_not_covered_by_an_api_only_floor(settings, free):
    RetentionRule.objects.create(name="api", source="api", min_free_bytes=20 * MB)
    row = CaptureService().capture(
        CaptureRequest(format="jpg", width=64, height=64, fps=10, duration_sec=0.2), Capture.Source.CLI
    )
    assert row.status == "ok"


@pytest.mark.parametrize(
    ("fmt", "width", "height", "duration"), [("jpg", 640, 480, 1), ("h264", 320, 240, 2), ("mp4", 320, 240, 2)]
)
def test_the_estimate_is_more_than_the_capture_takes(fmt, width, height, duration):
    capture = take(fmt, width=width, height=height, duration=duration)
    request = CaptureRequest(format=fmt, width=width, height=height, fps=10, duration_sec=duration)
    assert estimate_bytes(request) > capture.size_bytes


def test_the_507_is_in_the_openapi_schema():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path in ("/api/camera/capture/", "/api/camera/capture-and-analyze/"):
        responses = schema["paths"][path]["post"]["responses"]
        assert "507" in responses, path
        assert "floor" in responses["507"]["description"]


def test_the_command_line_gets_the_same_refusal(settings, free):
    settings.RETENTION_MIN_FREE_BYTES = 20 * MB
    with pytest.raises(CommandError, match="Insufficient storage: 10.0 MB") as raised:
        call_command("capture", "--format", "jpg", "--width", "64", "--height", "64", stdout=io.StringIO())
    assert raised.value.returncode == 1
    assert not Capture.objects.exists()
