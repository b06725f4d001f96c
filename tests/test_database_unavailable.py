"""A database that is away (PostgreSQL down, a network cut, SQLite locked past its timeout) is a 503 JSON the
client may retry, never a 500, and the camera is left free. tests/test_fleet.py cuts a real PostgreSQL."""

from __future__ import annotations

from unittest import mock

from django.db import OperationalError

from capture.models import Capture

LOST = OperationalError('connection to server at "db.lan" (10.0.0.9), port 5432 failed: Connection refused')


def test_a_capture_without_its_database_is_a_503_and_the_camera_stays_free(post_json, caplog):
    # The capture's first write, its `running` row.
    with mock.patch("capture.camera.service.insert_row", side_effect=LOST):
        response = post_json("/api/camera/capture", {"durationSec": 0.2, "width": 64, "height": 64})

    assert response.status_code == 503
    assert response.json() == {"ok": False, "error": "Database unavailable: try again shortly"}
    assert response["Retry-After"] == "5"
    assert "db.lan" not in response.content.decode()  # where the database is stays in the log
    assert "Connection refused" in caplog.text
    # The lock was released: with the database back, the next capture runs at once.
    again = post_json("/api/camera/capture", {"durationSec": 0.2, "width": 64, "height": 64})
    assert again.status_code == 200, again.content


def test_reads_without_the_database_are_503_too(api, db):
    with mock.patch.object(Capture.objects, "get_queryset", side_effect=LOST):
        response = api.get("/api/captures/")
    assert response.status_code == 503
    assert response.json()["error"] == "Database unavailable: try again shortly"


def test_the_admin_without_its_database_is_a_503_not_a_500(admin_client):
    with mock.patch.object(Capture.objects, "get_queryset", side_effect=LOST):
        response = admin_client.get("/admin/capture/capture/")
    assert response.status_code == 503
    assert response.json() == {"ok": False, "error": "Database unavailable: try again shortly"}
