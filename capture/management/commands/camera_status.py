"""`manage.py camera_status`: the status endpoint's information, with a fresh camera detection."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from capture.camera.backends import get_backend
from capture.camera.lock import CameraLock
from capture.camera.service import camera_status
from capture.management.console import api_json, server_logs_only_when_verbose


class Command(BaseCommand):
    help = "Look for cameras now and show the backend, the cameras, who holds the camera, and the last capture/error."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--json", action="store_true", help="print GET /api/camera/status's JSON, plus the lock holder"
        )

    def handle(self, *args, **options) -> None:
        # The server caches detection; an operator asking from a shell wants to know about the camera now.
        with server_logs_only_when_verbose(options["verbosity"]):
            detection = get_backend().detect_now()
        status = camera_status(settings.CAMERA_INDEX, detection)
        holder = CameraLock(settings.CAMERA_LOCK_PATH, settings.CAMERA_INDEX).peek()
        if options["json"]:
            status["holder"] = asdict(holder) if holder else None
            self.stdout.write(api_json(status))
            return

        backend = status["backend"] + (" (no real camera: captures are test patterns)" if status["simulated"] else "")
        cameras = [
            f"{cam['index']}: {cam['model']} {cam['width']}x{cam['height']}"
            + (f" {cam['bitDepth']}-bit {cam['cfa']}" if cam.get("bitDepth") else "")
            + f" ({cam['id']})"
            for cam in status["cameras"]
        ]
        if holder:
            busy = f"yes, since {_when(status['busySince'])}: pid {holder.pid}"
            busy += f", capture #{holder.captureId}" if holder.captureId else ""
        else:
            busy = "no"
        last_error = f"{status['lastError']} ({_when(status['lastErrorAt'])})" if status["lastError"] else "none"
        rows = [
            ("backend", backend),
            ("camera detected", "yes" if status["cameraDetected"] else "no" + _reason(detection.error)),
            ("cameras", "; ".join(cameras) or "none"),
            ("busy", busy),
            ("last capture", _when(status["lastCaptureAt"]) if status["lastCaptureAt"] else "never"),
            ("last error", last_error),
        ]
        for label, value in rows:
            self.stdout.write(f"{label + ':':<17}{value}")


def _when(moment: datetime | None) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S %Z") if moment else "unknown"


def _reason(error: str) -> str:
    return f" ({error})" if error else ""
