"""Capture rows and real captures for the admin and thumbnail tests."""

from __future__ import annotations

from django.utils import timezone

from capture.camera.request import CaptureRequest
from capture.camera.service import CaptureService
from capture.models import Capture


def make_row(**fields) -> Capture:
    """A Capture row as the service writes it, without running the camera (and so without a file)."""
    return Capture.objects.create(**row_fields(**fields))


def row_fields(**fields) -> dict:
    defaults = {
        "format": "jpg",
        "width": 640,
        "height": 480,
        "fps": 30,
        "duration_sec": 1.0,
        "status": Capture.Status.OK,
        "source": Capture.Source.API,
        "backend": "simulated",
        "requested_at": timezone.now(),
        "total_ms": 1000,
    }
    return {**defaults, **fields}


def take(fmt: str = "jpg", *, width: int = 320, height: int = 240, duration: float = 1.0, filename: str = ""):
    """A real capture from the simulated camera, through the service."""
    request = CaptureRequest(format=fmt, width=width, height=height, fps=10, duration_sec=duration, filename=filename)
    return CaptureService().capture(request, Capture.Source.API)
