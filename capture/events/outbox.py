"""The outbox: record an event's deliveries, deliver one, and take back the ones a worker left behind.

Like the analysis jobs (capture.analysis.jobs), the EventDelivery row is the truth and the task queue only
carries "deliver row N". A worker claims a row by moving it from `pending` to `sending` in one UPDATE, so a
duplicate message is harmless. A failed attempt puts the row back to `pending` with its next attempt after
EVENT_RETRY_DELAY_SEC, doubling up to EVENT_RETRY_MAX_DELAY_SEC; after EVENT_MAX_ATTEMPTS it is `failed`.
recover() (when the worker starts, and every minute) hands back rows whose worker died mid-send (kill -9) and
queues due rows that have no message, so delivery is at least once: receivers drop repeats by the event id.

This module never imports the task queue or the senders: they are handed in (capture.events.queue).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Protocol

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from capture.hot_queries import first_row
from capture.lib.processes import process_alive
from capture.models import EventDelivery, Webhook

log = logging.getLogger(__name__)

WORKER = f"{socket.gethostname()}:{os.getpid()}"
# A due row is claimed a little early: a queue's delayed message may run a moment before next_attempt_at.
EARLY = timedelta(seconds=1)


class DeliveryError(Exception):
    """This attempt failed (receiver down, non-2xx answer, broker unreachable); try again later."""


class RetryLater(Exception):
    def __init__(self, message: str, delay: float) -> None:
        super().__init__(message)
        self.delay = delay


class DeliveryQueue(Protocol):
    def put(self, pk: int) -> None: ...

    def waiting(self) -> set[int]: ...


def any_destination() -> bool:
    """Whether an event may have a destination at all: an enabled webhook, or MQTT_URL."""
    return bool(settings.MQTT_URL) or (
        first_row(("webhooks_enabled",), lambda: Webhook.objects.filter(enabled=True).values_list("pk")) is not None
    )


def record(event: str, payload: Callable[[], dict]) -> list[int]:
    """Write one pending row per destination of `event` (each enabled webhook that subscribes to it, and the
    MQTT broker when MQTT_URL is set); return their pks. Call it inside the outcome's transaction. `payload`
    is called only when there is a destination: rendering the capture's JSON is most of a capture's own cost
    on the server, and most Pis have no webhook."""
    targets: list[tuple[str, Webhook | None]] = []
    if first_row(("webhooks_enabled",), lambda: Webhook.objects.filter(enabled=True).values_list("pk")) is not None:
        hooks = Webhook.objects.filter(enabled=True)
        targets = [(EventDelivery.Target.WEBHOOK, hook) for hook in hooks if event in hook.events]
    if settings.MQTT_URL:
        targets.append((EventDelivery.Target.MQTT, None))
    if not targets:
        return []
    event_id, now = uuid.uuid4(), timezone.now()
    body = {"event": event, "eventId": str(event_id), "occurredAt": now.isoformat(), **payload()}
    return [
        EventDelivery.objects.create(
            event_id=event_id, event=event, target=target, webhook=hook, payload=body, created_at=now
        ).pk
        for target, hook in targets
    ]


def deliver(pk: int, senders: dict[str, Callable[[EventDelivery], None]]) -> None:
    """Send row `pk` with the sender of its target if it is pending and due. RetryLater after a failed attempt
    with attempts left."""
    now = timezone.now()
    claimed = (
        EventDelivery.objects.filter(pk=pk, status=EventDelivery.Status.PENDING, next_attempt_at__lte=now + EARLY)
        .update(status=EventDelivery.Status.SENDING, worker=WORKER, claimed_at=now, attempts=F("attempts") + 1)
    )  # fmt: skip
    if not claimed:
        return  # delivered, taken by another worker, not yet due, or deleted with its webhook
    row = EventDelivery.objects.select_related("webhook").get(pk=pk)
    try:
        senders[row.target](row)
    except DeliveryError as exc:
        _failed(row, str(exc))
        return
    except Exception as exc:  # a sender's bug must not leave the row `sending` until the stale sweep
        log.exception("event delivery #%d: unexpected error", row.pk)
        _failed(row, f"{exc.__class__.__name__}: {exc}")
        return
    mine = EventDelivery.objects.filter(pk=pk, status=EventDelivery.Status.SENDING, worker=WORKER)
    mine.update(status=EventDelivery.Status.DELIVERED, delivered_at=timezone.now(), last_error="", worker="")
    log.info("event %s %s delivered to %s (attempt %d)", row.event, row.event_id, _where(row), row.attempts)


def retry_delay(attempts: int) -> float:
    """Seconds to wait after `attempts` failed attempts."""
    return min(settings.EVENT_RETRY_DELAY_SEC * 2 ** (attempts - 1), settings.EVENT_RETRY_MAX_DELAY_SEC)


def recover(queue: DeliveryQueue) -> list[int]:
    """Hand back rows whose sender is gone and queue due rows that have no message; return the pks queued."""
    host = socket.gethostname()
    stale_before = timezone.now() - timedelta(seconds=3 * settings.WEBHOOK_TIMEOUT_SEC + 30)
    for row in EventDelivery.objects.filter(status=EventDelivery.Status.SENDING):
        row_host, _, pid = row.worker.partition(":")
        dead = row_host == host and pid.isdigit() and not process_alive(int(pid), row.claimed_at)
        if dead or (row.claimed_at and row.claimed_at < stale_before):
            taken = EventDelivery.objects.filter(pk=row.pk, status=row.status, worker=row.worker).update(
                status=EventDelivery.Status.PENDING, worker="", last_error="Interrupted: its worker stopped"
            )
            if taken:
                log.warning("event delivery #%d: its worker stopped while sending; queued again", row.pk)
    waiting = queue.waiting()
    queued = [pk for pk in EventDelivery.objects.due().values_list("pk", flat=True) if pk not in waiting]
    for pk in queued:
        queue.put(pk)
    return queued


def _failed(row: EventDelivery, error: str) -> None:
    mine = EventDelivery.objects.filter(pk=row.pk, status=EventDelivery.Status.SENDING, worker=WORKER)
    if row.attempts >= settings.EVENT_MAX_ATTEMPTS:
        mine.update(status=EventDelivery.Status.FAILED, last_error=error, worker="")
        log.error("event %s to %s failed after %d attempts: %s", row.event, _where(row), row.attempts, error)
        return
    delay = retry_delay(row.attempts)
    mine.update(
        status=EventDelivery.Status.PENDING,
        last_error=error,
        worker="",
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
    )
    log.warning(
        "event %s to %s: attempt %d failed (%s); retrying in %g s", row.event, _where(row), row.attempts, error, delay
    )
    raise RetryLater(error, delay)


def _where(row: EventDelivery) -> str:
    return f"webhook {row.webhook.name}" if row.webhook else "the MQTT broker"
