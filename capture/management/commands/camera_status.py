"""`manage.py camera_status`: the status endpoint's information, with a fresh camera detection."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from capture.camera.detection import Detection
from capture.camera.registry import get_camera
from capture.camera.status import camera_status
from capture.management.console import api_json, server_logs_only_when_verbose


class Command(BaseCommand):
    help = "Look for cameras now and show the backend, the cameras, who holds the camera, and the last capture/error."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--camera", type=int, default=settings.CAMERA_INDEX, help=f"camera index (default {settings.CAMERA_INDEX})"
        )
        parser.add_argument(
            "--json", action="store_true", help="print GET /api/cameras/<n>/status's JSON, plus the lock holder"
        )

    def handle(self, *args, **options) -> None:
        # The server caches detection; an operator asking from a shell wants to know about the camera now. The
        # listing goes through the shared detection, so it never runs beside a capture (it is skipped, and the
        # last listing shown, while a camera is busy).
        with server_logs_only_when_verbose(options["verbosity"]):
            camera = get_camera(options["camera"])
            detection = _detect_now(camera)
            status = camera_status(camera, detection)
        holder = camera.lock.peek()
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
            ("camera", str(camera.index)),
            ("backend", backend),
            ("camera detected", "yes" if status["cameraDetected"] else "no" + _reason(detection.error)),
            ("cameras", "; ".join(cameras) or "none"),
            ("busy", busy),
            ("last capture", _when(status["lastCaptureAt"]) if status["lastCaptureAt"] else "never"),
            ("last error", last_error),
        ]
        for label, value in rows:
            self.stdout.write(f"{label + ':':<17}{value}")


def _detect_now(camera) -> Detection:
    if camera.backend.static_detection() is not None:
        return camera.backend.static_detection()
    shared = camera.shared_detection
    known = shared.last()
    indexes = sorted(set(known.indexes() if known else []) | {0, camera.index})
    # None when a camera is busy or another process is listing right now: then the last listing is shown.
    fresh = shared.refresh(shared.locks_for(indexes))
    return fresh or shared.current(wait=True)


def _when(moment: str | None) -> str:
    """An ISO time from the status JSON, in the server's local time."""
    if not moment:
        return "unknown"
    return timezone.localtime(datetime.fromisoformat(moment.replace("Z", "+00:00"))).strftime("%Y-%m-%d %H:%M:%S %Z")


def _reason(error: str) -> str:
    return f" ({error})" if error else ""
