"""MJPEG helpers shared by the camera owner and its clients (stdlib only).

A camera's `--codec mjpeg -o -` output is concatenated JPEGs; JpegSplitter cuts it into frames. Browsers,
Home Assistant, OctoPrint and Klipper read a stream as `multipart/x-mixed-replace` (mjpg-streamer's format),
one part per frame.
"""

from __future__ import annotations

SOI = b"\xff\xd8"
EOI = b"\xff\xd9"
BOUNDARY = "frame"
STREAM_CONTENT_TYPE = f"multipart/x-mixed-replace; boundary={BOUNDARY}"
MAX_FRAME_BYTES = 8 * 1024 * 1024  # far above a 640x480 frame; a stream without EOI can't grow without bound


class JpegSplitter:
    """Feed bytes in, get complete JPEGs out. A JPEG's entropy-coded data never contains FF D9 (0xFF is
    stuffed as FF 00), so a frame ends at the first EOI after its SOI. The camera apps' MJPEG frames carry no
    EXIF thumbnail (which would have its own EOI)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._scanned = 0  # where to resume the search for EOI

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        frames: list[bytes] = []
        while True:
            start = self._buf.find(SOI)
            if start < 0:
                del self._buf[:-1]  # keep a trailing 0xFF: it may begin the next SOI
                self._scanned = 0
                return frames
            if start:
                del self._buf[:start]
                self._scanned = 0
            end = self._buf.find(EOI, max(2, self._scanned))
            if end < 0:
                if len(self._buf) > MAX_FRAME_BYTES:
                    self._buf.clear()
                self._scanned = max(2, len(self._buf) - 1)
                return frames
            frames.append(bytes(self._buf[: end + 2]))
            del self._buf[: end + 2]
            self._scanned = 0


def part(frame: bytes) -> bytes:
    """One frame as a part of the multipart stream."""
    head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(frame)}\r\n\r\n".encode()
    return head + frame + b"\r\n"
