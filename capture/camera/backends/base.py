"""What every camera backend provides, and the session through which it runs commands."""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

EXTENSIONS = {"jpg": "jpg", "h264": "h264", "mp4": "mp4"}


@dataclass(frozen=True)
class CaptureRequest:
    """Validated capture parameters."""

    format: str
    width: int
    height: int
    fps: int
    duration_sec: float
    filename: str = ""  # the sanitised name asked for; empty means a default name
    camera: int = 0

    @property
    def duration_ms(self) -> int:
        return max(1, round(self.duration_sec * 1000))

    @property
    def is_video(self) -> bool:
        return self.format in ("h264", "mp4")


@dataclass
class Detection:
    """The result of looking for cameras."""

    detected: bool | None  # None until the first detection has finished
    cameras: list[dict] = field(default_factory=list)
    checked_at: float | None = None
    error: str = ""


class CameraSession(Protocol):
    """Provided by the capture service: runs commands under the held camera lock and records them."""

    def temp_path(self, extension: str) -> Path: ...

    def run_camera(self, argv: Sequence[str], *, stop_signals: Sequence[int], extra_sec: float = 0) -> None: ...

    def run_remux(self, argv: Sequence[str]) -> None: ...


class CameraBackend(ABC):
    name: str
    simulated: bool = False

    def __init__(self, detect_ttl: float = 60) -> None:
        self._detect_ttl = detect_ttl
        self._detection = Detection(detected=None)
        self._detect_guard = threading.Lock()
        self._detecting = False

    @abstractmethod
    def capture(self, request: CaptureRequest, output: Path, session: CameraSession) -> None:
        """Record `request` into `output` (a temporary path inside MEDIA_ROOT), or raise."""

    @abstractmethod
    def detect_now(self) -> Detection:
        """Look for cameras; may run a subprocess, so never call it on a request path."""

    # --- Cached detection: status reads it and never waits for a subprocess. ---

    def detection(self) -> Detection:
        """The last known detection; starts a background refresh when it is older than the TTL."""
        checked = self._detection.checked_at
        if checked is None or time.time() - checked > self._detect_ttl:
            self.refresh_detection_in_background()
        return self._detection

    def refresh_detection_in_background(self) -> None:
        with self._detect_guard:
            if self._detecting:
                return
            self._detecting = True
        threading.Thread(target=self._refresh_detection, name="camera-detection", daemon=True).start()

    def note_capture_outcome(self, camera_worked: bool) -> None:
        """A capture is the best detection there is: record it without running anything."""
        if camera_worked:
            self._detection = Detection(True, self._detection.cameras, time.time())
        else:
            self.refresh_detection_in_background()

    def _refresh_detection(self) -> None:
        try:
            self._detection = self.detect_now()
        except Exception as exc:  # a broken camera stack must not kill the thread silently
            log.exception("camera detection failed")
            self._detection = Detection(False, [], time.time(), str(exc))
        finally:
            with self._detect_guard:
                self._detecting = False
