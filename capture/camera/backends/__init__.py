"""Camera backends: `rpicam` drives the Raspberry Pi camera apps, `simulated` makes test-pattern files."""

from __future__ import annotations

import functools
import logging
import os
import shutil

from django.conf import settings

from capture.camera.backends.base import CameraBackend, CameraSession, CaptureRequest, Detection
from capture.camera.backends.rpicam import RpicamBackend
from capture.camera.backends.simulated import SimulatedBackend

__all__ = ["CameraBackend", "CameraSession", "CaptureRequest", "Detection", "get_backend"]

log = logging.getLogger(__name__)


def get_backend() -> CameraBackend:
    """The configured backend; one instance per configuration, so its caches live as long as the process."""
    return _build_backend(
        settings.CAMERA_BACKEND,
        tuple(settings.RPICAM_STILL_COMMANDS),
        tuple(settings.RPICAM_VID_COMMANDS),
        tuple(settings.RPICAM_HELLO_COMMANDS),
        settings.FFMPEG_BINARY,
        settings.SIMULATED_SPEED,
        settings.CAMERA_DETECT_TTL_SEC,
        # `auto` looks the camera apps up on PATH, so a different PATH is a different backend.
        os.environ.get("PATH", ""),
    )


@functools.lru_cache(maxsize=8)
def _build_backend(
    choice: str,
    still_commands: tuple[str, ...],
    vid_commands: tuple[str, ...],
    hello_commands: tuple[str, ...],
    ffmpeg: str,
    simulated_speed: float,
    detect_ttl: float,
    path: str,
) -> CameraBackend:
    if choice == "auto":
        found = [name for name in still_commands if shutil.which(name, path=path)]
        choice = "rpicam" if found else "simulated"
        if found:
            log.info("CAMERA_BACKEND=auto: using rpicam (%s found)", found[0])
        else:
            log.warning(
                "CAMERA_BACKEND=auto: no camera apps (%s) on PATH. Using the SIMULATED camera: captures are "
                "generated test patterns, not photos. Install rpicam-apps or set CAMERA_BACKEND.",
                ", ".join(still_commands),
            )
    if choice == "rpicam":
        return RpicamBackend(still_commands, vid_commands, hello_commands, ffmpeg, detect_ttl)
    return SimulatedBackend(ffmpeg, simulated_speed)
