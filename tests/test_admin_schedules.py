"""Schedules and timelapses in the admin: the form (the API's rules), the list with the next run, Run now,
Enable/Disable, and "Make a timelapse" on a schedule and on selected captures."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image

from capture.models import Capture
from capture.schedules.body import apply_body, validated
from capture.schedules.models import Schedule, TimelapseJob
from tests.captures import make_row

ADD = "/admin/capture/schedule/add/"
LIST = "/admin/capture/schedule/"
FORM = {
    "name": "garden",
    "enabled": "on",
    "camera_index": "0",
    "format": "jpg",
    "width": "320",
    "height": "240",
    "fps": "30",
    "duration_sec": "0.1",
    "controls": "{}",
    "every_sec": "60",
    "cron": "",
    "sunrise_offset_min": "0",
    "sunset_offset_min": "0",
    "count": "",
}


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def make_schedule(**body) -> Schedule:
    return apply_body(Schedule(), validated({"format": "jpg", "width": 320, "height": 240, "durationSec": 0.1, **body}))


def test_the_add_form_makes_a_schedule_with_its_next_run(admin_client):
    response = admin_client.post(ADD, {**FORM, "controls": '{"rotation": 180}'})
    assert response.status_code == 302, response.content.decode()[:3000]
    schedule = Schedule.objects.get()
    assert (schedule.name, schedule.every_sec, schedule.controls) == ("garden", 60, {"rotation": 180})
    assert schedule.next_run_at is not None
    page = admin_client.get(LIST).content.decode()
    assert "every 60 s" in page and f"{timezone.localtime(schedule.next_run_at):%Y-%m-%d %H:%M}" in page


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"every_sec": "1", "duration_sec": "2"}, "must be longer than durationSec"),
        ({"cron": "nope"}, "give cron alone"),
        ({"every_sec": "", "cron": "99 * * * *"}, "not a cron expression"),
        ({"controls": '{"quality": 500}'}, "quality"),
        ({"controls": '{"colour": 1}'}, "camera controls by their API names"),
        ({"width": "999999"}, "width"),
    ],
)
def test_the_form_refuses_what_the_api_refuses(admin_client, change, message):
    response = admin_client.post(ADD, {**FORM, **change})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Schedule.objects.exists()


def test_run_now_enable_and_disable(admin_client):
    schedule = make_schedule(everySec=3600)
    response = admin_client.post(LIST, {"action": "run_now", "_selected_action": [schedule.pk]}, follow=True)
    frame = Capture.objects.get(schedule=schedule)
    assert any(frame.filename in m for m in messages_of(response))
    admin_client.post(LIST, {"action": "disable", "_selected_action": [schedule.pk]})
    schedule.refresh_from_db()
    assert (schedule.enabled, schedule.next_run_at) == (False, None)
    assert "— (disabled)" in admin_client.get(LIST).content.decode()
    admin_client.post(LIST, {"action": "enable", "_selected_action": [schedule.pk]})
    schedule.refresh_from_db()
    assert schedule.enabled and schedule.next_run_at is not None


def stills(count: int, schedule: Schedule | None = None) -> list[Capture]:
    rows = []
    for n in range(count):
        row = make_row(
            filename=f"s{n}.jpg", schedule=schedule, requested_at=timezone.now() + timedelta(seconds=n), width=64
        )
        Image.new("RGB", (64, 48)).save(row.path)
        rows.append(row)
    return rows


def test_make_a_timelapse_of_a_schedules_frames(admin_client):
    schedule = make_schedule(everySec=3600)
    stills(3, schedule)
    response = admin_client.post(
        LIST, {"action": "make_timelapse", "_selected_action": [schedule.pk], "fps": "10"}, follow=True
    )
    job = TimelapseJob.objects.get()
    assert (job.schedule, job.fps, job.frames) == (schedule, 10, 3)
    assert any("Queued a timelapse of 3 frames at 10 fps" in m for m in messages_of(response))
    page = admin_client.get(f"/admin/capture/timelapsejob/{job.pk}/change/").content.decode()
    assert "0/3 frames" in page


def test_make_a_timelapse_of_selected_captures_or_say_why_not(admin_client):
    rows = stills(2)
    url = "/admin/capture/capture/"
    response = admin_client.post(
        url, {"action": "make_timelapse", "_selected_action": [r.pk for r in rows], "fps": "5"}, follow=True
    )
    assert TimelapseJob.objects.get().frame_ids == [r.pk for r in rows]
    refused = admin_client.post(url, {"action": "make_timelapse", "_selected_action": [rows[0].pk]}, follow=True)
    assert any("at least 2" in m for m in messages_of(refused))
    assert response.status_code == refused.status_code == 200


def test_the_capture_list_filters_by_schedule(admin_client):
    schedule = make_schedule(everySec=3600)
    mine = stills(1, schedule)[0]
    other = make_row(filename="other.jpg")
    page = admin_client.get(f"/admin/capture/capture/?schedule__id__exact={schedule.pk}").content.decode()
    assert mine.filename in page and other.filename not in page
