"""DELETE /api/captures/<id>/: the row, its analysis jobs, its file and its thumbnails go; JSON answers."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from capture.models import AnalysisJob, Capture
from capture.thumbnails import ensure_thumbnail
from tests.captures import make_row, take

pytestmark = pytest.mark.django_db


def test_it_removes_the_row_the_file_and_the_thumbnails(api):
    capture = take("jpg")
    thumbnails = [ensure_thumbnail(capture), ensure_thumbnail(capture, "large")]
    assert all(path.exists() for path in thumbnails)
    AnalysisJob.objects.create(filename=capture.filename, capture=capture)

    response = api.delete(f"/api/captures/{capture.pk}/")

    assert response.status_code == 200
    assert response.json() == {"ok": True, "id": capture.pk, "files": 1, "thumbnails": 2}
    assert not Capture.objects.exists() and not AnalysisJob.objects.exists()
    assert not capture.path.exists()
    assert not any(path.exists() for path in thumbnails)


def test_the_path_works_without_a_trailing_slash(api):
    capture = take("jpg")
    response = api.delete(f"/api/captures/{capture.pk}")
    assert response.json() == {"ok": True, "id": capture.pk, "files": 1, "thumbnails": 0}


def test_a_capture_whose_file_is_already_gone_still_loses_its_row(api):
    capture = take("jpg")
    capture.path.unlink()
    response = api.delete(f"/api/captures/{capture.pk}/")
    assert response.json() == {"ok": True, "id": capture.pk, "files": 0, "thumbnails": 0}
    assert not Capture.objects.exists()


def test_an_unknown_id_is_a_404(api):
    response = api.delete("/api/captures/999/")
    assert response.status_code == 404
    body = response.json()
    assert body["ok"] is False and body["error"]


def test_a_running_capture_is_a_409_and_is_kept(api):
    running = make_row(status="running", filename="")
    response = api.delete(f"/api/captures/{running.pk}/")
    assert response.status_code == 409
    assert response.json() == {"ok": False, "error": f"Capture {running.pk} is still running"}
    assert Capture.objects.filter(pk=running.pk).exists()


def test_it_needs_the_bearer_token_when_auth_token_is_set(client, settings):
    settings.AUTH_TOKEN = "s3cret-Token"
    capture = take("jpg")
    refused = client.delete(f"/api/captures/{capture.pk}/", HTTP_AUTHORIZATION="Bearer wrong")
    assert refused.status_code == 401
    assert refused.json() == {"ok": False, "error": "Unauthorized: send Authorization: Bearer <token>"}
    assert Capture.objects.exists() and capture.path.exists()
    allowed = client.delete(f"/api/captures/{capture.pk}/", HTTP_AUTHORIZATION="Bearer s3cret-Token")
    assert allowed.status_code == 200
    assert not Capture.objects.exists()


def test_the_route_is_in_the_openapi_schema():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    delete = schema["paths"]["/api/captures/{id}/"]["delete"]
    assert {"200", "401", "404", "409"} <= set(delete["responses"])
    ok = delete["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(schema["components"]["schemas"][ok]["properties"]) == {"ok", "id", "files", "thumbnails"}
