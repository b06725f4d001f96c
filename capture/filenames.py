"""Capture file names: sanitising what clients send, and default names. Publishing them is capture.storage's."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from capture.formats import known_extensions

MAX_STEM_LENGTH = 100
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class BadFilename(ValueError):
    pass


def sanitize_filename(raw: str, extension: str) -> str:
    """A safe plain file name ending in `.extension`, or BadFilename saying what is wrong.

    Characters outside [A-Za-z0-9._-] become `_` (as in the Node server). Paths are refused rather than
    flattened, so `../x.jpg` is an error, not a silent rename. The extension may be left out; if given it
    must match the format.
    """
    # NFKC folds look-alikes (fullwidth ／, ．) into the ASCII they imitate before any check.
    name = unicodedata.normalize("NFKC", raw).strip()
    if "\x00" in name:
        raise BadFilename("must not contain NUL bytes")
    if "/" in name or "\\" in name:
        raise BadFilename("must be a plain file name, not a path")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    if ext and ext.lower() != extension:
        if ext.lower() in known_extensions():
            raise BadFilename(f"extension .{ext} does not match format {extension}")
        stem = name  # a dot inside the name (`shot.v2`), not an extension
    stem = _UNSAFE.sub("_", stem).strip("._-")
    if not stem:
        raise BadFilename("has no usable characters (allowed: letters, digits, '.', '_', '-')")
    if len(stem) > MAX_STEM_LENGTH:
        raise BadFilename(f"is too long (at most {MAX_STEM_LENGTH} characters before the extension)")
    return f"{stem}.{extension}"


def default_filename(when: datetime, width: int, height: int, fps: int, duration_sec: float, extension: str) -> str:
    """`YYYYMMDD_HHMMSS_{w}x{h}_{fps}fps_{dur}s.{ext}`, in the Pi's local time like the Node server."""
    return f"{when:%Y%m%d_%H%M%S}_{width}x{height}_{fps}fps_{duration_sec:g}s.{extension}"
