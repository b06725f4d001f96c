"""A camera's status, declared once: the seed's `GET /api/camera/status`, `GET /api/cameras/<n>/status`,
their OpenAPI schema and `manage.py camera_status` all use CameraStatusSerializer.

Reading a status never runs a process and never takes the lock: it reads the shared detection, the lock's
holder record and two indexed queries.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers

from capture.camera.detection import Detection
from capture.camera.preview import preview_status
from capture.camera.registry import Camera
from capture.models import Capture


class PreviewStatusSerializer(serializers.Serializer):
    state = serializers.ChoiceField(["running", "starting", "stopped", "failed"])
    viewers = serializers.IntegerField()
    fps = serializers.FloatField()


class CameraStatusSerializer(serializers.Serializer):
    """The seed's status shape, unchanged: `cameraDetected` is a boolean, as the Node server promised."""

    ok = serializers.BooleanField(default=True)
    host = serializers.CharField(help_text="the server whose camera this is (CAMSITE_HOST)")
    cameraDetected = serializers.BooleanField()  # noqa: N815 - the API's field names
    busy = serializers.BooleanField()
    busySince = serializers.DateTimeField(allow_null=True)  # noqa: N815
    lastCaptureAt = serializers.DateTimeField(allow_null=True)  # noqa: N815
    lastError = serializers.CharField(allow_null=True)  # noqa: N815
    lastErrorAt = serializers.DateTimeField(allow_null=True)  # noqa: N815
    backend = serializers.CharField()
    simulated = serializers.BooleanField()
    cameras = serializers.ListField(child=serializers.DictField(), help_text="every camera the last listing found")
    detectedAt = serializers.DateTimeField(allow_null=True)  # noqa: N815
    preview = PreviewStatusSerializer(help_text="the live preview run by the camera's owner")


def camera_status(camera: Camera, detection: Detection | None = None) -> dict:
    """The status of `camera` as the API sends it. `manage.py camera_status` passes a fresh detection; the
    server waits for the first one only when it has never seen any."""
    detection = detection or camera.detection(wait=True)
    holder = camera.lock.peek()
    # A listing is brief, and captures wait for it; a preview steps aside for them.
    capturing = holder is not None and holder.busy
    last_error = Capture.objects.last_error(camera.index)
    status = {
        "ok": True,
        "host": settings.CAMSITE_HOST,
        "cameraDetected": bool(camera.detected(detection)),
        "busy": capturing,
        "busySince": _from_epoch(holder.createdAt) if capturing else None,
        "lastCaptureAt": Capture.objects.last_success_at(camera.index),
        "lastError": last_error[0] if last_error else None,
        "lastErrorAt": last_error[1] if last_error else None,
        "backend": camera.backend.name,
        "simulated": camera.backend.simulated,
        "cameras": detection.cameras,
        "detectedAt": _from_epoch(detection.checked_at) if detection.checked_at else None,
        "preview": preview_status(camera),
    }
    return CameraStatusSerializer(status).data


class CameraSerializer(serializers.Serializer):
    """One camera in `GET /api/cameras/`: what the listing says of it, and whether it is busy now."""

    index = serializers.IntegerField()
    host = serializers.CharField(help_text="the server it is attached to (CAMSITE_HOST)")
    detected = serializers.BooleanField()
    model = serializers.CharField(allow_null=True)
    id = serializers.CharField(allow_null=True)
    width = serializers.IntegerField(allow_null=True, help_text="full sensor width")
    height = serializers.IntegerField(allow_null=True)
    bitDepth = serializers.IntegerField(allow_null=True)  # noqa: N815
    cfa = serializers.CharField(allow_null=True)
    modes = serializers.ListField(child=serializers.DictField())
    autofocus = serializers.BooleanField()
    sensorHdr = serializers.BooleanField()  # noqa: N815
    controlDefaults = serializers.DictField(help_text="CAMERA_<N>_<CONTROL> settings")  # noqa: N815
    backend = serializers.CharField()
    simulated = serializers.BooleanField()
    busy = serializers.BooleanField()
    lastCaptureAt = serializers.DateTimeField(allow_null=True)  # noqa: N815


def camera_summary(camera: Camera, detection: Detection, control_defaults: dict) -> dict:
    info = camera.info(detection) or {}
    holder = camera.lock.peek()
    return CameraSerializer(
        {
            "index": camera.index,
            "host": settings.CAMSITE_HOST,
            "detected": bool(camera.detected(detection)),
            "model": info.get("model"),
            "id": info.get("id"),
            "width": info.get("width"),
            "height": info.get("height"),
            "bitDepth": info.get("bitDepth"),
            "cfa": info.get("cfa"),
            "modes": info.get("modes", []),
            "autofocus": camera.has_autofocus,
            "sensorHdr": camera.has_sensor_hdr,
            "controlDefaults": control_defaults,
            "backend": camera.backend.name,
            "simulated": camera.backend.simulated,
            "busy": holder is not None and holder.busy,
            "lastCaptureAt": Capture.objects.last_success_at(camera.index),
        }
    ).data


def _from_epoch(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.get_current_timezone())
