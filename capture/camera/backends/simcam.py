"""The simulated camera process (run by the simulated backend; no Django here).

Like rpicam-vid it records for the requested time and stops cleanly on SIGINT, keeping what it recorded;
then ffmpeg renders a test pattern labelled SIMULATED with a timestamp. Usage: see parse_args().
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
import time

_stop = threading.Event()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ffmpeg", required=True)
    parser.add_argument("--camera", type=int, default=0, help="index shown on the frames")
    parser.add_argument("--format", choices=["jpg", "h264", "mp4"], required=True)
    parser.add_argument("--width", type=int, required=True)
    parser.add_argument("--height", type=int, required=True)
    parser.add_argument("--fps", type=int, required=True)
    parser.add_argument("--duration", type=float, required=True, help="seconds of simulated recording")
    parser.add_argument("--speed", type=float, default=1.0, help=">1 records faster than real time")
    parser.add_argument("--hflip", action="store_true")
    parser.add_argument("--vflip", action="store_true")
    parser.add_argument("--quality", type=int, default=93, help="JPEG quality, 1-100")
    parser.add_argument("--output", required=True)
    return parser.parse_args(argv)


def render_argv(args: argparse.Namespace, seconds: float, *, label: bool = True) -> list[str]:
    source = f"testsrc2=size={args.width}x{args.height}:rate={args.fps}"
    argv = [args.ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source]
    # The flips come after the label, so the label turns with the picture as a real scene would.
    filters = ["hflip"] * args.hflip + ["vflip"] * args.vflip
    if label:
        filters.insert(
            0,
            f"drawtext=text='SIMULATED CAMERA {args.camera} %{{localtime}}':fontcolor=white"
            f":fontsize={max(12, args.height // 20)}:box=1:boxcolor=black@0.6:x=20:y=20",
        )
    if filters:
        argv += ["-vf", ",".join(filters)]
    if args.format == "jpg":
        # ffmpeg's mjpeg qscale runs 2 (best) to 31; map the apps' 1-100 quality onto it.
        qscale = str(max(2, min(31, round(2 + (100 - args.quality) * 29 / 100))))
        return [*argv, "-frames:v", "1", "-q:v", qscale, "-f", "image2", "-c:v", "mjpeg", args.output]
    frames = max(1, round(seconds * args.fps))
    encode = [
        "-frames:v",
        str(frames),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-g",
        str(args.fps),
    ]
    if args.format == "h264":
        return [*argv, *encode, "-f", "h264", args.output]
    return [*argv, *encode, "-movflags", "+faststart", "-f", "mp4", args.output]


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    # SIGINT ends the recording early but keeps it, like rpicam-vid.
    signal.signal(signal.SIGINT, lambda *_: _stop.set())
    started = time.monotonic()
    _stop.wait(args.duration / args.speed)
    recorded = min(args.duration, (time.monotonic() - started) * args.speed)
    result = subprocess.run(render_argv(args, recorded), stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        # An ffmpeg without freetype or fonts can't label the frames; an unlabelled pattern beats nothing.
        result = subprocess.run(render_argv(args, recorded, label=False), stdin=subprocess.DEVNULL)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
