"""MQTT: the events, each camera's state and latest still, and Home Assistant discovery, on MQTT_URL's broker.

The client lives in the worker (`manage.py run_huey`), started when the worker starts. paho's own network
thread connects, and reconnects by itself (1 s, doubling to 30 s) when the broker restarts; on every connect
it publishes the availability, the discovery configs and the cameras' state again, and subscribes to the
buttons' command topics. Captures never wait for it: they only write outbox rows, which the worker sends here
(a broker that is down makes the delivery wait for its next attempt).

Topics, under MQTT_PREFIX (default `camsite`):
  <prefix>/status                       `online`/`offline` (retained; `offline` is the client's will)
  <prefix>/events/<event>               each event's JSON, as webhooks get it (QoS 1)
  <prefix>/camera/<n>/state             the camera's state JSON (retained)
  <prefix>/camera/<n>/image             the latest JPEG still (retained): Home Assistant's MQTT camera
  <prefix>/camera/<n>/capture           a message here takes a capture (source `mqtt`): the HA button
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from django.conf import settings
from django.db import close_old_connections

from capture.events.outbox import DeliveryError
from capture.models import Capture, Event, EventDelivery

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SEC = 10
_COMMAND = re.compile(r"camera/(\d+)/capture")


def node_id() -> str:
    """The device's id in Home Assistant: the prefix, made safe for a discovery topic."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", settings.MQTT_PREFIX) or "camsite"


def topic(*parts: object) -> str:
    return "/".join([settings.MQTT_PREFIX, *map(str, parts)])


def discovery_configs(camera: int) -> dict[str, dict]:
    """{discovery topic: config} for camera `camera`: an MQTT camera and a "Take a capture" button."""
    node = node_id()
    device = {
        "identifiers": [node],
        "name": f"Camera server {settings.MQTT_PREFIX}",
        "manufacturer": "camsite",
        "model": "Raspberry Pi camera capture server",
    }
    common = {
        "availability_topic": topic("status"),
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": device,
        "origin": {"name": "camsite"},
    }
    prefix = settings.MQTT_DISCOVERY_PREFIX
    return {
        f"{prefix}/camera/{node}/camera{camera}/config": {
            **common,
            "name": f"Camera {camera}",
            "unique_id": f"{node}_camera{camera}",
            "topic": topic("camera", camera, "image"),
        },
        f"{prefix}/button/{node}/capture{camera}/config": {
            **common,
            "name": f"Take a capture (camera {camera})",
            "unique_id": f"{node}_capture{camera}",
            "command_topic": topic("camera", camera, "capture"),
            "payload_press": "PRESS",
            "icon": "mdi:camera",
        },
    }


def discovered_cameras() -> list[int]:
    """The cameras announced to Home Assistant: the default one and those with CAMERA_<N>_* settings."""
    return sorted({settings.CAMERA_INDEX, *settings.CAMERA_CONTROL_DEFAULTS})


def camera_state(camera: int) -> dict:
    last = Capture.objects.for_camera(camera).exclude(status=Capture.Status.RUNNING).order_by("-id").first()
    return {
        "state": "capturing" if Capture.objects.running(camera).exists() else "idle",
        "lastStatus": last.status if last else None,
        "lastFile": last.filename or None if last else None,
        "lastError": last.error or None if last else None,
        "lastFinishedAt": last.finished_at.isoformat() if last and last.finished_at else None,
    }


class MqttLink:
    """One connection to the broker for this process, kept up by paho's network thread."""

    def __init__(self, url: str, on_press: Callable[[int], None]) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        self.on_press = on_press
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"{node_id()}-{id(self):x}")
        if parts.username:
            self.client.username_pw_set(unquote(parts.username), unquote(parts.password or "") or None)
        if parts.scheme == "mqtts":
            self.client.tls_set()
        self.client.will_set(topic("status"), "offline", qos=1, retain=True)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    def start(self) -> None:
        # connect_async: a broker that is down now is retried by the network thread, never by the caller.
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        log.info("MQTT: connecting to %s:%d", self.host, self.port)

    def stop(self) -> None:
        if self.client.is_connected():
            self.client.publish(topic("status"), "offline", qos=1, retain=True).wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()

    def deliver(self, row: EventDelivery) -> None:
        if not self.client.is_connected():
            raise DeliveryError(f"not connected to the MQTT broker at {self.host}:{self.port}")
        messages = [(topic("events", row.event), json.dumps(row.payload), False)]
        camera = (row.payload.get("capture") or {}).get("cameraIndex")
        if camera is not None and row.event != Event.ANALYSIS_DONE:
            messages.append((topic("camera", camera, "state"), json.dumps(camera_state(camera)), True))
            image = self._latest_still(row)
            if image is not None:
                messages.append((topic("camera", camera, "image"), image, True))
        self._publish_all(messages)

    def _publish_all(self, messages: list[tuple[str, str | bytes, bool]]) -> None:
        infos = [self.client.publish(name, payload, qos=1, retain=retain) for name, payload, retain in messages]
        for info in infos:
            try:
                info.wait_for_publish(PUBLISH_TIMEOUT_SEC)
            except (RuntimeError, ValueError) as exc:
                raise DeliveryError(f"MQTT publish failed: {exc}") from None
            if not info.is_published():
                raise DeliveryError(f"the MQTT broker did not acknowledge within {PUBLISH_TIMEOUT_SEC} s")

    @staticmethod
    def _latest_still(row: EventDelivery) -> bytes | None:
        capture = row.payload.get("capture") or {}
        if row.event != Event.CAPTURE_FINISHED or capture.get("format") != "jpg" or not capture.get("filename"):
            return None
        try:
            return (settings.MEDIA_ROOT / capture["filename"]).read_bytes()
        except OSError:
            return None  # deleted since: the event still goes out

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("MQTT: the broker at %s:%d refused the connection: %s", self.host, self.port, reason_code)
            return
        log.info("MQTT: connected to %s:%d", self.host, self.port)
        client.subscribe(topic("camera", "+", "capture"), qos=1)
        client.publish(topic("status"), "online", qos=1, retain=True)
        try:
            for camera in discovered_cameras():
                for name, config in discovery_configs(camera).items():
                    client.publish(name, json.dumps(config), qos=1, retain=True)
                client.publish(topic("camera", camera, "state"), json.dumps(camera_state(camera)), qos=1, retain=True)
        except Exception:
            log.exception("MQTT: could not publish the cameras' discovery and state")
        finally:
            close_old_connections()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        log.warning("MQTT: disconnected from %s:%d (%s); reconnecting", self.host, self.port, reason_code)

    def _on_message(self, client, userdata, message) -> None:
        match = _COMMAND.fullmatch(message.topic.removeprefix(settings.MQTT_PREFIX + "/"))
        if match is None or message.retain:
            return  # a retained press would take a capture at every reconnect: only live presses count
        log.info("MQTT: capture requested for camera %s", match[1])
        try:
            self.on_press(int(match[1]))
        except Exception:
            log.exception("MQTT: could not queue the capture")


_link: MqttLink | None = None
_link_lock = threading.Lock()


def start(on_press: Callable[[int], None]) -> None:
    """Connect this process (the worker, when it starts); `on_press(camera)` queues the button's capture."""
    global _link
    with _link_lock:
        if _link is None:
            _link = MqttLink(settings.MQTT_URL, on_press=on_press)
            _link.start()


def stop() -> None:
    global _link
    with _link_lock:
        if _link is not None:
            _link.stop()
            _link = None


def send(row: EventDelivery) -> None:
    link = _link
    if link is None:
        raise DeliveryError("the MQTT client is not started here (MQTT_URL unset when the worker started?)")
    link.deliver(row)
