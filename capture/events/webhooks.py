"""Webhook deliveries: a POST of the event's JSON, signed with the webhook's secret.

`X-Camsite-Signature: sha256=<hex>` is HMAC-SHA256, keyed with the secret, of `<timestamp>.<body>`, where the
timestamp is `X-Camsite-Timestamp` (Unix seconds): a receiver checks both, and refuses old timestamps, so a
captured request can't be replayed later. README, "Webhooks", has a verification snippet.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from django.conf import settings

from capture.events.outbox import DeliveryError
from capture.lib import http
from capture.models import EventDelivery


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def send(row: EventDelivery) -> None:
    hook = row.webhook
    if hook is None or not hook.enabled:
        raise DeliveryError("the webhook is disabled")
    body = json.dumps(row.payload, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "camsite-webhook/1",
        "X-Camsite-Event": row.event,
        "X-Camsite-Event-Id": str(row.event_id),
        "X-Camsite-Timestamp": timestamp,
        "X-Camsite-Signature": signature(hook.secret, timestamp, body),
    }
    try:
        http.post_bytes(hook.url, body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT_SEC)
    except http.TransportError as exc:
        raise DeliveryError(str(exc)) from None
