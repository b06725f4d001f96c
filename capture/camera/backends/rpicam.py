"""The real camera: rpicam-still / rpicam-vid / rpicam-hello (or the older libcamera-* names).

Flags and output formats follow shared/reference/rpicam-cli.md; the test suite runs this code against
stand-in apps that keep the same contract.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import signal
import time
from pathlib import Path

from django.conf import settings

from capture.camera.backends.base import CameraBackend, CameraSession
from capture.camera.detection import Detection
from capture.camera.request import CaptureRequest
from capture.errors import CameraBusy, CaptureFailed
from capture.lib.ffmpeg import find_ffmpeg, remux_to_mp4_argv
from capture.lib.runner import CommandFailed, run_command

log = logging.getLogger(__name__)

DETECT_TIMEOUT_SEC = 10
# A listing, `--help` or `--version` is read whole: the real rpicam-vid help is 13 kB, and a Pi with several
# cameras lists many modes.
WHOLE_OUTPUT_CHARS = 1024 * 1024
METADATA_MAX_BYTES = 256 * 1024

# `0 : imx708 [4608x2592 10-bit RGGB] (/base/.../imx708@1a)`. The model runs up to ` [` and may contain spaces
# (a USB webcam is named by its product: `0 : HD Pro Webcam C920 [1920x1080] (...)`); the bit depth and CFA
# are missing on apps older than v1.2.2 and on cameras that report none.
_CAMERA_LINE = re.compile(
    r"^\s*(?P<index>\d+)\s*:\s*(?P<model>.+?)\s*\[(?P<width>\d+)x(?P<height>\d+)"
    r"(?:\s+(?P<bits>\d+)-bit)?(?:\s+(?P<cfa>[A-Z]+))?\s*\]\s*\((?P<id>.*)\)\s*$"
)
# `    Modes: 'SRGGB10_CSI2P' : 1536x864 [120.13 fps - (768, 432)/3072x1728 crop]`, further sizes of a format
# on their own lines, further formats as `'FMT' : WxH [...]`.
_MODE = re.compile(
    r"(?:'(?P<format>[^']+)'\s*:\s*)?(?P<width>\d+)x(?P<height>\d+)\s*\[(?P<fps>[\d.]+)\s*fps"
    r"(?:\s*-\s*\((?P<x>\d+),\s*(?P<y>\d+)\)/(?P<cw>\d+)x(?P<ch>\d+)\s*crop)?"
)

# Camera controls (capture.camera.params) -> the apps' flags (the same in rpicam-still and rpicam-vid).
_VALUE_FLAGS = {
    "rotation": "--rotation",
    "shutterUs": "--shutter",  # a plain number is microseconds
    "gain": "--gain",
    "ev": "--ev",
    "metering": "--metering",
    "exposure": "--exposure",
    "awb": "--awb",
    "awbGains": "--awbgains",
    "brightness": "--brightness",
    "contrast": "--contrast",
    "saturation": "--saturation",
    "sharpness": "--sharpness",
    "denoise": "--denoise",
    "quality": "--quality",
    "autofocusMode": "--autofocus-mode",
    "lensPosition": "--lens-position",
    "hdr": "--hdr",
    "roi": "--roi",
}
_SWITCH_FLAGS = {"hflip": "--hflip", "vflip": "--vflip"}


def parse_list_cameras(stdout: str) -> list[dict]:
    """Parse `--list-cameras` output; "No cameras available!" (or anything without camera lines) is []."""
    cameras: list[dict] = []
    mode_format = None
    for line in stdout.splitlines():
        match = _CAMERA_LINE.match(line)
        if match:
            cameras.append(
                {
                    "index": int(match["index"]),
                    "model": match["model"],
                    "width": int(match["width"]),
                    "height": int(match["height"]),
                    "bitDepth": int(match["bits"]) if match["bits"] else None,
                    "cfa": match["cfa"],
                    "id": match["id"],
                    "modes": [],
                }
            )
            mode_format = None
            continue
        mode = _MODE.search(line)
        if mode and cameras:
            mode_format = mode["format"] or mode_format
            entry = {
                "format": mode_format,
                "width": int(mode["width"]),
                "height": int(mode["height"]),
                "fps": float(mode["fps"]),
            }
            if mode["cw"]:
                entry["crop"] = [int(mode[key]) for key in ("x", "y", "cw", "ch")]
            cameras[-1]["modes"].append(entry)
    return cameras


def control_args(controls: dict) -> list[str]:
    """The apps' flags for a request's camera controls."""
    argv: list[str] = []
    for name, value in controls.items():
        if name in _SWITCH_FLAGS:
            if value:
                argv.append(_SWITCH_FLAGS[name])
        elif name in _VALUE_FLAGS:
            argv += [_VALUE_FLAGS[name], _flag_value(value)]
    return argv


def _flag_value(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(_flag_value(item) for item in value)
    if isinstance(value, float):
        return format(value, "g")
    return str(value)


class RpicamBackend(CameraBackend):
    name = "rpicam"

    def __init__(
        self,
        still_commands: tuple[str, ...],
        vid_commands: tuple[str, ...],
        hello_commands: tuple[str, ...],
        ffmpeg: str,
    ) -> None:
        self.still_commands = still_commands
        self.vid_commands = vid_commands
        self.hello_commands = hello_commands
        self.ffmpeg = ffmpeg
        self._libav_support: bool | None = None
        self._still_has_metadata: bool | None = None

    @classmethod
    def from_settings(cls) -> RpicamBackend:
        return cls(
            tuple(settings.RPICAM_STILL_COMMANDS),
            tuple(settings.RPICAM_VID_COMMANDS),
            tuple(settings.RPICAM_HELLO_COMMANDS),
            settings.FFMPEG_BINARY,
        )

    # --- Capture ---

    def capture(self, request: CaptureRequest, output: Path, session: CameraSession) -> dict | None:
        try:
            if request.format == "jpg":
                return self._still(request, output, session)
            if request.format == "h264":
                self._video(request, output, "h264", session)
            elif self._vid_writes_mp4():
                # rpicam-vid muxes the MP4 itself with correct timestamps: no remux at all.
                self._video(request, output, "libav", session)
            else:
                raw = session.temp_path("h264")
                self._video(request, raw, "h264", session)
                session.run_remux(remux_to_mp4_argv(find_ffmpeg(self.ffmpeg), raw, output, request.fps))
        except CommandFailed as exc:
            raise _explain(exc, request) from exc
        return None

    def _still(self, request: CaptureRequest, output: Path, session: CameraSession) -> dict | None:
        argv = [
            self._command(self.still_commands),
            "--nopreview",
            "--camera", str(request.camera),
            # -t is the preview (auto-exposure) time before the still is taken; plain numbers are ms.
            "--timeout", str(request.duration_ms),
            "--width", str(request.width),
            "--height", str(request.height),
            "--encoding", "jpg",
            *control_args(request.controls),
        ]  # fmt: skip
        metadata = session.temp_path("json") if self._still_writes_metadata() else None
        if metadata is not None:
            # What the camera really did (exposure time, gains, lux, colour temperature, focus).
            argv += ["--metadata", metadata.name, "--metadata-format", "json"]
        # Relative to the upload dir (the session's cwd): rpicam-still truncates -o at 128 characters.
        argv += ["--output", _escape_percent(output.name)]
        # rpicam-still has no signal handlers: SIGINT and SIGTERM both end it at once.
        session.run_camera(argv, stop_signals=[signal.SIGTERM])
        return _read_metadata(metadata) if metadata is not None else None

    def _video(self, request: CaptureRequest, output: Path, codec: str, session: CameraSession) -> None:
        argv = [
            self._command(self.vid_commands),
            "--nopreview",
            "--camera", str(request.camera),
            "--timeout", str(request.duration_ms),
            "--width", str(request.width),
            "--height", str(request.height),
            "--framerate", str(request.fps),
            "--codec", codec,
            *control_args(request.controls),
        ]  # fmt: skip
        if codec == "libav":
            argv += ["--libav-format", "mp4"]
        else:
            # SPS/PPS before every I-frame, so any cut of the stream decodes.
            argv += ["--inline"]
        argv += ["--output", _escape_percent(output.name)]
        # SIGINT makes rpicam-vid flush a complete file; SIGTERM would truncate it, so it only comes second.
        session.run_camera(argv, stop_signals=[signal.SIGINT, signal.SIGTERM])

    def _vid_writes_mp4(self) -> bool:
        """Whether this rpicam-vid has libav (so it writes MP4 itself); asked once.

        `--version` says so in its `capabilites: ... libav:1` line (the app's spelling). Builds too old to print
        that line are asked for their whole `--help`: the real one is 13 kB, with `--libav-format` 2 kB before
        its end, so reading only the tail of the output misses it."""
        if self._libav_support is None:
            version = self._output_of(self.vid_commands, "--version")
            capability = re.search(r"capabilit\w*:.*\blibav:(\d)", version)
            if capability:
                self._libav_support = capability[1] == "1"
            else:
                self._libav_support = "--libav-format" in self._output_of(self.vid_commands, "--help")
            log.info("rpicam-vid %s libav: MP4 is %s", "has" if self._libav_support else "lacks",
                     "written by the camera app" if self._libav_support else "remuxed with ffmpeg")  # fmt: skip
        return self._libav_support

    def _still_writes_metadata(self) -> bool:
        """rpicam-still learnt `--metadata` in v1.2; older builds would refuse the option."""
        if self._still_has_metadata is None:
            self._still_has_metadata = "--metadata" in self._output_of(self.still_commands, "--help")
        return self._still_has_metadata

    def _output_of(self, candidates: tuple[str, ...], flag: str) -> str:
        try:
            return run_command(
                [self._command(candidates), flag], timeout=DETECT_TIMEOUT_SEC, keep_stdout=WHOLE_OUTPUT_CHARS
            ).stdout
        except (CommandFailed, CaptureFailed):
            return ""

    def _command(self, candidates: tuple[str, ...]) -> str:
        for name in candidates:
            found = shutil.which(name)
            if found:
                return found
        raise CaptureFailed(f"No camera app found: install rpicam-apps (looked for {', '.join(candidates)})")

    # --- Preview ---

    def preview_argv(self, camera: int, width: int, height: int, fps: int, controls: dict) -> list[str]:
        # Only the picture's orientation applies: the preview runs with the camera's automatic controls.
        orientation = {name: controls[name] for name in ("rotation", "hflip", "vflip") if name in controls}
        return [
            self._command(self.vid_commands),
            "--nopreview",
            "--camera", str(camera),
            "--timeout", "0",
            "--codec", "mjpeg",
            "--width", str(width),
            "--height", str(height),
            "--framerate", str(fps),
            *control_args(orientation),
            "--output", "-",
        ]  # fmt: skip

    def warm_still_argv(self, camera: int, width: int, height: int, controls: dict, output: str) -> list[str] | None:
        # Signal mode (-s with -t 0): SIGUSR1 takes one still, SIGUSR2 exits. `-v 2` logs `Camera started!` once
        # a trigger is safe and `Saved image ... to file NAME` once the file is complete (fact sheet §4, §8).
        return [
            self._command(self.still_commands),
            "--nopreview",
            "--camera", str(camera),
            "--timeout", "0",
            "--signal",
            "--verbose", "2",
            "--width", str(width),
            "--height", str(height),
            "--encoding", "jpg",
            *control_args(controls),
            "--output", output,
        ]  # fmt: skip

    # --- Detection ---

    def detect_now(self) -> Detection:
        last_error = ""
        # rpicam-hello is the cheapest; rpicam-still lists cameras too (the Node server's fallback).
        for candidates in (self.hello_commands, self.still_commands):
            try:
                argv = [self._command(candidates), "--list-cameras"]
                result = run_command(argv, timeout=DETECT_TIMEOUT_SEC, keep_stdout=WHOLE_OUTPUT_CHARS)
            except (CommandFailed, CaptureFailed) as exc:
                last_error = str(exc)
                continue
            cameras = parse_list_cameras(result.stdout)
            return Detection(bool(cameras), cameras, time.time())
        return Detection(False, [], time.time(), last_error)


def _read_metadata(path: Path) -> dict | None:
    """The app's JSON metadata, or None: every key is optional, and a camera may write none at all."""
    try:
        with path.open("rb") as file:
            data = json.loads(file.read(METADATA_MAX_BYTES))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _escape_percent(name: str) -> str:
    # The apps pass -o through snprintf (a counter for %d), so a literal % must be doubled.
    return name.replace("%", "%%")


def _explain(exc: CommandFailed, request: CaptureRequest) -> Exception:
    """Turn an rpicam failure into the error the API should return."""
    stderr = exc.result.stderr
    if "failed to acquire camera" in stderr or "in use by another process" in stderr:
        return CameraBusy("Camera busy: it is in use by another program")
    if "no cameras available" in stderr:
        return CaptureFailed("No camera detected: check the ribbon cable and `rpicam-hello --list-cameras`")
    if "selected camera is not available" in stderr:
        return CaptureFailed(
            f"Camera {request.camera} is not connected (any more): see GET /api/cameras/ for the cameras there are"
        )
    return CaptureFailed(str(exc))
