"""Camera backends by name: `rpicam` drives the Raspberry Pi camera apps, `simulated` makes test-pattern files.

CAMERA_BACKEND picks one; `auto` takes rpicam when the camera apps are on PATH, else the simulation (loudly).
"""

from __future__ import annotations

import logging
import shutil

from django.conf import settings

from capture.camera.backends.base import CameraBackend, CameraSession
from capture.camera.backends.rpicam import RpicamBackend
from capture.camera.backends.simulated import SimulatedBackend

__all__ = ["BACKENDS", "CameraBackend", "CameraSession", "build_backend"]

log = logging.getLogger(__name__)

BACKENDS: dict[str, type[CameraBackend]] = {cls.name: cls for cls in (RpicamBackend, SimulatedBackend)}


def build_backend() -> CameraBackend:
    """The configured backend (the camera registry keeps one per process)."""
    choice = settings.CAMERA_BACKEND
    if choice == "auto":
        found = [name for name in settings.RPICAM_STILL_COMMANDS if shutil.which(name)]
        choice = RpicamBackend.name if found else SimulatedBackend.name
        if found:
            log.info("CAMERA_BACKEND=auto: using rpicam (%s found)", found[0])
        else:
            log.warning(
                "CAMERA_BACKEND=auto: no camera apps (%s) on PATH. Using the SIMULATED camera: captures are "
                "generated test patterns, not photos. Install rpicam-apps or set CAMERA_BACKEND.",
                ", ".join(settings.RPICAM_STILL_COMMANDS),
            )
    return BACKENDS[choice].from_settings()
