"""Copy-paste configuration for the clients people plug a camera into: Home Assistant, OctoPrint, Moonraker.

The admin's Integration page (capture.admin) makes a fresh `stream`+`read` token on request and fills these
in. Home Assistant sends the token as a Basic password; OctoPrint and Moonraker put their URLs in an `<img>`,
which can send no header, so theirs carry `?token=` (accepted only for read/stream tokens, see capture.tokens).

The preview already applies the camera's CAMERA_<N>_ROTATION/HFLIP/VFLIP (capture.camera.preview), so the
clients' own flips stay off: flipping again would undo them.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from capture.camera.params import control_defaults
from capture.models import ApiToken

SCOPES = [ApiToken.Scope.STREAM.value, ApiToken.Scope.READ.value]
HA_USER = "homeassistant"


@dataclass(frozen=True)
class Snippet:
    client: str
    title: str
    text: str


def base_url(request: HttpRequest) -> str:
    """PUBLIC_URL when set (the name clients reach the Pi by), else the host this page was asked on."""
    return settings.PUBLIC_URL or request.build_absolute_uri("/").rstrip("/")


def token_label(index: int) -> str:
    """A label no token has yet (labels are unique): the camera and the time, numbered if clicked twice a second."""
    label = f"integration camera {index} {timezone.localtime():%Y-%m-%d %H:%M:%S}"
    taken = set(ApiToken.objects.filter(label__startswith=label).values_list("label", flat=True))
    number = 2
    unique = label
    while unique in taken:
        unique, number = f"{label} #{number}", number + 1
    return unique


def make_token(index: int) -> tuple[ApiToken, str]:
    return ApiToken.objects.create_with_secret(token_label(index), SCOPES)


def camera_orientation(index: int) -> dict[str, object]:
    """What the camera itself applies to its frames (from its settings)."""
    controls = control_defaults(index)
    return {
        "rotation": controls.get("rotation", 0),
        "hflip": bool(controls.get("hflip", False)),
        "vflip": bool(controls.get("vflip", False)),
    }


def snippets(base: str, index: int, secret: str) -> list[Snippet]:
    stream = base + reverse("camera-stream", kwargs={"index": index})
    snapshot = base + reverse("camera-snapshot", kwargs={"index": index})
    query = "?" + urlencode({"token": secret})
    name = f"Pi camera {index}"
    return [
        Snippet(
            "homeassistant-mjpeg",
            "Home Assistant: MJPEG IP camera (configuration.yaml, or the same fields in its MJPEG integration)",
            "camera:\n"
            "  - platform: mjpeg\n"
            f"    name: {name}\n"
            f"    mjpeg_url: {stream}\n"
            f"    still_image_url: {snapshot}\n"
            f"    username: {HA_USER}\n"
            f"    password: {secret}\n"
            "    authentication: basic\n",
        ),
        Snippet(
            "homeassistant-generic",
            "Home Assistant: generic camera (Settings > Integrations > Generic Camera)",
            f"Still image URL: {snapshot}\n"
            "Stream source: (leave empty)\n"
            "Authentication: basic\n"
            f"Username: {HA_USER}\n"
            f"Password: {secret}\n",
        ),
        Snippet(
            "octoprint",
            "OctoPrint: Settings > Webcam & Timelapse (classic webcam)",
            f"Stream URL: {stream}{query}\n"
            f"Snapshot URL: {snapshot}{query}\n"
            "Flip webcam horizontally: off\n"
            "Flip webcam vertically: off\n"
            "Rotate webcam 90 degrees counter clockwise: off\n",
        ),
        Snippet(
            "moonraker",
            "Moonraker (Mainsail, Fluidd): moonraker.conf",
            f"[webcam camera{index}]\n"
            "service: mjpegstreamer-adaptive\n"
            f"stream_url: {stream}{query}\n"
            f"snapshot_url: {snapshot}{query}\n"
            f"target_fps: {settings.PREVIEW_FPS}\n"
            "flip_horizontal: False\n"
            "flip_vertical: False\n"
            "rotation: 0\n",
        ),
    ]
