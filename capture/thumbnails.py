"""Thumbnails and poster frames of captures: made by ffmpeg on first use, then cached on disk.

Where they live is capture.storage's (thumbnail_path(): MEDIA_ROOT/.thumbnails/<filename>.<size>.jpg, a
hidden directory that /uploads never serves); this module makes them. Nothing on the capture path makes them:
a capture stays as fast as the camera allows, and the first page that shows a thumbnail pays for it once. A
thumbnail carries its file's mtime as its own, so a different file under the same name (a name reused after a
delete) gets a new one; comparing mtimes for equality rather than order keeps that true when a Pi without a
clock battery jumps in time.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from django.conf import settings

from capture.lib.ffmpeg import FfmpegNotFound, base_argv, find_ffmpeg
from capture.lib.runner import CommandError, run_command
from capture.models import Capture
from capture.storage import THUMBNAIL_SIZES, failure_marker, thumbnail_path

log = logging.getLogger(__name__)

FFMPEG_TIMEOUT_SEC = 30
RETRY_FAILED_AFTER_SEC = 300  # a file ffmpeg cannot read is not retried on every page view
# ffmpeg decoding 1080p is heavy on a Pi: a page full of new thumbnails makes them two at a time per worker.
_render_slots = threading.BoundedSemaphore(2)


def ensure_thumbnail(capture: Capture, size: str = "small") -> Path | None:
    """The capture's thumbnail (a JPEG `THUMBNAIL_SIZES[size]` pixels wide at most), made now if needed.

    None when there is no file or ffmpeg cannot read it. A video's thumbnail is its poster frame, taken a
    moment in, after the camera's exposure has settled.
    """
    if not capture.filename:
        return None
    source = capture.path
    if source is None:
        return None  # another host's capture: its file is not in this upload directory
    target = thumbnail_path(capture.filename, size)
    try:
        version = source.stat().st_mtime_ns
    except OSError:
        return None
    if _version_of(target) == version:
        return target
    if _recent_failure(target, version):
        return None
    with _render_slots:
        if _version_of(target) == version:  # another thread made it while this one waited
            return target
        return _render(capture, source, target, THUMBNAIL_SIZES[size], version)


def thumbnail_argv(ffmpeg: str, source: Path, output: Path, width: int, offset_sec: float) -> list[str]:
    seek = ["-ss", f"{offset_sec:.3f}"] if offset_sec else []
    return [
        *base_argv(ffmpeg),
        *seek,
        "-i", str(source),
        "-frames:v", "1",
        "-vf", f"scale='min({width},iw)':-2",
        "-q:v", "4",
        "-f", "image2",
        "-update", "1",
        str(output),
    ]  # fmt: skip


def _render(capture: Capture, source: Path, target: Path, width: int, version: int) -> Path | None:
    target.parent.mkdir(exist_ok=True)
    temporary = target.with_name(f".{os.getpid()}-{threading.get_ident()}-{target.name}")
    # Half a second in (or the middle of a shorter clip); the first frame if seeking finds nothing.
    offsets = [min(0.5, capture.duration_sec / 2), 0.0] if capture.format != Capture.Format.JPG else [0.0]
    try:
        ffmpeg = find_ffmpeg(settings.FFMPEG_BINARY)
        for offset in offsets:
            try:
                argv = thumbnail_argv(ffmpeg, source, temporary, width, offset)
                run_command(argv, timeout=FFMPEG_TIMEOUT_SEC)
            except CommandError as exc:
                log.warning("thumbnail of %s at %.1f s failed: %s", capture.filename, offset, exc)
                continue
            if temporary.exists() and temporary.stat().st_size > 0:
                os.utime(temporary, ns=(version, version))
                os.replace(temporary, target)  # atomic: a reader sees the old file or the whole new one
                failure_marker(target).unlink(missing_ok=True)
                return target
    except FfmpegNotFound as exc:
        log.warning("no thumbnail for %s: %s", capture.filename, exc)
    finally:
        temporary.unlink(missing_ok=True)
    failure_marker(target).write_text(f"{version} {time.time()}")
    return None


def _version_of(thumbnail: Path) -> int | None:
    try:
        return thumbnail.stat().st_mtime_ns
    except OSError:
        return None


def _recent_failure(target: Path, version: int) -> bool:
    """ffmpeg failed on this very file a short while ago."""
    try:
        failed_version, failed_at = failure_marker(target).read_text().split()
        return int(failed_version) == version and time.time() - float(failed_at) < RETRY_FAILED_AFTER_SEC
    except (OSError, ValueError):
        return False
