"""Events out: what the server tells webhooks and MQTT, emitted from one place.

The capture service and the analysis jobs call the two functions here when an outcome is final. Each writes,
in the same transaction as the outcome, one outbox row (capture.models.EventDelivery) per destination, and
after the commit asks the worker to deliver them (capture.events.queue). A lost message, a killed worker or a
receiver that is down loses nothing: the row stays until it is delivered or runs out of attempts
(capture.events.outbox).
"""

from __future__ import annotations

import logging
from functools import partial

from django.db import transaction

from capture.events import outbox, payloads
from capture.events.queue import QUEUE
from capture.hot_queries import save_columns
from capture.models import AnalysisJob, Capture, Event

log = logging.getLogger(__name__)


def save_capture_outcome(row: Capture, *, saved: dict[str, object] | None = None) -> None:
    """Save the capture's row and, when its outcome is final and an event has somewhere to go, its
    `capture.finished` or `capture.failed` event's outbox rows, in one transaction. `saved`: the row's
    column_values() as last saved; only the columns changed since are written."""
    if row.status == Capture.Status.RUNNING or not outbox.any_destination():
        _save(row, saved)  # one statement, its own transaction: most Pis have no webhook and no MQTT
        return
    with transaction.atomic():
        _save(row, saved)
        event = Event.CAPTURE_FINISHED if row.status == Capture.Status.OK else Event.CAPTURE_FAILED
        pks = outbox.record(event, partial(payloads.capture_event, row))
        transaction.on_commit(partial(_queue, pks))


def _save(row: Capture, saved: dict[str, object] | None) -> None:
    if saved is None:
        row.save()
    elif not save_columns(row, row.changed_columns(saved)):
        # Nothing deletes a running row (the API, the admin and retention all skip them), but a hand in the
        # database might: say so rather than bring the row back.
        log.warning("capture #%d: its row was deleted while it ran; its file %s is left", row.pk, row.filename)


def analysis_finished(job_pk: int) -> None:
    """Record `analysis.done` for job `job_pk`, which just ended (done or failed). Called inside the
    transaction that finishes the job."""
    job = AnalysisJob.objects.select_related("capture").get(pk=job_pk)
    pks = outbox.record(Event.ANALYSIS_DONE, partial(payloads.analysis_event, job))
    transaction.on_commit(partial(_queue, pks))


def _queue(pks: list[int]) -> None:
    if not pks:
        return
    for pk in pks:
        try:
            QUEUE.put(pk)
        except Exception as exc:  # the queue's storage; the row waits for the worker's sweep
            log.warning("event delivery #%d not queued (%s); the worker's sweep will send it", pk, exc)
