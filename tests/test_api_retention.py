"""The API's side of retention: PATCH pinned, the deletion audit at GET /api/deletions/, and DELETE recording
the token's label."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from capture.models import ApiToken, Capture, Deletion
from capture.retention.apply import sweep
from tests.captures import make_row
from tests.disk import file_row

pytestmark = pytest.mark.django_db


def patch(api, capture_id: int, body, **extra):
    return api.patch(f"/api/captures/{capture_id}/", data=json.dumps(body), content_type="application/json", **extra)


def test_patch_pins_and_unpins_a_capture(api):
    capture = file_row("a.jpg")
    response = patch(api, capture.pk, {"pinned": True})
    assert response.status_code == 200
    assert response.json()["ok"] is True and response.json()["pinned"] is True
    assert Capture.objects.get(pk=capture.pk).pinned is True
    assert api.get("/api/captures/").json()["results"][0]["pinned"] is True
    assert patch(api, capture.pk, {"pinned": False}).json()["pinned"] is False


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "pinned: This field is required."),
        ({"pinned": "maybe"}, "pinned: Must be a valid boolean."),
        ({"pinned": True, "filename": "x.jpg"}, "only pinned can be changed, not filename"),
        ([True], "Invalid data. Expected a dictionary"),
    ],
)
def test_a_bad_patch_is_a_400_naming_the_problem(api, body, error):
    capture = file_row("a.jpg")
    response = patch(api, capture.pk, body)
    assert response.status_code == 400
    assert response.json()["ok"] is False and error in response.json()["error"]
    assert Capture.objects.get(pk=capture.pk).pinned is False


def test_a_running_capture_cannot_be_pinned_yet(api):
    running = make_row(status="running", filename="")
    response = patch(api, running.pk, {"pinned": True})
    assert response.status_code == 409
    assert response.json() == {"ok": False, "error": f"Capture {running.pk} is still running"}


def test_patch_of_an_unknown_capture_is_a_404(api):
    assert patch(api, 999, {"pinned": True}).status_code == 404


def test_delete_records_the_tokens_label_never_its_secret(api):
    capture = file_row("a.jpg", 321)
    _, secret = ApiToken.objects.create_with_secret("phone", ["manage"])
    assert api.delete(f"/api/captures/{capture.pk}/", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    deletion = Deletion.objects.get()
    assert (deletion.by, deletion.reason, deletion.capture_id, deletion.size_bytes) == (
        "token phone",
        "manual",
        capture.pk,
        321,
    )
    assert secret not in json.dumps(list(Deletion.objects.values()), default=str)


def test_deletions_are_listed_newest_first_with_pages(api):
    for n in range(3):
        file_row(f"{n}.jpg", 100 + n, camera_index=0, source="cli").delete_with_files(by=f"user {n}")
    body = api.get("/api/deletions/?pageSize=2").json()
    assert body["ok"] is True and body["count"] == 3 and body["next"]
    first = body["results"][0]
    assert first["filename"] == "2.jpg" and first["by"] == "user 2" and first["reason"] == "manual"
    assert (first["sizeBytes"], first["source"], first["cameraIndex"], first["inTrash"]) == (102, "cli", 0, True)
    assert set(first) == {
        "id", "host", "captureId", "filename", "cameraIndex", "source", "format", "capturedAt", "deletedAt",
        "reason", "rule", "by", "sizeBytes", "files", "thumbnails", "inTrash", "purgedAt", "restoredAt", "restoredBy",
    }  # fmt: skip
    one = api.get(f"/api/deletions/{first['id']}/").json()
    assert one["ok"] is True and one["filename"] == "2.jpg"


def test_deletions_filter_by_reason(api, settings):
    settings.RETENTION_MAX_AGE_DAYS = 1
    file_row("old.jpg", days_old=3)
    file_row("mine.jpg").delete_with_files(by="me")
    sweep(timezone.now())
    names = [row["filename"] for row in api.get("/api/deletions/?reason=max-age").json()["results"]]
    assert names == ["old.jpg"]
    bad = api.get("/api/deletions/?reason=whim")
    assert bad.status_code == 400 and "reason: must be one of max-age" in bad.json()["error"]
