"""Taking a schedule's frames: the tick, the claim, the frame, the retry.

The job queue's periodic scheduler is minute-granular, so tick() runs every minute (and when a worker starts)
and queues a frame task for each run due before the next tick, to run at its time (an ETA); each frame, once
it has claimed its run, queues the next one, so a 2 s schedule needs no loop of its own.

A frame claims its run by moving the schedule's next_run_at from that run to the following one in one
conditional UPDATE: of two messages for one run (the tick's and the previous frame's, a duplicate, a second
worker) only one takes the frame. A run found more than missed_after() late (the worker was down, the Pi
rebooted) is skipped, counted once on the schedule and logged once; a frame taken a little late doesn't make
the next ones catch up. A frame that finds the camera busy is tried once more before the next run, then
counted as missed: it never waits in line for the camera.

This module never imports the task queue: it is handed a FrameQueue (capture.schedules.tasks provides it).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Protocol

from django.conf import settings
from django.db.models import F
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from capture.camera.params import parse_capture_request
from capture.camera.service import CaptureService
from capture.errors import CameraBusy, CaptureError, OtherHost
from capture.models import Capture, this_host
from capture.schedules.models import Schedule
from capture.schedules.timing import count_missed, next_run

log = logging.getLogger(__name__)

# The tick runs every minute: it queues the runs due before the next one, with some slack for a late tick.
LOOKAHEAD = timedelta(seconds=75)
# A busy camera is tried again after half the time left before the next run, at most this long after.
MAX_RETRY_DELAY = timedelta(seconds=30)
MIN_RETRY_DELAY = timedelta(seconds=0.5)


class FrameQueue(Protocol):
    """What the frames need of the task queue: "take schedule N's run at `slot`", to run at `eta`."""

    def put(self, schedule_pk: int, slot: datetime, *, eta: datetime, retry: bool = False) -> None: ...


def missed_after(schedule: Schedule) -> timedelta:
    """How late a run may still be taken: its interval (a later frame would crowd the next one), at least
    5 s (a busy worker), at most SCHEDULE_MISSED_AFTER_SEC."""
    limit = settings.SCHEDULE_MISSED_AFTER_SEC
    if schedule.every_sec:
        limit = min(limit, max(schedule.every_sec, 5))
    return timedelta(seconds=limit)


def tick(queue: FrameQueue, now: datetime | None = None) -> list[int]:
    """Skip what was missed and queue the runs due before the next tick; return the schedules queued."""
    now = now or timezone.now()
    queued = []
    # Only this host's: on a shared database every Pi's worker ticks, each for its own camera.
    due = Schedule.objects.filter(
        host=this_host(), enabled=True, next_run_at__isnull=False, next_run_at__lte=now + LOOKAHEAD
    )
    for schedule in due:
        slot = schedule.next_run_at
        try:
            if now - slot > missed_after(schedule):
                slot = skip_missed(schedule, slot, now)
                if slot is None or slot > now + LOOKAHEAD:
                    continue
            queue.put(schedule.pk, slot, eta=slot)
        except Exception:
            # One schedule's problem (its timing, the queue's storage) must not hold back the others.
            log.exception("%s: could not queue its run at %s", schedule, slot)
            continue
        queued.append(schedule.pk)
    return queued


def queue_if_due(schedule: Schedule, queue: FrameQueue) -> None:
    """After a schedule is made, changed or enabled: queue its first run now if it is due before the next
    tick (which would otherwise take up to a minute to notice it). A queue that can't take it now is left to
    the tick."""
    slot = schedule.next_run_at
    if not schedule.enabled or slot is None or slot > timezone.now() + LOOKAHEAD:
        return
    if schedule.host != this_host():
        return  # changed on another server (the central admin): its own host's tick queues it
    try:
        queue.put(schedule.pk, slot, eta=slot)
    except Exception as exc:  # the queue's storage: a full disk, an unreachable Redis
        log.warning("schedule #%d: could not queue its next run now (%s); the next tick will", schedule.pk, exc)


def skip_missed(schedule: Schedule, slot: datetime, now: datetime) -> datetime | None:
    """Move the schedule past the runs it missed, counting them once; return its next run (None: none).
    Only the caller whose UPDATE moves next_run_at counts and logs: another one finds it moved already."""
    missed, upcoming = count_missed(schedule.when, slot, now)
    if schedule.finished:
        upcoming = None
    moved = Schedule.objects.filter(pk=schedule.pk, enabled=True, next_run_at=slot).update(
        next_run_at=upcoming, frames_missed=F("frames_missed") + missed
    )
    if not moved:
        return Schedule.objects.filter(pk=schedule.pk).values_list("next_run_at", flat=True).first()
    log.warning(
        "%s: skipped %d missed run(s) from %s on (the worker was down or late); next run %s",
        schedule,
        missed,
        slot.isoformat(),
        upcoming.isoformat() if upcoming else "none",
    )
    return upcoming


def run_frame(schedule_pk: int, slot: datetime, queue: FrameQueue, *, retry: bool = False) -> Capture | None:
    """Take schedule `schedule_pk`'s run at `slot` if this call claims it (or, with `retry`, take again the
    run that found the camera busy). Return the capture, or None when there was nothing to take."""
    schedule = Schedule.objects.filter(pk=schedule_pk, host=this_host()).first()
    if schedule is None or not schedule.enabled:
        return None
    if not retry:
        if not _claim(schedule, slot, timezone.now()):
            return None
        schedule.refresh_from_db()
        # The next run is queued before this frame starts: its time doesn't depend on this capture's length.
        if schedule.next_run_at is not None and schedule.next_run_at <= timezone.now() + LOOKAHEAD:
            queue.put(schedule.pk, schedule.next_run_at, eta=schedule.next_run_at)
    return _take(schedule, slot, queue, may_retry=not retry)


def run_now(schedule: Schedule) -> Capture:
    """ "Run now" (admin, API, CLI): one frame at once, outside the timing (the next run stays as it was).
    Raises the capture's errors (CameraBusy, CaptureFailed, ...), ValidationError, or OtherHost for another
    host's schedule (its camera is on that host)."""
    if schedule.host != this_host():
        raise OtherHost(f"{schedule} is {schedule.host}'s: its camera is there, so run it on {schedule.host}")
    request = parse_capture_request(schedule.capture_body)
    Schedule.objects.filter(pk=schedule.pk).update(runs=F("runs") + 1, last_run_at=timezone.now())
    try:
        row = CaptureService().capture(request, Capture.Source.SCHEDULE, schedule_id=schedule.pk)
    except CaptureError as exc:
        _record(schedule, failed=True, error=str(exc.detail))
        raise
    _record(schedule, taken=True)
    return row


def _claim(schedule: Schedule, slot: datetime, now: datetime) -> bool:
    """Move next_run_at from `slot` to the run after it, in one conditional UPDATE; True if this call did."""
    if now - slot > missed_after(schedule):
        skip_missed(schedule, slot, now)
        return False
    when = schedule.when
    # Taken late, the frame doesn't make the runs since `slot` catch up: they are missed.
    following = next_run(when, max(slot, now))
    passed = next_run(when, slot)
    missed = count_missed(when, passed, now)[0] if passed is not None and passed < now else 0
    if schedule.count is not None and schedule.runs + 1 >= schedule.count:
        following = None
    claimed = Schedule.objects.filter(pk=schedule.pk, enabled=True, next_run_at=slot).update(
        next_run_at=following, runs=F("runs") + 1, last_run_at=now, frames_missed=F("frames_missed") + missed
    )
    if claimed and following is None:
        log.info("%s: that was its last run", schedule)
    return bool(claimed)


def _take(schedule: Schedule, slot: datetime, queue: FrameQueue, *, may_retry: bool) -> Capture | None:
    try:
        request = parse_capture_request(schedule.capture_body)
    except ValidationError as exc:
        # The settings changed since the schedule was made (a smaller CAPTURE_MAX_WIDTH, a camera gone).
        _record(schedule, failed=True, error=f"Its capture parameters are no longer valid: {exc.detail}")
        return None
    try:
        row = CaptureService().capture(request, Capture.Source.SCHEDULE, schedule_id=schedule.pk)
    except CameraBusy:
        now = timezone.now()
        upcoming = Schedule.objects.filter(pk=schedule.pk).values_list("next_run_at", flat=True).first()
        room = (upcoming - now) if upcoming else timedelta(seconds=schedule.every_sec or 60)
        delay = min(room / 2, MAX_RETRY_DELAY)
        if may_retry and delay >= MIN_RETRY_DELAY:
            log.info("%s: camera busy for the run at %s; trying again in %.1f s", schedule, slot, delay.total_seconds())
            queue.put(schedule.pk, slot, eta=now + delay, retry=True)
        else:
            log.warning("%s: camera busy for the run at %s, also when tried again: missed", schedule, slot)
            _record(schedule, missed=True, error=f"Camera busy at {slot.isoformat()} (tried twice): frame missed")
        return None
    except CaptureError as exc:
        _record(schedule, failed=True, error=str(exc.detail))
        return None
    _record(schedule, taken=True)
    return row


def _record(schedule: Schedule, *, taken: bool = False, failed: bool = False, missed: bool = False, error: str = ""):
    counters = {
        "frames_taken": F("frames_taken") + int(taken),
        "frames_failed": F("frames_failed") + int(failed),
        "frames_missed": F("frames_missed") + int(missed),
    }
    if error:
        counters["last_error"] = error
    Schedule.objects.filter(pk=schedule.pk).update(**counters)
