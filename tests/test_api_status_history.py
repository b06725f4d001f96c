"""GET /api/camera/status and the capture history."""

from __future__ import annotations

import pytest
from django.conf import settings

from capture.camera.lock import CameraLock
from capture.models import Capture

STATUS = "/api/camera/status"


def capture(post_json, **body):
    return post_json("/api/camera/capture", {"durationSec": 0.2, "width": 64, "height": 64, **body})


def test_status_has_the_seed_fields_and_says_simulated(api, db):
    body = api.get(STATUS).json()
    assert {"ok", "cameraDetected", "busy", "lastCaptureAt", "lastError"} <= set(body)
    assert body["ok"] is True
    assert body["busy"] is False
    assert body["lastCaptureAt"] is None
    assert body["lastError"] is None
    # Never passes for a real camera.
    assert body["backend"] == "simulated"
    assert body["simulated"] is True
    assert body["cameraDetected"] is False
    assert body["cameras"][0]["model"] == "simulated"


def test_status_reports_busy_while_the_camera_is_held(api, db):
    with CameraLock(settings.CAMERA_LOCK_PATH).acquire(ttl_sec=30):
        body = api.get(STATUS).json()
    assert body["busy"] is True
    assert body["busySince"] is not None
    assert api.get(STATUS).json()["busy"] is False


def test_status_reports_the_last_capture_and_error_from_the_database(api, post_json):
    capture(post_json)
    last_ok = Capture.objects.get()
    body = api.get(STATUS).json()
    assert body["lastCaptureAt"] == last_ok.finished_at.isoformat().replace("+00:00", "Z")
    # A failure recorded by any process shows up as lastError.
    Capture.objects.create(
        format="jpg",
        width=1,
        height=1,
        fps=1,
        duration_sec=1,
        requested_at=last_ok.requested_at,
        status="failed",
        error="rpicam-still failed: ERROR: *** no cameras available ***",
    )
    body = api.get(STATUS).json()
    assert body["lastError"] == "rpicam-still failed: ERROR: *** no cameras available ***"
    assert body["lastCaptureAt"] is not None


def test_history_lists_newest_first_with_pagination(api, post_json):
    names = [capture(post_json, filename=f"shot{i}").json()["filename"] for i in range(3)]
    body = api.get("/api/captures/?pageSize=2").json()
    assert body["ok"] is True
    assert body["count"] == 3
    assert [row["filename"] for row in body["results"]] == ["shot2.jpg", "shot1.jpg"]
    assert body["next"] is not None
    assert [row["filename"] for row in api.get(body["next"]).json()["results"]] == ["shot0.jpg"]
    assert sorted(names) == ["shot0.jpg", "shot1.jpg", "shot2.jpg"]


def test_history_filters_by_format_and_status(api, post_json):
    capture(post_json, format="jpg")
    capture(post_json, format="h264")
    assert [r["format"] for r in api.get("/api/captures/?format=h264").json()["results"]] == ["h264"]
    assert api.get("/api/captures/?status=failed").json()["count"] == 0
    bad = api.get("/api/captures/?format=gif")
    assert bad.status_code == 400
    assert "format: must be one of" in bad.json()["error"]


def test_history_detail_has_every_stored_fact(api, post_json):
    filename = capture(post_json).json()["filename"]
    row = Capture.objects.get()
    body = api.get(f"/api/captures/{row.pk}/").json()
    assert body["ok"] is True
    assert body["filename"] == filename
    assert body["url"] == f"/uploads/{filename}"
    assert body["status"] == "ok"
    assert body["source"] == "api"
    assert body["commands"][0]["argv"][1].endswith("simcam.py")
    assert {"requestedAt", "startedAt", "finishedAt", "cameraMs", "remuxMs", "totalMs", "sizeBytes"} <= set(body)
    assert api.get("/api/captures/999/").status_code == 404


@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/"])
def test_the_openapi_schema_and_docs_are_served(api, db, path):
    assert api.get(path).status_code == 200
