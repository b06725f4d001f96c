"""The Django side of the camera owner (capture.lib.owner): its config, its status, and asking it to yield."""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings
from django.urls import reverse

from capture.camera.lock import Holder
from capture.camera.params import control_defaults
from capture.camera.registry import Camera, all_cameras
from capture.lib import owner_client
from capture.lib.owner import OwnerConfig

log = logging.getLogger(__name__)

STOPPED = {"state": "stopped", "viewers": 0, "fps": 0.0}
WARM_PREFIX = ".warm-"  # hidden, like every file being written (capture.storage)


def owner_socket(camera: Camera) -> Path:
    return owner_client.socket_path(Path(settings.PREVIEW_SOCKET_DIR) / camera.lock.path.name)


def warm_stills_enabled(index: int) -> bool:
    """Whether camera `index` keeps a warm still process: CAMERA_<N>_WARM_STILLS, else CAMERA_WARM_STILLS."""
    return settings.CAMERA_WARM_STILLS_BY_CAMERA.get(index, settings.CAMERA_WARM_STILLS)


def owner_config(camera: Camera) -> OwnerConfig:
    return OwnerConfig(
        camera=camera.index,
        lock_path=str(settings.CAMERA_LOCK_PATH),
        socket_path=str(owner_socket(camera)),
        preview_argv=camera.backend.preview_argv(
            camera.index,
            settings.PREVIEW_WIDTH,
            settings.PREVIEW_HEIGHT,
            settings.PREVIEW_FPS,
            control_defaults(camera.index),
        ),
        fps=settings.PREVIEW_FPS,
        idle_sec=settings.PREVIEW_IDLE_SEC,
        kill_grace_sec=settings.CAMERA_KILL_GRACE_SEC,
        warm_argv=camera.backend.warm_still_argv(
            camera.index,
            settings.DEFAULT_WIDTH,
            settings.DEFAULT_HEIGHT,
            control_defaults(camera.index),
            f"{WARM_PREFIX}{camera.index}-%03d.jpg",
        )
        if warm_stills_enabled(camera.index)
        else None,
        warm_dir=str(settings.MEDIA_ROOT),
    )


def preview_status(camera: Camera) -> dict:
    """`{state, viewers, fps}` from the camera's owner; stopped when it has none (or it is slow to answer)."""
    try:
        answer = owner_client.status(owner_socket(camera), timeout=0.3)
    except (owner_client.OwnerUnavailable, ValueError):
        return dict(STOPPED)
    return {"state": answer.get("state", "stopped"), "viewers": answer.get("viewers", 0), "fps": answer.get("fps", 0.0)}


def yield_camera(camera: Camera):
    """The lock's `preempt` callback for captures: ask the camera's owner to release it."""

    def ask(holder: Holder) -> None:
        try:
            owner_client.ask_to_yield(owner_socket(camera), timeout=settings.PREVIEW_YIELD_SEC)
            log.info("camera %d: the preview (owner pid %d) gave the camera up for a capture", camera.index, holder.pid)
        except owner_client.OwnerUnavailable as exc:
            log.warning("camera %d: could not ask the preview to yield: %s", camera.index, exc)

    return ask


def live_views() -> list[dict]:
    """Each camera's live view for the admin's capture list: its stream URL and its preview's state (an owner
    that doesn't run gets no picture, only the reason)."""
    views = []
    for camera in all_cameras():
        try:
            answer = owner_client.status(owner_socket(camera), timeout=0.3)
            state = answer.get("state", "stopped")
        except (owner_client.OwnerUnavailable, ValueError):
            state = None
        views.append(
            {
                "index": camera.index,
                "state": state,
                "stream_url": reverse("camera-stream", kwargs={"index": camera.index}),
                "snapshot_url": reverse("camera-snapshot", kwargs={"index": camera.index}),
            }
        )
    return views
