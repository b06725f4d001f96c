"""The worker's side of events out: the MQTT client's life (started and stopped with the worker), the outbox
sweep at start, and the capture the Home Assistant button asks for.

`manage.py run_huey` imports this through capture/tasks.py; the delivery tasks are in capture.events.queue.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import close_old_connections
from huey.contrib.djhuey import db_task, on_shutdown, on_startup

from capture.camera.params import parse_capture_request
from capture.camera.service import CaptureService
from capture.errors import CaptureError
from capture.events import mqtt, outbox
from capture.events.queue import QUEUE
from capture.models import Capture

log = logging.getLogger(__name__)


@db_task()
def take_capture(camera: int) -> None:
    """The Home Assistant button: a capture with the camera's defaults. Its outcome goes out as an event."""
    try:
        row = CaptureService().capture(parse_capture_request({"camera": camera}), Capture.Source.MQTT)
    except CaptureError as exc:
        log.warning("MQTT capture on camera %d: %s", camera, exc.detail)
        return
    except Exception as exc:  # a camera index the topic named that does not validate
        log.warning("MQTT capture on camera %d refused: %s", camera, exc)
        return
    log.info("MQTT capture on camera %d: %s", camera, row.filename)


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
        mqtt.start(on_press=take_capture)


@on_shutdown()
def stop_events() -> None:
    mqtt.stop()
