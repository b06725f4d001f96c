"""Webhooks: the outbox rows an outcome writes, a signed delivery to a real receiver, retries and recovery."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image

from capture import events
from capture.analysis import jobs
from capture.events import outbox
from capture.events.queue import SENDERS
from capture.models import AnalysisJob, Capture, Event, EventDelivery, Webhook
from tests.webhook_receiver import Receiver, verify

CAPTURE = {"format": "jpg", "width": 320, "height": 240, "durationSec": 0.2}


@pytest.fixture
def receiver():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def hook(db, receiver):
    return Webhook.objects.create(name="ha", url=receiver.url, events=[Event.CAPTURE_FINISHED, Event.CAPTURE_FAILED])


class FakeQueue:
    def __init__(self) -> None:
        self.put_pks: list[int] = []

    def put(self, pk: int) -> None:
        self.put_pks.append(pk)

    def waiting(self) -> set[int]:
        return set()


def test_it_writes_no_rows_when_nothing_listens(post_json):
    assert post_json("/api/camera/capture", CAPTURE).status_code == 200
    assert not EventDelivery.objects.exists()


def test_a_finished_capture_writes_one_row_per_subscribed_webhook(post_json, hook, receiver):
    Webhook.objects.create(name="off", url=receiver.url, events=[Event.CAPTURE_FINISHED], enabled=False)
    Webhook.objects.create(name="analysis only", url=receiver.url, events=[Event.ANALYSIS_DONE])
    answer = post_json("/api/camera/capture", CAPTURE).json()

    row = EventDelivery.objects.get()
    assert (row.event, row.webhook, row.status) == (Event.CAPTURE_FINISHED, hook, EventDelivery.Status.PENDING)
    capture = row.payload["capture"]
    assert capture["filename"] == answer["filename"] and capture["status"] == "ok"
    assert capture["id"] == Capture.objects.get().pk and capture["source"] == "api"
    assert row.payload["eventId"] == str(row.event_id)


def test_the_file_link_is_signed_and_opens_the_file_while_files_are_protected(api, post_json, hook, settings):
    settings.AUTH_TOKEN = "secret-token"
    post_json("/api/camera/capture", CAPTURE, HTTP_AUTHORIZATION="Bearer secret-token")
    link = EventDelivery.objects.get().payload["fileUrl"]
    assert "?sig=" in link
    assert api.get(link).status_code == 200
    assert api.get(link.split("?")[0]).status_code == 401


def test_a_failed_outcome_is_capture_failed(hook):
    row = Capture.objects.create(
        format="jpg", width=1, height=1, fps=1, duration_sec=1, requested_at=timezone.now(),
        status=Capture.Status.FAILED, error="Capture failed: boom",
    )  # fmt: skip
    events.save_capture_outcome(row)
    delivery = EventDelivery.objects.get()
    assert delivery.event == Event.CAPTURE_FAILED
    assert delivery.payload["capture"]["error"] == "Capture failed: boom"
    assert delivery.payload["fileUrl"] is None


def test_an_outcome_whose_row_was_deleted_meanwhile_is_logged_not_brought_back(db, caplog):
    row = Capture.objects.create(
        format="jpg", width=1, height=1, fps=1, duration_sec=1, requested_at=timezone.now(),
    )  # fmt: skip
    saved = row.column_values()
    Capture.objects.filter(pk=row.pk).delete()
    row.status, row.filename = Capture.Status.OK, "kept.jpg"
    events.save_capture_outcome(row, saved=saved)
    assert not Capture.objects.exists()
    assert f"capture #{row.pk}: its row was deleted while it ran; its file kept.jpg is left" in caplog.text


def test_a_delivery_is_signed_over_timestamp_and_body(post_json, hook, receiver):
    post_json("/api/camera/capture", CAPTURE)
    row = EventDelivery.objects.get()
    outbox.deliver(row.pk, SENDERS)

    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (EventDelivery.Status.DELIVERED, 1, "")
    [got] = receiver.received
    assert got["headers"]["X-Camsite-Event"] == "capture.finished"
    assert got["headers"]["X-Camsite-Event-Id"] == str(row.event_id)
    assert verify(hook.secret, got["headers"], got["body"], now=time.time())
    assert not verify("another secret", got["headers"], got["body"], now=time.time())
    assert not verify(hook.secret, got["headers"], got["body"] + b" ", now=time.time())
    assert got["json"] == row.payload


def test_a_receiver_that_is_down_gets_the_event_later_with_backoff(post_json, hook, receiver, settings):
    settings.EVENT_RETRY_DELAY_SEC = 2
    receiver.stop()
    post_json("/api/camera/capture", CAPTURE)
    row = EventDelivery.objects.get()

    with pytest.raises(outbox.RetryLater) as retry:
        outbox.deliver(row.pk, SENDERS)
    assert retry.value.delay == 2
    row.refresh_from_db()
    assert row.status == EventDelivery.Status.PENDING and row.attempts == 1
    assert row.last_error == f"could not reach http://127.0.0.1:{receiver.port}: ConnectionError"  # no path
    assert row.next_attempt_at > timezone.now()
    outbox.deliver(row.pk, SENDERS)  # too early: not claimed
    row.refresh_from_db()
    assert row.attempts == 1

    EventDelivery.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
    receiver.start()
    outbox.deliver(row.pk, SENDERS)
    row.refresh_from_db()
    assert (row.status, row.attempts) == (EventDelivery.Status.DELIVERED, 2)
    assert len(receiver.received) == 1


def test_the_delay_doubles_up_to_the_cap(settings):
    settings.EVENT_RETRY_DELAY_SEC, settings.EVENT_RETRY_MAX_DELAY_SEC = 5, 30
    assert [outbox.retry_delay(n) for n in range(1, 6)] == [5, 10, 20, 30, 30]


def test_a_non_2xx_answer_is_a_failure_and_the_last_attempt_fails_the_row(post_json, hook, receiver, settings):
    settings.EVENT_MAX_ATTEMPTS = 2
    receiver.status = 500
    post_json("/api/camera/capture", CAPTURE)
    row = EventDelivery.objects.get()
    with pytest.raises(outbox.RetryLater):
        outbox.deliver(row.pk, SENDERS)
    EventDelivery.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
    outbox.deliver(row.pk, SENDERS)  # the last attempt: no retry
    row.refresh_from_db()
    assert (row.status, row.attempts) == (EventDelivery.Status.FAILED, 2)
    assert "answered HTTP 500" in row.last_error


def test_recovery_takes_back_a_dead_workers_row_and_queues_due_rows(hook, post_json):
    post_json("/api/camera/capture", CAPTURE)
    post_json("/api/camera/capture", CAPTURE)
    sending, pending = EventDelivery.objects.order_by("pk")
    # A worker that was killed mid-send: a pid that is not running (pid_max is below 2**22).
    EventDelivery.objects.filter(pk=sending.pk).update(
        status=EventDelivery.Status.SENDING, worker=f"{outbox.socket.gethostname()}:4194999", claimed_at=timezone.now()
    )
    later = EventDelivery.objects.create(
        event=Event.CAPTURE_FINISHED, target="webhook", webhook=hook, payload={},
        next_attempt_at=timezone.now() + timedelta(hours=1),
    )  # fmt: skip
    queue = FakeQueue()
    assert sorted(outbox.recover(queue)) == sorted([sending.pk, pending.pk])
    assert later.pk not in queue.put_pks
    assert EventDelivery.objects.get(pk=sending.pk).status == EventDelivery.Status.PENDING


def test_a_finished_analysis_is_analysis_done(db, receiver, settings):
    Webhook.objects.create(name="analysis", url=receiver.url, events=[Event.ANALYSIS_DONE])
    Image.new("L", (64, 48), 128).save(settings.MEDIA_ROOT / "grey.jpg")
    job = jobs.submit("grey.jpg", FakeQueue())
    jobs.run(job.pk)

    row = EventDelivery.objects.get()
    assert row.event == Event.ANALYSIS_DONE
    assert row.payload["analysis"]["status"] == AnalysisJob.Status.DONE
    assert row.payload["analysis"]["jobId"] == str(job.job_id)
    assert row.payload["analysis"]["result"]["width"] == 64
    assert row.payload["capture"] is None and "grey.jpg?sig=" in row.payload["fileUrl"]


def test_a_senders_unexpected_error_is_a_failed_attempt_not_a_stuck_row(hook, post_json):
    post_json("/api/camera/capture", CAPTURE)
    row = EventDelivery.objects.get()

    def broken(delivery):
        raise ValueError("a bug")

    with pytest.raises(outbox.RetryLater):
        outbox.deliver(row.pk, {"webhook": broken})
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (EventDelivery.Status.PENDING, 1, "ValueError: a bug")
