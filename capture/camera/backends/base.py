"""What every camera backend provides, and the session through which it runs commands."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from capture.camera.detection import Detection
from capture.camera.request import CaptureRequest


class CameraSession(Protocol):
    """Provided by the capture service: runs commands under the held camera lock and records them."""

    def temp_path(self, extension: str) -> Path: ...

    def run_camera(self, argv: Sequence[str], *, stop_signals: Sequence[int]) -> None: ...

    def run_remux(self, argv: Sequence[str]) -> None: ...


class CameraBackend(ABC):
    """One per process, shared by all cameras: the camera apps (or the simulation) are the same for each.

    A backend declares its `name` (the CAMERA_BACKEND value) and builds itself from settings, so a new backend
    is one module plus one line in capture.camera.backends.BACKENDS."""

    name: str
    simulated: bool = False

    @classmethod
    @abstractmethod
    def from_settings(cls) -> CameraBackend: ...

    @abstractmethod
    def capture(self, request: CaptureRequest, output: Path, session: CameraSession) -> dict | None:
        """Record `request` into `output` (a temporary path inside MEDIA_ROOT), or raise. Returns what the
        camera reported about the shot (exposure, gains, ...) when it reports anything."""

    @abstractmethod
    def preview_argv(self, camera: int, width: int, height: int, fps: int, controls: dict) -> list[str]:
        """The camera process of the live preview: concatenated JPEGs on stdout until SIGINT."""

    def warm_still_argv(self, camera: int, width: int, height: int, controls: dict, output: str) -> list[str] | None:
        """A still process that waits for SIGUSR1 triggers (warm stills), or None when the backend has none."""
        return None

    @abstractmethod
    def detect_now(self) -> Detection:
        """Look for cameras; may run a subprocess, so never call it on a request path."""

    def static_detection(self) -> Detection | None:
        """A detection that needs no process (the simulation); None means "ask detect_now, in the background"."""
        return None
