"""The real camera: rpicam-still / rpicam-vid / rpicam-hello (or the older libcamera-* names).

Flags and output formats follow shared/reference/rpicam-cli.md; the test suite runs this code against
stand-in apps that keep the same contract.
"""

from __future__ import annotations

import re
import shutil
import signal
import time
from pathlib import Path

from capture.camera.backends.base import CameraBackend, CameraSession, CaptureRequest, Detection
from capture.errors import CameraBusy, CaptureFailed
from capture.lib.ffmpeg import find_ffmpeg, remux_to_mp4_argv
from capture.lib.runner import CommandFailed, run_command

DETECT_TIMEOUT_SEC = 10

# `0 : imx708 [4608x2592 10-bit RGGB] (/base/.../imx708@1a)`; the bit depth and CFA are missing on apps
# older than v1.2.2 and on cameras that report none.
_CAMERA_LINE = re.compile(
    r"^\s*(?P<index>\d+)\s*:\s*(?P<model>\S+)\s*\[(?P<width>\d+)x(?P<height>\d+)"
    r"(?:\s+(?P<bits>\d+)-bit)?(?:\s+(?P<cfa>[A-Z]+))?\s*\]\s*\((?P<id>[^)]*)\)"
)


def parse_list_cameras(stdout: str) -> list[dict]:
    """Parse `--list-cameras` output; "No cameras available!" (or anything without camera lines) is []."""
    cameras = []
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
                }
            )
    return cameras


class RpicamBackend(CameraBackend):
    name = "rpicam"

    def __init__(
        self,
        still_commands: tuple[str, ...],
        vid_commands: tuple[str, ...],
        hello_commands: tuple[str, ...],
        ffmpeg: str,
        detect_ttl: float,
    ) -> None:
        super().__init__(detect_ttl)
        self.still_commands = still_commands
        self.vid_commands = vid_commands
        self.hello_commands = hello_commands
        self.ffmpeg = ffmpeg
        self._libav_support: bool | None = None

    # --- Capture ---

    def capture(self, request: CaptureRequest, output: Path, session: CameraSession) -> None:
        try:
            if request.format == "jpg":
                self._still(request, output, session)
            elif request.format == "h264":
                self._video(request, output, "h264", session)
            elif self._vid_writes_mp4():
                # rpicam-vid muxes the MP4 itself with correct timestamps: no remux at all.
                self._video(request, output, "libav", session)
            else:
                raw = session.temp_path("h264")
                self._video(request, raw, "h264", session)
                session.run_remux(remux_to_mp4_argv(find_ffmpeg(self.ffmpeg), raw, output, request.fps))
        except CommandFailed as exc:
            raise _explain(exc) from exc

    def _still(self, request: CaptureRequest, output: Path, session: CameraSession) -> None:
        argv = [
            self._command(self.still_commands),
            "--nopreview",
            "--camera", str(request.camera),
            # -t is the preview (auto-exposure) time before the still is taken; plain numbers are ms.
            "--timeout", str(request.duration_ms),
            "--width", str(request.width),
            "--height", str(request.height),
            "--encoding", "jpg",
            # Relative to the upload dir (the session's cwd): rpicam-still truncates -o at 128 characters.
            "--output", _escape_percent(output.name),
        ]  # fmt: skip
        # rpicam-still has no signal handlers: SIGINT and SIGTERM both end it at once.
        session.run_camera(argv, stop_signals=[signal.SIGTERM])

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
        """Whether this rpicam-vid has the libav codec (so it can write MP4 itself); asked once."""
        if self._libav_support is None:
            try:
                result = run_command([self._command(self.vid_commands), "--help"], timeout=DETECT_TIMEOUT_SEC)
                self._libav_support = "--libav-format" in result.stdout
            except CommandFailed:
                self._libav_support = False
        return self._libav_support

    def _command(self, candidates: tuple[str, ...]) -> str:
        for name in candidates:
            found = shutil.which(name)
            if found:
                return found
        raise CaptureFailed(f"No camera app found: install rpicam-apps (looked for {', '.join(candidates)})")

    # --- Detection ---

    def detect_now(self) -> Detection:
        last_error = ""
        # rpicam-hello is the cheapest; rpicam-still lists cameras too (the Node server's fallback).
        for candidates in (self.hello_commands, self.still_commands):
            try:
                result = run_command([self._command(candidates), "--list-cameras"], timeout=DETECT_TIMEOUT_SEC)
            except (CommandFailed, CaptureFailed) as exc:
                last_error = str(exc)
                continue
            cameras = parse_list_cameras(result.stdout)
            return Detection(bool(cameras), cameras, time.time())
        return Detection(False, [], time.time(), last_error)


def _escape_percent(name: str) -> str:
    # The apps pass -o through snprintf (a counter for %d), so a literal % must be doubled.
    return name.replace("%", "%%")


def _explain(exc: CommandFailed) -> Exception:
    """Turn an rpicam failure into the error the API should return."""
    stderr = exc.result.stderr
    if "failed to acquire camera" in stderr or "in use by another process" in stderr:
        return CameraBusy("Camera busy: it is in use by another program")
    if "no cameras available" in stderr:
        return CaptureFailed("No camera detected: check the ribbon cable and `rpicam-hello --list-cameras`")
    return CaptureFailed(str(exc))
