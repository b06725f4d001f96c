"""The cameras of this Pi as objects: `get_camera(index)`.

A Camera holds its backend (one per process, shared: the camera apps are the same for each camera), its own
keyed lock and its detection (one shared listing of all cameras, see capture.camera.detection). Its control
defaults are the capture parameters' business (capture.camera.params.control_defaults). The registry is built
on first use and rebuilt when a camera setting changes (tests change settings; `reset_cameras()` is for them).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from django.conf import settings
from django.core.signals import setting_changed

from capture.camera.backends import CameraBackend, build_backend
from capture.camera.detection import Detection, SharedDetection
from capture.camera.lock import CameraLock
from capture.errors import CameraBusy

# Camera models with a motorised lens, and with the sensor's own HDR (Camera Module 3 is the imx708).
AUTOFOCUS_MODELS = {"imx708", "imx519", "imx682", "ov64a40"}
SENSOR_HDR_MODELS = {"imx708"}
DETECTION_WAIT_SEC = 12.0  # the first status after start waits this long at most for the first listing
MAX_CAMERA_INDEX = 63  # libcamera has no limit; this keeps lock file names and the API's bounds sane

_guard = threading.Lock()
_state: dict[str, object] = {}


@dataclass
class Camera:
    index: int
    backend: CameraBackend
    lock: CameraLock
    shared_detection: SharedDetection

    def detection(self, *, wait: bool = False) -> Detection:
        """The listing this camera's facts come from (cached; see capture.camera.detection)."""
        return self.backend.static_detection() or self.shared_detection.current(wait=wait)

    def info(self, detection: Detection | None = None) -> dict | None:
        """This camera's entry in the listing (model, id, size, modes), or None when it isn't there."""
        return (detection or self.detection()).camera(self.index)

    def detected(self, detection: Detection | None = None) -> bool | None:
        detection = detection or self.detection()
        if self.backend.simulated or detection.detected is None:
            return detection.detected
        return detection.camera(self.index) is not None

    @property
    def model(self) -> str:
        info = self.info(self.detection(wait=True))
        return info["model"] if info else "unknown"

    @property
    def has_autofocus(self) -> bool:
        return self.model in AUTOFOCUS_MODELS

    @property
    def has_sensor_hdr(self) -> bool:
        return self.model in SENSOR_HDR_MODELS


def get_camera(index: int | None = None) -> Camera:
    """The camera with this index (default: CAMERA_INDEX). It may not be connected: see `detected()`."""
    index = settings.CAMERA_INDEX if index is None else index
    with _guard:
        cameras = _state.setdefault("cameras", {})
        if index not in cameras:
            backend = _backend()
            cameras[index] = Camera(index, backend, camera_lock(index), _shared_detection(backend))
        return cameras[index]


def known_camera_indexes() -> list[int]:
    """The indexes the last listing found ([] before the first, or when it found none)."""
    return get_camera().detection(wait=True).indexes()


def all_cameras() -> list[Camera]:
    """Every detected camera, plus the default one (which the seed's routes use even when it isn't there)."""
    indexes = sorted(set(known_camera_indexes()) | {settings.CAMERA_INDEX})
    return [get_camera(index) for index in indexes]


def camera_lock(index: int) -> CameraLock:
    return CameraLock(settings.CAMERA_LOCK_PATH, index, busy_error=CameraBusy)


def warm_detection() -> None:
    """Start looking for cameras now, in the background, so the first status already knows (web workers)."""
    camera = get_camera()
    if camera.backend.static_detection() is None:
        camera.shared_detection.current()


def reset_cameras() -> None:
    """Forget the cameras and the backend (tests; also on any change of a camera setting)."""
    with _guard:
        _state.clear()


def _backend() -> CameraBackend:
    if "backend" not in _state:
        _state["backend"] = build_backend()
    return _state["backend"]


def _shared_detection(backend: CameraBackend) -> SharedDetection:
    if "detection" not in _state:
        _state["detection"] = SharedDetection(
            backend.detect_now,
            settings.CAMERA_LOCK_PATH,
            lambda indexes: [camera_lock(index) for index in indexes],
            ttl_sec=settings.CAMERA_DETECT_TTL_SEC,
            wait_sec=DETECTION_WAIT_SEC,
        )
    return _state["detection"]


def _reset_on_camera_settings(setting: str, **kwargs) -> None:
    if setting.startswith(("CAMERA_", "RPICAM_", "SIMULATED_", "FFMPEG_")):
        reset_cameras()


setting_changed.connect(_reset_on_camera_settings)
