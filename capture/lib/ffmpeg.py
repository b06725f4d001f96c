"""Finding ffmpeg and building its command lines."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path


class FfmpegNotFound(RuntimeError):
    pass


@functools.cache
def find_ffmpeg(configured: str = "") -> str:
    """The configured binary, else the system ffmpeg, else the one shipped in the imageio-ffmpeg wheel.

    The wheel fallback means a fresh machine needs no apt step for the simulated camera or the remux.
    """
    if configured:
        found = shutil.which(configured)
        if not found:
            raise FfmpegNotFound(f"FFMPEG_BINARY={configured!r} is not an executable")
        return found
    system = shutil.which("ffmpeg")
    if system:
        return system
    try:
        import imageio_ffmpeg
    except ImportError:  # pragma: no cover - it is in requirements.txt
        raise FfmpegNotFound("no ffmpeg on PATH and imageio-ffmpeg is not installed") from None
    return imageio_ffmpeg.get_ffmpeg_exe()


def base_argv(ffmpeg: str) -> list[str]:
    return [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]


def remux_to_mp4_argv(ffmpeg: str, h264: Path, mp4: Path, fps: int) -> list[str]:
    """Wrap a raw H.264 stream in MP4 without re-encoding.

    The rate must be an *input* option (`-r` before `-i`): a raw stream has no timestamps, and on a Pi 5 its
    VUI carries a 1 MHz tick that makes `-framerate N -i` (the Node server's command) produce a 0.001 s file.
    """
    return [
        *base_argv(ffmpeg),
        "-r",
        str(fps),
        "-i",
        str(h264),
        "-c",
        "copy",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        str(mp4),
    ]


def timelapse_argv(ffmpeg: str, concat_list: Path, mp4: Path, *, fps: int, width: int, height: int, progress: Path):
    """Still frames (listed for the concat demuxer) into an H.264 MP4 at `fps`, `width`x`height`.

    ffmpeg streams: it decodes one frame at a time, so memory doesn't grow with the number of frames. `-r`
    before `-i` gives the frames their times (one every 1/fps s), so the video lasts frames/fps. Frames of
    another size (a schedule changed on the way) are fitted in, not stretched. Progress (`frame=N`) goes to
    `progress` for the job to read while ffmpeg runs.
    """
    fit = (
        f"scale={width}:{height}:force_original_aspect_ratio=decrease,"
        f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,format=yuv420p"
    )
    return [
        *base_argv(ffmpeg),
        # Memory, not speed, is what runs out on a Pi: one decoding thread, one filter thread, two encoding
        # threads and a short rate-control lookahead keep ffmpeg near 200 MB at 1080p (x264's defaults: 290).
        "-threads",
        "1",
        "-f",
        "concat",
        "-safe",
        "0",
        "-r",
        str(fps),
        "-i",
        str(concat_list),
        "-filter_threads",
        "1",
        "-vf",
        fit,
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "23",
        "-threads",
        "2",
        "-x264-params",
        "rc-lookahead=5:sync-lookahead=0",
        "-r",
        str(fps),
        "-movflags",
        "+faststart",
        "-progress",
        str(progress),
        "-f",
        "mp4",
        str(mp4),
    ]


def concat_list_line(path: Path) -> str:
    """One `file` line of a concat demuxer list; the demuxer's quoting is '...' with ' as '\\''."""
    return "file '" + str(path).replace("'", "'\\''") + "'\n"
