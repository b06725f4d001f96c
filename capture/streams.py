"""The live preview over HTTP: `/api/cameras/<n>/stream.mjpg` and `/snapshot.jpg`, and mjpg-streamer's URLs
for the default camera (`/stream.mjpg`, `/snapshot.jpg`, `/?action=stream`, `/?action=snapshot`).

The camera's owner (capture.lib.owner) makes the frames; these views check access, then get the stream to the
client without holding a web server thread for as long as it watches:
- behind the installed nginx site (it sends `X-Accel-Preview`), an X-Accel-Redirect to an internal location
  that proxies the owner's Unix socket;
- on gunicorn alone (`make run`), the client's socket is handed to the owner (capture.lib.owner_client.hand_over),
  and the thread returns at once;
- otherwise (the test client, runserver) the thread proxies the stream itself.
"""

from __future__ import annotations

import logging
import socket
import tempfile
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.http import require_safe

from capture import storage, tokens
from capture.camera.preview import owner_socket
from capture.camera.registry import Camera, get_camera, known_camera_indexes
from capture.lib import mjpeg, owner_client
from capture.lib.media_size import pixel_size
from capture.models import ApiToken, Capture

log = logging.getLogger(__name__)

STREAM = ApiToken.Scope.STREAM.value
NO_STORE = "no-cache, no-store, must-revalidate"


@require_safe
def camera_stream(request: HttpRequest, index: int) -> HttpResponse:
    camera, refused = _camera_for(request, index)
    if refused is not None:
        return refused
    return _stream(request, camera)


@require_safe
def camera_snapshot(request: HttpRequest, index: int) -> HttpResponse:
    camera, refused = _camera_for(request, index)
    if refused is not None:
        return refused
    return _snapshot(request, camera)


@require_safe
def default_stream(request: HttpRequest) -> HttpResponse:
    return camera_stream(request, settings.CAMERA_INDEX)


@require_safe
def default_snapshot(request: HttpRequest) -> HttpResponse:
    return camera_snapshot(request, settings.CAMERA_INDEX)


def _camera_for(request: HttpRequest, index: int) -> tuple[Camera | None, HttpResponse | None]:
    """The camera, or the refusal: 401/403 without the stream scope (an admin session will do), 404 for a
    camera this Pi doesn't have."""
    if not (request.user.is_authenticated and request.user.is_staff):
        refused = tokens.refusal(request, scope=STREAM)
        if refused is not None:
            return None, refused
    if index != settings.CAMERA_INDEX and index not in known_camera_indexes():
        listed = ", ".join(str(i) for i in known_camera_indexes()) or "none"
        return None, _error(404, f"No camera {index}: the cameras are {listed}")
    return get_camera(index), None


def _stream(request: HttpRequest, camera: Camera) -> HttpResponse:
    path = owner_socket(camera)
    try:
        owner_client.status(path, timeout=1.0)
    except (owner_client.OwnerUnavailable, ValueError):
        return _no_owner(camera)
    accel = request.headers.get("X-Accel-Preview")
    if accel:
        # nginx proxies the owner's socket itself (deploy/nginx/camsite.conf); only after the checks above.
        redirect = f"{accel}{camera.index}/stream.mjpg"
        return HttpResponse(headers={"X-Accel-Redirect": redirect, "Cache-Control": NO_STORE})
    client = request.META.get("gunicorn.socket")
    if isinstance(client, socket.socket) and request.method == "GET":
        try:
            owner_client.hand_over(path, client, "GET /stream.mjpg")
        except owner_client.OwnerUnavailable:
            return _no_owner(camera)
        # Never reaches the client: its socket is the owner's now, ours a dead end (see hand_over).
        return HttpResponse(status=200, headers={"Connection": "close"})
    try:
        content_type, chunks = owner_client.stream(path)
    except owner_client.OwnerUnavailable:
        return _no_owner(camera)
    if request.method == "HEAD":
        chunks.close()
        return HttpResponse(content_type=content_type, headers={"Cache-Control": NO_STORE})
    response = StreamingHttpResponse(chunks, content_type=content_type or mjpeg.STREAM_CONTENT_TYPE)
    response["Cache-Control"] = NO_STORE
    return response


def _snapshot(request: HttpRequest, camera: Camera) -> HttpResponse:
    try:
        status, content_type, body = owner_client.snapshot(owner_socket(camera))
    except owner_client.OwnerUnavailable:
        return _no_owner(camera)
    if status != 200 or content_type != "image/jpeg":
        return _error(503, f"Camera {camera.index} sent no picture (see GET /api/cameras/{camera.index}/status)")
    headers = {"Cache-Control": NO_STORE}
    if request.GET.get("save") in ("1", "true") and request.method == "GET":
        row = save_snapshot(camera, body)
        headers["X-Capture-Id"] = str(row.pk)
        headers["Content-Location"] = row.url
    return HttpResponse(b"" if request.method == "HEAD" else body, content_type="image/jpeg", headers=headers)


def save_snapshot(camera: Camera, frame: bytes) -> Capture:
    """Store a snapshot as a capture (source `snapshot`), published like any other (never a partial file)."""
    now = timezone.now()
    storage.check_upload_dir()
    with tempfile.NamedTemporaryFile(dir=settings.MEDIA_ROOT, prefix=".snapshot-", suffix=".jpg", delete=False) as f:
        f.write(frame)
        temp = Path(f.name)
    try:
        width, height = pixel_size(temp) or (settings.PREVIEW_WIDTH, settings.PREVIEW_HEIGHT)
        name = storage.publish(temp, f"snapshot_{datetime.now():%Y-%m-%d_%H-%M-%S-%f}_{width}x{height}.jpg")
    finally:
        temp.unlink(missing_ok=True)
    return Capture.objects.create(
        format="jpg",
        width=width,
        height=height,
        file_width=width,
        file_height=height,
        fps=settings.PREVIEW_FPS,
        duration_sec=0,
        camera_index=camera.index,
        source=Capture.Source.SNAPSHOT,
        backend=camera.backend.name,
        status=Capture.Status.OK,
        filename=name,
        size_bytes=len(frame),
        requested_at=now,
        started_at=now,
        finished_at=timezone.now(),
        total_ms=0,
    )


def _no_owner(camera: Camera) -> JsonResponse:
    return _error(
        503,
        f"No live preview for camera {camera.index}: its owner is not running "
        f"(`manage.py serve` starts it; on a Pi, camsite-owner@{camera.index}.service)",
    )


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"ok": False, "error": message}, status=status)
