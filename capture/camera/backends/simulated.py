"""The embedded simulated camera, for machines without one.

Each capture runs capture/camera/backends/simcam.py as the camera process: it takes the requested wall time (so the
lock, 409s and timeouts behave as on hardware), then has ffmpeg render a labelled test pattern at the
requested size, fps and duration. Status reports backend "simulated" and no detected camera, so nobody
mistakes it for a real one.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

from capture.camera.backends.base import CameraBackend, CameraSession, CaptureRequest, Detection
from capture.lib.ffmpeg import find_ffmpeg

SIMCAM = Path(__file__).with_name("simcam.py")
SIMULATED_CAMERA = {
    "index": 0,
    "model": "simulated",
    "width": 1920,
    "height": 1080,
    "bitDepth": None,
    "cfa": None,
    "id": "simulated",
}


class SimulatedBackend(CameraBackend):
    name = "simulated"
    simulated = True

    def __init__(self, ffmpeg: str, speed: float) -> None:
        super().__init__()
        self.ffmpeg = ffmpeg
        self.speed = speed
        self._detection = self.detect_now()

    def capture(self, request: CaptureRequest, output: Path, session: CameraSession) -> None:
        argv = [
            sys.executable, str(SIMCAM),
            "--ffmpeg", find_ffmpeg(self.ffmpeg),
            "--format", request.format,
            "--width", str(request.width),
            "--height", str(request.height),
            "--fps", str(request.fps),
            "--duration", str(request.duration_sec),
            "--speed", str(self.speed),
            "--output", output.name,
        ]  # fmt: skip
        # Software encoding is slow on a Pi, so rendering gets its own allowance on top of the camera budget.
        render_allowance = 5 + (request.duration_sec if request.is_video else 0)
        session.run_camera(argv, stop_signals=[signal.SIGINT, signal.SIGTERM], extra_sec=render_allowance)

    def detect_now(self) -> Detection:
        return Detection(False, [SIMULATED_CAMERA], time.time())

    def detection(self) -> Detection:
        return self._detection

    def note_capture_outcome(self, camera_worked: bool) -> None:
        pass  # nothing to learn: the simulated camera always exists and is never a real one
