"""The worker's tasks for events out: deliver an outbox row, sweep the outbox, and the MQTT button's capture.

Thin, like capture.analysis.tasks: capture.events.outbox keeps the state in the database. The MQTT client is
started with the worker and stopped with it (capture.events.mqtt).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import close_old_connections
from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task, on_shutdown, on_startup
from huey.exceptions import RetryTask

from capture.camera.params import parse_capture_request
from capture.errors import CaptureError
from capture.events import mqtt, outbox
from capture.models import Capture

log = logging.getLogger(__name__)


@db_task()
def deliver_event(delivery_pk: int) -> None:
    try:
        outbox.deliver(delivery_pk)
    except outbox.RetryLater as exc:
        # huey keeps the retry on its schedule, which survives restarts; the sweep is the safety net.
        raise RetryTask(str(exc), delay=exc.delay) from exc


@db_periodic_task(crontab(minute="*"))
def recover_events() -> None:
    outbox.recover(QUEUE)


@db_task()
def take_capture(camera: int) -> None:
    """The Home Assistant button: a capture with the camera's defaults. Its outcome goes out as an event."""
    from capture.camera.service import CaptureService

    try:
        row = CaptureService().capture(parse_capture_request({"camera": camera}), Capture.Source.MQTT)
    except CaptureError as exc:
        log.warning("MQTT capture on camera %d: %s", camera, exc.detail)
        return
    except Exception as exc:  # a bad camera index in the topic: nothing to capture
        log.warning("MQTT capture on camera %d refused: %s", camera, exc)
        return
    log.info("MQTT capture on camera %d: %s", camera, row.filename)


class HueyDeliveryQueue:
    def put(self, pk: int) -> None:
        deliver_event(pk)

    def waiting(self) -> set[int]:
        messages = HUEY.pending() + HUEY.scheduled()
        return {task.args[0] for task in messages if isinstance(task, deliver_event.task_class) and task.args}


QUEUE = HueyDeliveryQueue()


@on_startup()
def start_events() -> None:
    close_old_connections()
    try:
        queued = outbox.recover(QUEUE)
        if queued:
            log.warning("worker start: queued %d undelivered event(s) again", len(queued))
    except Exception:
        log.exception("worker start: could not sweep the event outbox (will retry every minute)")
    finally:
        close_old_connections()
    if settings.MQTT_URL:
        mqtt.link()


@on_shutdown()
def stop_events() -> None:
    mqtt.stop()
