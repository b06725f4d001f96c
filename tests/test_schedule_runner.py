"""Taking a schedule's frames with the real clock and the simulated camera: the claim, the count, the restart
that skips instead of bursting, the busy camera tried once more. The task queue is a list here; the real huey
consumer runs the same functions in tests/test_schedule_worker.py."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from capture.camera.registry import get_camera
from capture.models import Capture
from capture.schedules import runner
from capture.schedules.body import apply_body, validated
from capture.schedules.models import Schedule

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]

SMALL = {"format": "jpg", "width": 320, "height": 240, "durationSec": 0.1}


class ListQueue:
    """runner.FrameQueue as a list of (eta, schedule pk, slot, retry)."""

    def __init__(self) -> None:
        self.messages: list[tuple[datetime, int, datetime, bool]] = []

    def put(self, schedule_pk: int, slot: datetime, *, eta: datetime, retry: bool = False) -> None:
        self.messages.append((eta, schedule_pk, slot, retry))

    def run_due(self) -> int:
        """Run every message whose time has come, as a worker would; return how many ran."""
        now = timezone.now()
        due = [message for message in self.messages if message[0] <= now]
        self.messages = [message for message in self.messages if message[0] > now]
        for _, pk, slot, retry in sorted(due):
            runner.run_frame(pk, slot, self, retry=retry)
        return len(due)


def make_schedule(**body) -> Schedule:
    return apply_body(Schedule(), validated({**SMALL, **body}))


def frames(schedule: Schedule) -> list[Capture]:
    return list(Capture.objects.filter(schedule=schedule, source=Capture.Source.SCHEDULE).order_by("requested_at"))


def test_every_1_s_with_count_3_makes_exactly_3_frames_on_time():
    schedule = make_schedule(everySec=1, count=3)  # 1 s: the shortest interval, so the test waits least
    queue = ListQueue()
    runner.queue_if_due(schedule, queue)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        # The minute tick as often as we like: it only adds duplicates, which the claim turns away.
        runner.tick(queue)
        queue.run_due()
        schedule.refresh_from_db()
        if schedule.next_run_at is None and not queue.messages:
            break
        time.sleep(0.1)
    taken = frames(schedule)
    assert len(taken) == 3
    assert all(frame.status == Capture.Status.OK and frame.path.is_file() for frame in taken)
    assert (schedule.runs, schedule.frames_taken, schedule.frames_missed, schedule.next_run_at) == (3, 3, 0, None)
    starts = [frame.requested_at for frame in taken]
    gaps = [(b - a).total_seconds() for a, b in zip(starts, starts[1:], strict=False)]
    assert all(0.5 < gap < 1.9 for gap in gaps), gaps  # one run every 1 s, not a burst and none skipped


def test_two_messages_for_one_run_take_one_frame():
    schedule = make_schedule(everySec=60)
    slot = schedule.next_run_at
    queue = ListQueue()
    first = runner.run_frame(schedule.pk, slot, queue)
    second = runner.run_frame(schedule.pk, slot, queue)
    assert first is not None and second is None
    schedule.refresh_from_db()
    assert schedule.runs == schedule.frames_taken == 1
    assert schedule.next_run_at == slot + timedelta(seconds=60)
    assert [message[2] for message in queue.messages] == [schedule.next_run_at]  # the next run, queued once


def test_a_restart_mid_schedule_skips_the_missed_runs_once_and_takes_none_of_them(caplog):
    schedule = make_schedule(everySec=1)  # 1 s: the wait for the next run below is at most that
    down_since = timezone.now() - timedelta(seconds=15)
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=down_since)
    queue = ListQueue()
    # A frame message left from before the restart comes first, then the worker's start-up tick, then the
    # next minute's tick.
    with caplog.at_level(logging.WARNING, logger="capture.schedules.runner"):
        assert runner.run_frame(schedule.pk, down_since, queue) is None
        runner.tick(queue)
        runner.tick(queue)
    schedule.refresh_from_db()
    assert 15 <= schedule.frames_missed <= 16
    assert len([r for r in caplog.records if "skipped" in r.getMessage()]) == 1
    assert schedule.next_run_at > timezone.now() - timedelta(seconds=1)
    assert frames(schedule) == []
    # Then it carries on at its pace: the next run, and only that one, is taken.
    time.sleep(max(0.0, (schedule.next_run_at - timezone.now()).total_seconds()))
    queue.run_due()
    assert len(frames(schedule)) == 1


def test_a_frame_taken_late_does_not_make_the_next_ones_catch_up():
    # Runs every 2 s at now - 10.5 s, ..., now - 0.5 s, now + 1.5 s: take the one at now - 4.5 s, two runs late
    # but within the grace of 5 s for short intervals.
    start = timezone.now() - timedelta(seconds=10.5)
    schedule = make_schedule(everySec=2, startAt=start.isoformat())
    slot = start + timedelta(seconds=6)
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=slot)
    queue = ListQueue()
    assert runner.run_frame(schedule.pk, slot, queue) is not None
    schedule.refresh_from_db()
    assert schedule.next_run_at > timezone.now() - timedelta(seconds=1)
    assert schedule.frames_missed == 2  # the runs 2 and 4 s after it passed while it was late


def test_a_busy_camera_is_tried_once_more_within_the_interval_then_the_frame_is_missed():
    schedule = make_schedule(everySec=10)
    slot = schedule.next_run_at
    queue = ListQueue()
    with get_camera(0).lock.acquire(ttl_sec=30):
        assert runner.run_frame(schedule.pk, slot, queue) is None
        retries = [m for m in queue.messages if m[3]]
        assert len(retries) == 1
        eta = retries[0][0]
        schedule.refresh_from_db()
        assert timezone.now() < eta < schedule.next_run_at  # within the interval, before the next run
        assert runner.run_frame(schedule.pk, slot, queue, retry=True) is None
    assert len([m for m in queue.messages if m[3]]) == 1  # no third try
    schedule.refresh_from_db()
    assert (schedule.frames_missed, schedule.frames_taken) == (1, 0)
    assert "Camera busy" in schedule.last_error


def test_a_busy_camera_that_frees_up_gets_its_frame_on_the_retry():
    schedule = make_schedule(everySec=10)
    queue = ListQueue()
    with get_camera(0).lock.acquire(ttl_sec=30):
        runner.run_frame(schedule.pk, schedule.next_run_at, queue)
    _, pk, slot, retry = next(m for m in queue.messages if m[3])
    assert runner.run_frame(pk, slot, queue, retry=retry) is not None
    schedule.refresh_from_db()
    assert (schedule.frames_taken, schedule.frames_missed) == (1, 0)


def test_a_disabled_or_deleted_schedule_takes_no_frame_and_keeps_its_frames():
    schedule = make_schedule(everySec=60)
    queue = ListQueue()
    row = runner.run_frame(schedule.pk, schedule.next_run_at, queue)
    Schedule.objects.filter(pk=schedule.pk).update(enabled=False)
    assert runner.run_frame(schedule.pk, schedule.next_run_at + timedelta(seconds=60), queue) is None
    schedule.delete()
    row.refresh_from_db()
    assert row.schedule is None and row.source == Capture.Source.SCHEDULE  # the frame stays, unlinked


def test_run_now_takes_a_frame_and_leaves_the_next_run():
    schedule = make_schedule(everySec=3600)
    before = schedule.next_run_at
    row = runner.run_now(schedule)
    schedule.refresh_from_db()
    assert row.schedule_id == schedule.pk and row.status == Capture.Status.OK
    assert (schedule.next_run_at, schedule.frames_taken, schedule.runs) == (before, 1, 1)
