"""The schedules' and timelapses' huey tasks, and the task queue as runner.py and timelapse.py see it.

Thin, like capture.analysis.tasks: the state is on the Schedule and TimelapseJob rows. Task names keep the
`capture.tasks` module (huey names messages after it), as the analyzer's do.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import close_old_connections
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task, on_startup

from capture.analysis.tasks import TASK_MODULE
from capture.schedules import runner, timelapse

log = logging.getLogger(__name__)

# Frames before anything else waiting; a timelapse after everything (and its ffmpeg runs niced).
FRAME_PRIORITY = 10
TIMELAPSE_PRIORITY = -10


def _named_in_task_module(func):
    func.__module__ = TASK_MODULE
    return func


@db_task(priority=FRAME_PRIORITY)
@_named_in_task_module
def schedule_frame(schedule_pk: int, slot: str, retry: bool = False) -> None:
    runner.run_frame(schedule_pk, datetime.fromisoformat(slot), FRAMES, retry=retry)


@db_periodic_task(crontab(minute="*"))
@_named_in_task_module
def schedule_tick() -> None:
    runner.tick(FRAMES)


@db_task(priority=TIMELAPSE_PRIORITY)
@_named_in_task_module
def timelapse_job(job_pk: int) -> None:
    timelapse.run(job_pk)


class HueyFrameQueue:
    """runner.FrameQueue on huey: a frame is a `schedule_frame(pk, slot)` call at its time."""

    def put(self, schedule_pk: int, slot: datetime, *, eta: datetime, retry: bool = False) -> None:
        schedule_frame.schedule(args=(schedule_pk, slot.isoformat(), retry), eta=eta)


class HueyTimelapseQueue:
    def put(self, pk: int) -> None:
        timelapse_job(pk)


FRAMES = HueyFrameQueue()
TIMELAPSES = HueyTimelapseQueue()


@on_startup()
def schedules_at_startup() -> None:
    # After a restart or a reboot: skip (and count) what was missed, queue what is due, and mark timelapses
    # that a killed worker left `running`.
    close_old_connections()
    try:
        timelapse.recover_interrupted()
        runner.tick(FRAMES)
    except Exception:
        log.exception("worker start: could not catch up the schedules (the tick will, every minute)")
    finally:
        close_old_connections()


__all__ = ["FRAMES", "TIMELAPSES", "schedule_frame", "schedule_tick", "timelapse_job"]
