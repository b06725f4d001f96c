"""The schedules' settings: a place is a latitude and a longitude, both in range, or none; a daylight schedule
whose place was removed from the settings runs no more, without breaking the others."""

from __future__ import annotations

import pytest
from django.utils import timezone

from capture.schedules import runner
from capture.schedules.models import Schedule
from tests.test_env import _start_django


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LATITUDE": "91", "LONGITUDE": "0"}, "LATITUDE must be at most 90"),
        ({"LATITUDE": "52.5", "LONGITUDE": "east"}, "LONGITUDE must be a number, got 'east'"),
        ({"LATITUDE": "52.5"}, "LATITUDE and LONGITUDE go together"),
    ],
)
def test_a_bad_place_stops_startup_naming_the_variable(env, message):
    result = _start_django(DJANGO_SECRET_KEY="k", **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_a_place_starts():
    result = _start_django(DJANGO_SECRET_KEY="k", LATITUDE="-33.9", LONGITUDE="18.4")
    assert result.returncode == 0, result.stderr


class ListQueue:
    def __init__(self) -> None:
        self.slots = []

    def put(self, schedule_pk, slot, *, eta, retry=False) -> None:
        self.slots.append(schedule_pk)


def test_a_daylight_schedule_without_a_place_has_no_next_run_and_the_others_go_on(db, settings):
    settings.LATITUDE = settings.LONGITUDE = None
    common = {"format": "jpg", "width": 320, "height": 240, "fps": 30, "duration_sec": 1, "every_sec": 60}
    daylight = Schedule.objects.create(daylight=True, next_run_at=timezone.now(), **common)
    plain = Schedule.objects.create(next_run_at=timezone.now(), **common)
    assert daylight.first_run() is None
    queue = ListQueue()
    assert runner.tick(queue) == [daylight.pk, plain.pk]  # each queued for the run it had
    runner.run_frame(daylight.pk, daylight.next_run_at, queue)
    daylight.refresh_from_db()
    assert daylight.next_run_at is None
