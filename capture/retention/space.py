"""How much room a capture may take, before it is taken: a conservative estimate from its parameters."""

from __future__ import annotations

from capture.camera.request import CaptureRequest

# A JPEG at rpicam-still's default quality (93) takes about 0.3-0.5 bytes a pixel on a detailed scene.
STILL_BYTES_PER_PIXEL = 1.0
# H.264 from rpicam-vid at the encoder's default bitrate; small or slow videos still get a generous floor.
VIDEO_BITS_PER_PIXEL_FRAME = 0.5  # about 31 Mbit/s at 1080p30
VIDEO_MIN_BITS_PER_SEC = 10_000_000
OVERHEAD_BYTES = 64 * 1024  # metadata, container, the still's embedded thumbnail


def estimate_bytes(request: CaptureRequest) -> int:
    """The most disk a capture is expected to need while it is taken (an overestimate, on purpose)."""
    pixels = request.width * request.height
    if not request.is_video:
        return int(pixels * STILL_BYTES_PER_PIXEL) + OVERHEAD_BYTES
    bits_per_sec = max(pixels * request.fps * VIDEO_BITS_PER_PIXEL_FRAME, VIDEO_MIN_BITS_PER_SEC)
    stream = int(bits_per_sec * request.duration_sec / 8) + OVERHEAD_BYTES
    # An mp4 is remuxed from the recorded stream: both files exist until the remux ends.
    return 2 * stream if request.format == "mp4" else stream
