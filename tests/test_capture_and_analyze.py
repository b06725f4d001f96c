"""POST /api/camera/capture-and-analyze forwards to ANALYZE_URL, tested against a real local HTTP server."""

from __future__ import annotations

import pytest
from django.conf import settings

from capture.camera.lock import CameraLock
from capture.models import Capture

URL = "/api/camera/capture-and-analyze"
BODY = {"format": "jpg", "durationSec": 0.2, "width": 64, "height": 64}


def test_it_captures_then_forwards_and_answers_queued(post_json, analyzer):
    response = post_json(URL, BODY)
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "ok": True,
        "jobId": "job-42",
        "filename": body["filename"],
        "status": "queued",
        "url": f"/uploads/{body['filename']}",
        "camera": 0,
        "width": 64,
        "height": 64,
        "sizeBytes": (settings.MEDIA_ROOT / body["filename"]).stat().st_size,
        "metadata": None,
    }
    row = Capture.objects.get()
    assert row.source == "api-analyze"
    assert row.analyze_job_id == "job-42"
    [forwarded] = analyzer.requests
    assert forwarded["path"] == "/api/analyze"
    assert forwarded["body"] == {
        "filename": row.filename,
        "path": f"/uploads/{row.filename}",
        "captureId": row.pk,
        "url": f"http://testserver/uploads/{row.filename}",
    }
    assert forwarded["camera_busy"] is False  # the camera was released before the HTTP call
    assert forwarded["authorization"] is None


def test_it_forwards_the_bearer_token(post_json, analyzer, settings):
    settings.AUTH_TOKEN = "tok"
    response = post_json(URL, BODY, HTTP_AUTHORIZATION="Bearer tok")
    assert response.status_code == 200
    assert analyzer.requests[0]["authorization"] == "Bearer tok"


@pytest.mark.parametrize(
    ("status", "answer", "delay", "message"),
    [
        (500, b'{"ok": false}', 0, "answered HTTP 500"),
        (200, b"<html>", 0, "not JSON"),
        (200, b'{"ok": true}', 0, "no jobId"),
        (200, b'{"ok": true, "jobId": "late"}', 1.5, "no answer"),
    ],
)
def test_an_analyzer_failure_is_a_500_but_keeps_the_capture(
    post_json, analyzer, settings, status, answer, delay, message
):
    settings.ANALYZE_TIMEOUT_SEC = 0.5
    analyzer.status, analyzer.answer, analyzer.delay = status, answer, delay
    response = post_json(URL, BODY)
    assert response.status_code == 500
    body = response.json()
    assert body["ok"] is False
    assert body["error"].startswith("Analyze request failed: ")
    assert message in body["error"]
    row = Capture.objects.get()
    assert row.status == "ok"
    assert body["filename"] == row.filename
    assert (settings.MEDIA_ROOT / row.filename).is_file()
    assert row.analyze_error == body["error"]


def test_an_unreachable_analyzer_is_a_500(post_json, settings, api):
    settings.ANALYZE_URL = "http://127.0.0.1:9/api/analyze"  # discard port: nothing listens
    response = post_json(URL, BODY)
    assert response.status_code == 500
    assert "could not reach http://127.0.0.1:9/api/analyze" in response.json()["error"]
    assert api.get("/api/camera/status").json()["lastError"] == response.json()["error"]


def test_a_failed_capture_is_not_forwarded(post_json, analyzer):
    with CameraLock(settings.CAMERA_LOCK_PATH).acquire(ttl_sec=30):
        assert post_json(URL, BODY).status_code == 409
    assert analyzer.requests == []
