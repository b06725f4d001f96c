"""`/api/schedules/`: make, read, change and delete schedules; their frames in the history; a timelapse
queued; validation that names each bad field; the scope each route needs."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from capture.models import ApiToken, Capture
from capture.schedules import timelapse
from capture.schedules.models import Schedule, TimelapseJob
from tests.captures import make_row

BODY = {"camera": 0, "everySec": 60, "count": 100, "format": "jpg", "width": 1920, "height": 1080, "durationSec": 1}


def send(api, method: str, path: str, body=None, **extra):
    if body is None:
        return getattr(api, method)(path, **extra)
    return getattr(api, method)(path, data=json.dumps(body), content_type="application/json", **extra)


def test_it_creates_a_schedule_with_its_id_and_next_run(api):
    before = timezone.now()
    answer = send(api, "post", "/api/schedules/", BODY)
    assert answer.status_code == 201, answer.content
    body = answer.json()
    schedule = Schedule.objects.get(pk=body["id"])
    assert body["ok"] is True
    assert (body["camera"], body["everySec"], body["count"], body["kind"]) == (0, 60, 100, "interval")
    assert (body["width"], body["height"], body["durationSec"], body["format"]) == (1920, 1080, 1.0, "jpg")
    assert body["nextRunAt"] is not None and before <= schedule.next_run_at <= timezone.now()
    assert body["enabled"] is True and body["framesTaken"] == 0


def test_it_keeps_the_controls_given_and_refuses_what_a_capture_would_refuse(api):
    answer = send(api, "post", "/api/schedules/", {**BODY, "rotation": 180, "awb": "daylight"})
    assert answer.status_code == 201, answer.content
    assert answer.json()["controls"] == {"rotation": 180, "awb": "daylight"}
    # quality is for stills only, odd sizes can't be H.264: the capture's own rules.
    for change, field in (({"width": 641}, "width"), ({"quality": 90}, "quality")):
        refused = send(api, "post", "/api/schedules/", {**BODY, "format": "mp4", **change})
        assert refused.status_code == 400
        assert set(refused.json()["fields"]) == {field}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"width": 99999}, "width"),
        ({"format": "gif"}, "format"),
        ({"everySec": 0}, "everySec"),
        ({"everySec": True}, "everySec"),
        ({"everySec": None}, "everySec"),
        ({"everySec": 1, "durationSec": 2}, "everySec"),
        ({"cron": "0 12 * * *"}, "cron"),  # with everySec too
        ({"everySec": None, "cron": "61 * * * *"}, "cron"),
        ({"daylight": True}, "daylight"),  # no LATITUDE/LONGITUDE
        ({"startAt": "2030-01-02T00:00:00Z", "endAt": "2030-01-01T00:00:00Z"}, "endAt"),
        ({"count": 0}, "count"),
        ({"filename": "frame.jpg"}, "filename"),
        ({"every": 60}, "every"),
        ({"sunriseOffsetMin": 100000}, "sunriseOffsetMin"),
    ],
)
def test_a_bad_field_is_a_400_naming_it(api, change, field):
    answer = send(api, "post", "/api/schedules/", {**BODY, **change})
    assert answer.status_code == 400, answer.content
    body = answer.json()
    assert body["ok"] is False and field in body["fields"] and field in body["error"]
    assert not Schedule.objects.exists()


@pytest.mark.parametrize("body", [[], "x", 3, None])
def test_a_body_that_is_not_an_object_is_a_400(api, body):
    answer = send(api, "post", "/api/schedules/", body if body is not None else "null")
    assert answer.status_code == 400


def test_cron_and_daylight_schedules(api, settings):
    cron = send(api, "post", "/api/schedules/", {**BODY, "everySec": None, "cron": "0 12 * * *"})
    assert cron.status_code == 201, cron.content
    assert cron.json()["kind"] == "cron" and cron.json()["nextRunAt"].endswith(":00Z")
    settings.LATITUDE, settings.LONGITUDE = 89.5, 0.0
    polar = send(api, "post", "/api/schedules/", {**BODY, "daylight": True, "everySec": 600, "sunsetOffsetMin": 30})
    assert polar.status_code == 201, polar.content
    assert polar.json()["kind"] == "daylight"  # no error at the pole; the next run is that of the next window


def test_patch_changes_what_it_names_and_keeps_the_rest(api):
    pk = send(api, "post", "/api/schedules/", BODY).json()["id"]
    answer = send(api, "patch", f"/api/schedules/{pk}/", {"everySec": 120, "name": "garden"})
    assert answer.status_code == 200, answer.content
    assert (answer.json()["everySec"], answer.json()["name"], answer.json()["width"]) == (120, "garden", 1920)
    disabled = send(api, "patch", f"/api/schedules/{pk}/", {"enabled": False})
    assert disabled.json()["enabled"] is False and disabled.json()["nextRunAt"] is None
    enabled = send(api, "patch", f"/api/schedules/{pk}/", {"enabled": True})
    assert enabled.json()["nextRunAt"] is not None
    bad = send(api, "patch", f"/api/schedules/{pk}/", {"cron": "0 12 * * *"})
    assert bad.status_code == 400 and "cron" in bad.json()["fields"]
    switched = send(api, "patch", f"/api/schedules/{pk}/", {"cron": "0 12 * * *", "everySec": None})
    assert switched.status_code == 200 and switched.json()["kind"] == "cron"
    assert send(api, "put", f"/api/schedules/{pk}/", BODY).status_code == 405


def test_list_read_and_delete_keeps_the_frames(api):
    pk = send(api, "post", "/api/schedules/", BODY).json()["id"]
    frame = make_row(filename="f.jpg", source=Capture.Source.SCHEDULE, schedule_id=pk)
    listed = send(api, "get", "/api/schedules/").json()
    assert listed["ok"] is True and [s["id"] for s in listed["results"]] == [pk]
    assert send(api, "get", f"/api/schedules/{pk}/").json()["id"] == pk
    assert send(api, "get", "/api/schedules/999/").status_code == 404
    assert send(api, "delete", f"/api/schedules/{pk}/").json() == {"ok": True, "id": pk}
    frame.refresh_from_db()
    assert frame.schedule_id is None


def test_the_history_filters_by_schedule_and_source(api):
    pk = send(api, "post", "/api/schedules/", BODY).json()["id"]
    mine = make_row(filename="a.jpg", source=Capture.Source.SCHEDULE, schedule_id=pk)
    make_row(filename="b.jpg", source=Capture.Source.SCHEDULE)
    make_row(filename="c.jpg", source=Capture.Source.API)
    answer = send(api, "get", f"/api/captures/?schedule={pk}&source=schedule").json()
    assert [row["id"] for row in answer["results"]] == [mine.pk]
    assert answer["results"][0]["scheduleId"] == pk
    assert len(send(api, "get", "/api/captures/?source=schedule").json()["results"]) == 2
    for query in ("schedule=x", "source=robot", "schedule=-1"):
        bad = send(api, "get", f"/api/captures/?{query}")
        assert bad.status_code == 400, query


def frames_on_disk(pk: int, count: int = 3) -> list[Capture]:
    rows = []
    for n in range(count):
        row = make_row(
            filename=f"frame{n}.jpg",
            source=Capture.Source.SCHEDULE,
            schedule_id=pk,
            size_bytes=1000,
            requested_at=timezone.now() + timedelta(seconds=n),
        )
        row.path.write_bytes(b"\xff\xd8" + b"x" * 998)
        rows.append(row)
    return rows


def test_timelapse_queues_a_job(api):
    pk = send(api, "post", "/api/schedules/", BODY).json()["id"]
    frames_on_disk(pk)
    answer = send(api, "post", f"/api/schedules/{pk}/timelapse", {"fps": 25, "width": 320})
    assert answer.status_code == 202, answer.content
    body = answer.json()
    job = TimelapseJob.objects.get(job_id=body["jobId"])
    assert body == {"ok": True, "jobId": str(job.job_id), "status": "queued", "frames": 3}
    assert (job.fps, job.width, job.height, job.schedule_id) == (25, 320, 240, pk)
    followed = send(api, "get", f"/api/timelapses/{job.job_id}").json()
    assert followed["status"] == "queued" and followed["progress"] == 0 and followed["frames"] == 3
    assert send(api, "get", "/api/timelapses/nope").status_code == 404


def test_timelapse_without_frames_is_a_400_and_without_room_a_507(api, monkeypatch):
    pk = send(api, "post", "/api/schedules/", BODY).json()["id"]
    none = send(api, "post", f"/api/schedules/{pk}/timelapse", {"fps": 25})
    assert none.status_code == 400 and "at least 2" in none.json()["error"]
    frames_on_disk(pk)
    monkeypatch.setattr(timelapse, "free_bytes", lambda: 1024)
    full = send(api, "post", f"/api/schedules/{pk}/timelapse", {"fps": 25})
    assert full.status_code == 507
    assert "Not enough free space" in full.json()["error"] and "MB are free" in full.json()["error"]
    assert not TimelapseJob.objects.exists()
    assert send(api, "post", f"/api/schedules/{pk}/timelapse", {"fps": 0}).status_code == 400


def test_run_now_takes_a_frame(api):
    pk = send(api, "post", "/api/schedules/", {**BODY, "width": 320, "height": 240, "durationSec": 0.1}).json()["id"]
    answer = send(api, "post", f"/api/schedules/{pk}/run")
    assert answer.status_code == 200, answer.content
    row = Capture.objects.get(filename=answer.json()["filename"])
    assert (row.schedule_id, row.source) == (pk, Capture.Source.SCHEDULE)


@pytest.fixture
def tokens(db):
    return {scope: ApiToken.objects.create_with_secret(f"only-{scope}", [scope])[1] for scope in ApiToken.Scope.values}


@pytest.mark.parametrize(
    ("method", "path", "body", "scope", "expected"),
    [
        ("post", "/api/schedules/", BODY, "capture", 201),
        ("get", "/api/schedules/", None, "read", 200),
        ("get", "/api/schedules/{pk}/", None, "read", 200),
        ("patch", "/api/schedules/{pk}/", {"everySec": 30}, "manage", 200),
        ("delete", "/api/schedules/{pk}/", None, "manage", 200),
        ("post", "/api/schedules/{pk}/timelapse", {"fps": 25}, "capture", 400),  # no frames yet
        ("get", "/api/timelapses/{job}", None, "read", 200),
    ],
)
def test_each_route_needs_its_scope(api, tokens, method, path, body, scope, expected):
    schedule = Schedule.objects.create(
        format="jpg", width=640, height=480, fps=30, duration_sec=1, every_sec=60, next_run_at=timezone.now()
    )
    job = TimelapseJob.objects.create(frame_ids=[1, 2], fps=25, width=640, height=480)
    path = path.format(pk=schedule.pk, job=job.job_id)
    assert send(api, method, path, body).status_code == 401
    for other in set(tokens) - {scope}:
        refused = send(api, method, path, body, HTTP_AUTHORIZATION=f"Bearer {tokens[other]}")
        assert refused.status_code == 403, (other, refused.content)
        assert scope in refused.json()["error"]
    answer = send(api, method, path, body, HTTP_AUTHORIZATION=f"Bearer {tokens[scope]}")
    assert answer.status_code == expected, answer.content


def test_the_routes_are_in_the_openapi_schema(api):
    schema = send(api, "get", "/api/schema/?format=json", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    text = schema.content.decode()
    for route in ("/api/schedules/", "/api/schedules/{id}/timelapse", "/api/timelapses/{job_id}"):
        assert route in text
    assert "everySec" in text and "nextRunAt" in text
