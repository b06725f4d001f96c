"""Warm stills (CAMERA_WARM_STILLS): a jpg capture with the default size and controls is one trigger of the camera
owner's warm `rpicam-still -s` (capture.lib.owner) instead of a cold start.

Anything else (another size, other controls, a video, no owner, the preview running) is taken cold as always:
the cold capture pre-empts the warm process like the preview, and the owner warms up again afterwards.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from capture import events, offload, storage
from capture.camera.params import control_defaults
from capture.camera.preview import owner_socket
from capture.camera.registry import Camera
from capture.camera.request import CaptureRequest
from capture.errors import CameraBusy, CaptureFailed, CaptureTimeout
from capture.filenames import default_filename
from capture.lib import owner_client
from capture.lib.media_size import pixel_size
from capture.models import Capture

log = logging.getLogger(__name__)


def eligible(camera: Camera, request: CaptureRequest) -> bool:
    """`{}` or `{"format": "jpg"}` with the defaults: what the warm process is set up to take."""
    return (
        settings.CAMERA_WARM_STILLS
        and request.format == "jpg"
        and (request.width, request.height) == (settings.DEFAULT_WIDTH, settings.DEFAULT_HEIGHT)
        and request.duration_sec == settings.DEFAULT_STILL_DURATION_SEC
        and request.controls == control_defaults(camera.index)
    )


def take_warm(camera: Camera, request: CaptureRequest, source: str, schedule_id: int | None = None) -> Capture | None:
    """The capture from the warm process, saved with its event, or None when there is none ready (then take it
    cold). The service checks the upload directory and the free-space floor first, as for a cold capture."""
    requested_at = timezone.now()
    started = time.monotonic()
    try:
        code, answer = owner_client.warm_still(owner_socket(camera), timeout=settings.CAMERA_TIMEOUT_MARGIN_SEC + 15)
    except owner_client.OwnerUnavailable:
        return None
    if code == 503:
        return None
    if code == 409:
        raise CameraBusy()
    if code != 200:
        error = answer.get("error", f"the camera owner answered {code}")
        raise (CaptureTimeout if code == 504 else CaptureFailed)(error)
    temp = Path(answer["path"])
    if temp.parent != Path(settings.MEDIA_ROOT) or not temp.is_file() or temp.stat().st_size == 0:
        raise CaptureFailed("The warm still finished without writing a file")
    width, height = pixel_size(temp) or (None, None)
    size = temp.stat().st_size
    wanted = request.filename or default_filename(
        datetime.now(), request.width, request.height, request.fps, request.duration_sec, "jpg"
    )
    try:
        name = storage.publish(temp, wanted)
    finally:
        temp.unlink(missing_ok=True)
    row = Capture(
        format="jpg",
        width=request.width,
        height=request.height,
        fps=request.fps,
        duration_sec=request.duration_sec,
        requested_filename=request.filename,
        camera_index=camera.index,
        controls=request.controls,
        source=source,
        schedule_id=schedule_id,
        backend=camera.backend.name,
        status=Capture.Status.OK,
        filename=name,
        size_bytes=size,
        file_width=width,
        file_height=height,
        warm=True,
        requested_at=requested_at,
        started_at=requested_at,
        finished_at=timezone.now(),
        camera_ms=answer.get("ms"),
        total_ms=int((time.monotonic() - started) * 1000),
    )
    offload.mark_pending(row)
    events.save_capture_outcome(row)  # the row and its capture.finished event, in one transaction
    return row
