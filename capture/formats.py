"""The capture formats, declared once: file names, /uploads, the analyzer and the backends all read this table.

No Django here, so the stdlib-only parts (the simulated camera process, the supervisor) may use it too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    name: str  # what the API's `format` says
    label: str
    extension: str  # of the published file
    mime: str  # what /uploads sends
    video: bool
    app: str  # which camera app records it: "still" (rpicam-still) or "vid" (rpicam-vid)
    # Other spellings of the extension that a requested filename may carry (`shot.jpeg` for jpg).
    aliases: tuple[str, ...] = ()


FORMATS: dict[str, Format] = {
    fmt.name: fmt
    for fmt in (
        Format("jpg", "JPEG still", "jpg", "image/jpeg", video=False, app="still", aliases=("jpeg",)),
        Format("h264", "H.264 stream", "h264", "video/h264", video=True, app="vid", aliases=("264",)),
        Format("mp4", "MP4 video", "mp4", "video/mp4", video=True, app="vid"),
    )
}
DEFAULT_FORMAT = "jpg"
FORMAT_NAMES = tuple(FORMATS)  # the API's `format` choices (one name for them in the OpenAPI schema)


def format_of(filename: str) -> Format | None:
    """The format a file name's extension says, or None (`x.JPEG` is jpg)."""
    _, dot, ext = filename.rpartition(".")
    if not dot:
        return None
    ext = ext.lower()
    return next((fmt for fmt in FORMATS.values() if ext == fmt.extension or ext in fmt.aliases), None)


def mime_type(filename: str) -> str | None:
    fmt = format_of(filename)
    return fmt.mime if fmt else None


def known_extensions() -> tuple[str, ...]:
    """Every extension (with aliases) that names a capture format, without dots."""
    return tuple(ext for fmt in FORMATS.values() for ext in (fmt.extension, *fmt.aliases))
