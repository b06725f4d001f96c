"""Webhooks and the event outbox in the admin: configure the hooks, watch each delivery (status, attempts,
last error, next attempt), and send failed ones again."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html

from capture.events.queue import QUEUE
from capture.models import Event, EventDelivery, Webhook


class WebhookForm(forms.ModelForm):
    events = forms.MultipleChoiceField(choices=Event.choices, widget=forms.CheckboxSelectMultiple)
    url = forms.URLField(max_length=1000, assume_scheme="http", label="URL")  # a receiver on the LAN: http

    class Meta:
        model = Webhook
        fields = ["name", "url", "events", "secret", "enabled"]
        help_texts = {
            "secret": 'The receiver checks X-Camsite-Signature with it (README, "Webhooks"). A new one is made '
            "for each webhook; copy it to the receiver.",
        }


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    form = WebhookForm
    list_display = ["name", "url", "event_list", "enabled", "created_at"]
    list_filter = ["enabled"]
    search_fields = ["name", "url"]

    @admin.display(description="Events")
    def event_list(self, hook: Webhook) -> str:
        return ", ".join(hook.events)


@admin.register(EventDelivery)
class EventDeliveryAdmin(admin.ModelAdmin):
    list_display = ["event", "destination", "status", "attempts", "created_at", "next_attempt_at", "short_error"]
    list_filter = ["status", "event", "target", "webhook"]
    search_fields = ["event_id", "last_error"]
    date_hierarchy = "created_at"
    list_select_related = ["webhook"]
    actions = ["send_again"]
    fields = [
        "event", "event_id", "destination", "status", "attempts", "last_error", "created_at", "next_attempt_at",
        "delivered_at", "worker", "payload_json",
    ]  # fmt: skip
    readonly_fields = fields

    @admin.display(description="Destination", ordering="webhook")
    def destination(self, row: EventDelivery) -> str:
        return f"webhook {row.webhook.name}" if row.webhook else "MQTT broker"

    @admin.display(description="Last error")
    def short_error(self, row: EventDelivery) -> str:
        return row.last_error[:80] or "—"

    @admin.display(description="Payload")
    def payload_json(self, row: EventDelivery) -> str:
        return format_html("<pre>{}</pre>", json.dumps(row.payload, indent=2))

    @admin.action(description="Send again now (failed or pending deliveries)", permissions=["view"])
    def send_again(self, request: HttpRequest, queryset) -> None:
        rows = queryset.filter(status__in=[EventDelivery.Status.FAILED, EventDelivery.Status.PENDING])
        pks = list(rows.values_list("pk", flat=True))
        with transaction.atomic():
            # A failed row gets a fresh set of attempts.
            rows.filter(status=EventDelivery.Status.FAILED).update(attempts=0)
            EventDelivery.objects.filter(pk__in=pks).update(
                status=EventDelivery.Status.PENDING, next_attempt_at=timezone.now()
            )
        for pk in pks:
            QUEUE.put(pk)
        self.message_user(request, f"Queued {len(pks)} delivery row(s) again.", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
