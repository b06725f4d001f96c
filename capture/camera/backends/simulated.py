"""The embedded simulated camera, for machines without one.

Each capture runs capture/camera/backends/simcam.py as the camera process: it takes the requested wall time (so
the lock, 409s and timeouts behave as on hardware), then has ffmpeg render a test pattern labelled "SIMULATED
CAMERA <index>" at the requested size, fps and duration, with the rotation and flips applied; the other
controls are only recorded on the row. Status reports backend "simulated" and no detected camera, so nobody
mistakes it for a real one.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

from django.conf import settings

from capture.camera.backends.base import CameraBackend, CameraSession
from capture.camera.detection import Detection
from capture.camera.request import CaptureRequest
from capture.lib.ffmpeg import find_ffmpeg

SIMCAM = Path(__file__).with_name("simcam.py")


def simulated_camera(index: int) -> dict:
    return {
        "index": index,
        "model": "simulated",
        "width": 1920,
        "height": 1080,
        "bitDepth": None,
        "cfa": None,
        "id": f"simulated{index}",
        "modes": [],
    }


class SimulatedBackend(CameraBackend):
    name = "simulated"
    simulated = True

    def __init__(self, ffmpeg: str, speed: float, cameras: int) -> None:
        self.ffmpeg = ffmpeg
        self.speed = speed
        self._detection = Detection(False, [simulated_camera(index) for index in range(cameras)], time.time())

    @classmethod
    def from_settings(cls) -> SimulatedBackend:
        return cls(settings.FFMPEG_BINARY, settings.SIMULATED_SPEED, settings.SIMULATED_CAMERAS)

    def capture(self, request: CaptureRequest, output: Path, session: CameraSession) -> dict | None:
        controls = request.controls
        # Rotation 180 is both flips, as on the real apps.
        hflip = bool(controls.get("hflip")) != (controls.get("rotation") == 180)
        vflip = bool(controls.get("vflip")) != (controls.get("rotation") == 180)
        argv = [
            sys.executable, str(SIMCAM),
            "--ffmpeg", find_ffmpeg(self.ffmpeg),
            "--camera", str(request.camera),
            "--format", request.format,
            "--width", str(request.width),
            "--height", str(request.height),
            "--fps", str(request.fps),
            "--duration", str(request.duration_sec),
            "--speed", str(self.speed),
            "--output", output.name,
        ]  # fmt: skip
        argv += ["--hflip"] * hflip + ["--vflip"] * vflip
        if "quality" in controls:
            argv += ["--quality", str(controls["quality"])]
        # Software encoding is slow on a Pi: capture.camera.budget gives the rendering its own allowance.
        session.run_camera(argv, stop_signals=[signal.SIGINT, signal.SIGTERM])
        return None

    def preview_argv(self, camera: int, width: int, height: int, fps: int, controls: dict) -> list[str]:
        # ffmpeg's moving test pattern, paced at the frame rate (-re) like a camera.
        flips = [name for name in ("hflip", "vflip") if bool(controls.get(name)) != (controls.get("rotation") == 180)]
        return [
            find_ffmpeg(self.ffmpeg), "-hide_banner", "-loglevel", "error", "-nostdin",
            "-re", "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}",
            *(["-vf", ",".join(flips)] if flips else []),
            "-c:v", "mjpeg", "-q:v", "5", "-pix_fmt", "yuvj420p", "-f", "mjpeg", "pipe:1",
        ]  # fmt: skip

    def detect_now(self) -> Detection:
        return self._detection

    def static_detection(self) -> Detection:
        return self._detection
