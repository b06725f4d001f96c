"""Removing a capture's files from disk: the published file and its cached thumbnails."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from capture.models import Capture
from capture.thumbnails import cached_files


def delete_capture_files(capture: Capture) -> tuple[int, int]:
    """Delete the capture's file and cached thumbnails; return (files, thumbnails) actually removed."""
    if not capture.filename or "/" in capture.filename or capture.filename.startswith("."):
        return 0, 0  # no file, or a name /uploads would never have published: touch nothing
    files = _unlink(settings.MEDIA_ROOT / capture.filename)
    removed = [path for path in cached_files(capture.filename) if _unlink(path)]
    return files, sum(1 for path in removed if path.suffix == ".jpg")  # failure markers aren't thumbnails


def _unlink(path: Path) -> int:
    try:
        path.unlink()
    except FileNotFoundError:
        return 0
    return 1
