"""Webhooks and event deliveries in the admin: add a webhook, watch deliveries, send failed ones again."""

from __future__ import annotations

from django.utils import timezone
from huey.contrib.djhuey import HUEY

from capture.events.queue import deliver_event
from capture.models import Event, EventDelivery, Webhook

HOOKS = "/admin/capture/webhook/"
DELIVERIES = "/admin/capture/eventdelivery/"


def test_adding_a_webhook_with_its_events(admin_client):
    page = admin_client.get(f"{HOOKS}add/").content.decode()
    assert 'value="capture.finished"' in page and 'value="analysis.done"' in page
    answer = admin_client.post(
        f"{HOOKS}add/",
        {"name": "ha", "url": "http://ha.local:8123/api/webhook/abc", "events": ["capture.finished"],
         "secret": "s3cret", "enabled": "on"},
    )  # fmt: skip
    assert answer.status_code == 302, answer.content
    hook = Webhook.objects.get()
    assert (hook.url, hook.events, hook.secret, hook.enabled) == (
        "http://ha.local:8123/api/webhook/abc", ["capture.finished"], "s3cret", True,
    )  # fmt: skip


def test_a_new_webhook_gets_a_random_secret(db):
    first, second = (Webhook.objects.create(name=name, url="http://x.local/", events=[]) for name in "ab")
    assert len(first.secret) >= 40 and first.secret != second.secret


def test_the_deliveries_list_shows_status_attempts_error_and_next_attempt(admin_client):
    hook = Webhook.objects.create(name="ha", url="http://x.local/", events=[Event.CAPTURE_FINISHED])
    EventDelivery.objects.create(
        event=Event.CAPTURE_FINISHED, target="webhook", webhook=hook, payload={}, status="pending", attempts=3,
        last_error="could not reach http://x.local: ConnectionError",
    )  # fmt: skip
    html = admin_client.get(DELIVERIES).content.decode()
    assert "webhook ha" in html and "pending" in html and "could not reach http://x.local" in html
    assert "Next attempt at" in html and "Attempts" in html


def test_send_again_requeues_failed_rows_with_fresh_attempts(admin_client, settings):
    failed = EventDelivery.objects.create(
        event=Event.CAPTURE_FAILED, target="mqtt", payload={}, status="failed", attempts=12,
        next_attempt_at=timezone.now(),
    )  # fmt: skip
    delivered = EventDelivery.objects.create(event=Event.CAPTURE_FAILED, target="mqtt", payload={}, status="delivered")
    HUEY.flush()
    admin_client.post(DELIVERIES, {"action": "send_again", "_selected_action": [failed.pk, delivered.pk]})
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == ("pending", 0)
    assert EventDelivery.objects.get(pk=delivered.pk).status == "delivered"
    assert [task.args for task in HUEY.pending() if isinstance(task, deliver_event.task_class)] == [(failed.pk,)]
