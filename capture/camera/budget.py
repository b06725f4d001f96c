"""How long a capture may take, computed in one place.

The camera process gets the Node server's budget (durationSec + CAMERA_TIMEOUT_MARGIN_SEC), plus the
exposures of a long fixed shutter and the simulated camera's rendering. The lock's expiry covers that, a
remux and the stop signals' grace; gunicorn's worker timeout covers the longest capture anyone may ask for.
Only settings are read here (no models), so deploy/gunicorn.conf.py can import it before Django starts.
"""

from __future__ import annotations

from django.conf import settings

from capture.camera.request import CaptureRequest

# A still with a fixed shutter takes a few frames of that exposure: preview frames settle, then the capture.
STILL_EXPOSURES = 3
# The simulated camera renders with ffmpeg after "recording": 5 s, plus real time for a video.
SIMULATED_RENDER_SEC = 5
# The worst case gunicorn must wait for on top of the capture (the request's own database work, the answer).
REQUEST_SLACK_SEC = 30
LONGEST_SHUTTER_SEC = 60  # capture.camera.params bounds shutterUs to 60 s


def camera_timeout(request: CaptureRequest, *, simulated: bool) -> float:
    """What the runner gives the camera process before it stops it (504)."""
    # Video frames are bounded by the frame rate; a still waits for a few exposures of a long shutter.
    exposures = 0 if request.is_video else STILL_EXPOSURES * request.controls.get("shutterUs", 0) / 1_000_000
    render = SIMULATED_RENDER_SEC + (request.duration_sec if request.is_video else 0) if simulated else 0
    return request.duration_sec + settings.CAMERA_TIMEOUT_MARGIN_SEC + exposures + render


def capture_budget(request: CaptureRequest, *, simulated: bool) -> float:
    """Worst case for one capture under the lock: the camera, a remux, and the stop signals' grace after each."""
    remux = settings.REMUX_TIMEOUT_SEC if request.format == "mp4" else 0
    return camera_timeout(request, simulated=simulated) + remux + 3 * settings.CAMERA_KILL_GRACE_SEC


def longest_capture_sec() -> float:
    """The budget of the longest capture the API accepts on a real camera (gunicorn's worker timeout must
    exceed it). The simulation's rendering of a ten-minute video is left out: it is a development tool."""
    longest = CaptureRequest(
        "mp4",
        settings.CAPTURE_MAX_WIDTH,
        settings.CAPTURE_MAX_HEIGHT,
        settings.CAPTURE_MAX_FPS,
        settings.CAPTURE_MAX_DURATION_SEC,
        controls={"shutterUs": LONGEST_SHUTTER_SEC * 1_000_000},
    )
    still = CaptureRequest("jpg", 16, 16, 1, settings.CAPTURE_MAX_DURATION_SEC, controls=longest.controls)
    worst = max(capture_budget(request, simulated=False) for request in (longest, still))
    return worst + REQUEST_SLACK_SEC
