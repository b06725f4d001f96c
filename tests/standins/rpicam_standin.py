#!/usr/bin/env python3
"""Test stand-in for the Raspberry Pi camera apps rpicam-still, rpicam-vid and rpicam-hello.

It keeps the command-line contract of rpicam-apps v1.13 (/work/shared/reference/rpicam-cli.md):
Boost-style option parsing and error texts, exit codes, the `--list-cameras` layout, the busy-camera
error, signal behaviour, and real media files rendered from ffmpeg's test pattern.

The app is picked from the basename of argv[0] (rpicam-still, libcamera-vid, ...), or from $STANDIN_APP
when the file is run directly. Environment knobs (all optional):

  STANDIN_CAMERAS          comma list of sensor models (default "imx708"; "" or "none": no camera)
  STANDIN_PLATFORM         pi5 (default) or pi4: camera ids and which h264 encoder path is emulated
  STANDIN_STATE_DIR        sensor locks and runs.log (default /tmp/rpicam-standin)
  STANDIN_STARTUP_SEC      sensor start-up delay before the -t phase (default 0.3)
  STANDIN_MODE_SWITCH_SEC  still mode-switch delay (default 0.25, scaled like STANDIN_STARTUP_SEC)
  STANDIN_FFMPEG           ffmpeg executable (default: ffmpeg on PATH, then imageio_ffmpeg's)
  STANDIN_NO_LIBAV=1       emulate a build without libav
  STANDIN_IGNORE_SIGTERM=1 hung camera: ignore SIGTERM/SIGINT and hang after start-up
  STANDIN_FORK_CHILD=1     fork a child (same process group, inherits the sensor lock) that sleeps 600 s
  STANDIN_FAIL=<message>   fail after start-up with "ERROR: *** <message> ***", exit 255
"""

from __future__ import annotations

import ctypes
import dataclasses
import fcntl
import os
import re
import resource
import select
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import IO, Any, NoReturn

RPICAM_VERSION = "v1.13.0"
LIBCAMERA_VERSION = "v0.7.1"
DEFAULT_STATE_DIR = "/tmp/rpicam-standin"
DEFAULT_STARTUP_SEC = 0.3
DEFAULT_MODE_SWITCH_SEC = 0.25
APPS = ("still", "vid", "hello")


class AppError(Exception):
    """What the real apps print as `ERROR: *** <what()> ***` before exiting 255."""


# --------------------------------------------------------------------------------------------------
# Options (Boost.Program_options look-alike)
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Opt:
    name: str
    kind: str  # "bool", "int", "uint", "float", "str" or "time" (parsed later, like TimeVal)
    help: str
    short: str = ""
    default: str | None = None
    implicit: str | None = None  # value used when the option is given bare
    multi: bool = False  # may be repeated (std::vector options)
    libav: bool = False  # only present in builds with libav


def _flag(name: str, help: str, short: str = "") -> Opt:
    return Opt(name, "bool", help, short, default="0", implicit="1")


COMMON_OPTS = [
    _flag("help", "Print this help message", "h"),
    _flag("version", "Displays the build version number"),
    _flag("list-cameras", "Lists the available cameras attached to the system."),
    Opt("camera", "uint", "Chooses the camera to use. To list the available indexes, use --list-cameras.", default="0"),
    Opt(
        "verbose",
        "uint",
        "Set verbosity level. Level 0 is no output, 1 is default, 2 is verbose.",
        "v",
        default="1",
        implicit="2",
    ),
    Opt(
        "config",
        "str",
        "Read the options from a file. If no filename is specified, default to config.txt. "
        "In case of duplicate options, the ones provided on the command line will be used.",
        "c",
        implicit="config.txt",
    ),
    Opt("info-text", "str", "Sets the information string on the titlebar."),
    Opt("width", "uint", "Set the output image width (0 = use default value)", default="0"),
    Opt("height", "uint", "Set the output image height (0 = use default value)", default="0"),
    Opt("timeout", "time", "Time for which program runs. If no units are provided default to ms.", "t", default="5sec"),
    Opt("output", "str", "Set the output file name", "o"),
    Opt("post-process-file", "str", "Set the file name for configuring the post-processing"),
    Opt("post-process-libs", "str", "Set a custom location for the post-processing library .so files"),
    _flag("nopreview", "Do not show a preview window", "n"),
    Opt(
        "preview",
        "str",
        "Set the preview window dimensions, given as x,y,width,height e.g. 0,0,640,480",
        "p",
        default="0,0,0,0",
    ),
    _flag("fullscreen", "Use a fullscreen preview window", "f"),
    _flag("qt-preview", "Use Qt-based preview window (WARNING: causes heavy CPU load, fullscreen not supported)"),
    _flag("hflip", "Request a horizontal flip transform"),
    _flag("vflip", "Request a vertical flip transform"),
    Opt("rotation", "int", "Request an image rotation, 0 or 180", default="0"),
    Opt("roi", "str", "Set region of interest (digital zoom) e.g. 0.25,0.25,0.5,0.5", default="0,0,0,0"),
    Opt("shutter", "str", "Set a fixed shutter speed. If no units are provided default to us", default="0"),
    Opt("analoggain", "float", "Set a fixed gain value (synonym for 'gain' option)", default="0"),
    Opt("gain", "float", "Set a fixed gain value", default="0"),
    Opt("metering", "str", "Set the metering mode (centre, spot, average, custom)", default="centre"),
    Opt("exposure", "str", "Set the exposure mode (normal, sport)", default="normal"),
    Opt("ev", "float", "Set the EV exposure compensation, where 0 = no change", default="0"),
    Opt(
        "awb",
        "str",
        "Set the AWB mode (auto, incandescent, tungsten, fluorescent, indoor, daylight, cloudy, custom)",
        default="auto",
    ),
    Opt("awbgains", "str", "Set explict red and blue gains (disable the automatic AWB algorithm)", default="0,0"),
    _flag("flush", "Flush output data as soon as possible"),
    Opt(
        "wrap", "uint", "When writing multiple output files, reset the counter when it reaches this number", default="0"
    ),
    Opt("brightness", "float", "Adjust the brightness of the output images, in the range -1.0 to 1.0", default="0"),
    Opt("contrast", "float", "Adjust the contrast of the output image, where 1.0 = normal contrast", default="1"),
    Opt(
        "saturation",
        "float",
        "Adjust the colour saturation of the output, where 1.0 = normal and 0.0 = greyscale",
        default="1",
    ),
    Opt("sharpness", "float", "Adjust the sharpness of the output image, where 1.0 = normal sharpening", default="1"),
    Opt("framerate", "float", "Set the framerate (frames per second) for the camera, -1 for default", default="-1"),
    Opt("denoise", "str", "Sets the Denoise operating mode: auto, off, cdn_off, cdn_fast, cdn_hq", default="auto"),
    Opt(
        "viewfinder-width",
        "uint",
        "Width of viewfinder frames from the camera (distinct from the preview window size",
        default="0",
    ),
    Opt(
        "viewfinder-height",
        "uint",
        "Height of viewfinder frames from the camera (distinct from the preview window size)",
        default="0",
    ),
    Opt("tuning-file", "str", "Name of camera tuning file to use, omit this option for default file", default="-"),
    Opt("lores-width", "uint", "Width of low resolution frames (use 0 to omit low resolution stream)", default="0"),
    Opt("lores-height", "uint", "Height of low resolution frames (use 0 to omit low resolution stream)", default="0"),
    _flag("lores-par", "Preserve the pixel aspect ratio of the low res image"),
    Opt("mode", "str", "Camera mode as W:H:bit-depth:packing, where packing is P (packed) or U (unpacked)"),
    Opt(
        "viewfinder-mode",
        "str",
        "Camera mode for preview as W:H:bit-depth:packing, where packing is P (packed) or U (unpacked)",
    ),
    Opt(
        "buffer-count",
        "uint",
        "Number of in-flight requests (and buffers) configured for video, raw, and still.",
        default="0",
    ),
    Opt(
        "viewfinder-buffer-count",
        "uint",
        "Number of in-flight requests (and buffers) configured for preview window.",
        default="0",
    ),
    _flag(
        "no-raw",
        "Disable requesting of a RAW stream. Will override any manual mode reqest the mode "
        "choice when setting framerate.",
    ),
    Opt(
        "autofocus-mode",
        "str",
        "Control to set the mode of the AF (autofocus) algorithm.(manual, auto, continuous)",
        default="default",
    ),
    Opt(
        "autofocus-range",
        "str",
        "Set the range of focus distances that is scanned.(normal, macro, full)",
        default="normal",
    ),
    Opt(
        "autofocus-speed",
        "str",
        "Control that determines whether the AF algorithm is to move the lens as "
        "quickly as possible or more steadily.(normal, fast)",
        default="normal",
    ),
    Opt(
        "autofocus-window",
        "str",
        "Sets AfMetering to  AfMeteringWindows an set region used, e.g. 0.25,0.25,0.5,0.5",
        default="0,0,0,0",
    ),
    Opt(
        "lens-position",
        "str",
        "Set the lens to a particular focus position, expressed as a reciprocal "
        'distance (0 moves the lens to infinity), or "default" for the hyperfocal distance',
    ),
    Opt("metadata", "str", 'Save captured image metadata to a file or "-" for stdout'),
    Opt(
        "metadata-format",
        "str",
        "Format to save the metadata in, either txt or json (requires --metadata)",
        default="json",
    ),
    Opt(
        "hdr",
        "str",
        'Enable High Dynamic Range, where supported. Available values are "off", "auto", '
        '"sensor" for sensor HDR (e.g. for Camera Module 3), "single-exp" for PiSP based single exposure '
        "multiframe HDR",
        default="off",
        implicit="auto",
    ),
]

STILL_OPTS = [
    Opt("quality", "int", "Set the JPEG quality parameter", "q", default="93"),
    Opt("exif", "str", "Add these extra EXIF tags to the output file", "x", multi=True),
    Opt(
        "timelapse",
        "time",
        "Time interval between timelapse captures. If no units are provided default to ms.",
        default="0ms",
    ),
    Opt("framestart", "uint", "Initial frame counter value for timelapse captures", default="0"),
    _flag("datetime", "Use date format for output file names"),
    _flag("timestamp", "Use system timestamps for output file names"),
    Opt("restart", "uint", "Set JPEG restart interval", default="0"),
    _flag("keypress", "Perform capture when ENTER pressed", "k"),
    _flag("signal", "Perform capture when signal received", "s"),
    Opt("thumb", "str", "Set thumbnail parameters as width:height:quality, or none", default="320:240:70"),
    Opt(
        "encoding",
        "str",
        "Set the desired output encoding, either jpg, png, rgb/rgb24, rgb48, bmp or yuv420",
        "e",
        default="jpg",
    ),
    _flag("raw", "Also save raw file in DNG format", "r"),
    Opt("latest", "str", "Create a symbolic link with this name to most recent saved file"),
    _flag("immediate", "Perform first capture immediately, with no preview phase"),
    _flag("autofocus-on-capture", "Switch to AfModeAuto and trigger a scan just before capturing a still"),
    _flag("zsl", "Switch to AfModeAuto and trigger a scan just before capturing a still"),
]

VID_OPTS = [
    Opt(
        "bitrate",
        "str",
        "Set the video bitrate for encoding. If no units are provided, default to bits/second.",
        "b",
        default="0bps",
    ),
    Opt("profile", "str", "Set the encoding profile"),
    Opt("level", "str", "Set the encoding level"),
    Opt("intra", "uint", "Set the intra frame period", "g", default="0"),
    _flag("inline", "Force PPS/SPS header with every I frame (h264 only)"),
    Opt("codec", "str", "Set the codec to use, either h264, libav, mjpeg or yuv420", default="h264"),
    Opt("save-pts", "str", "Save a timestamp file with this name"),
    Opt("quality", "int", "Set the MJPEG quality parameter (mjpeg only)", "q", default="50"),
    _flag("listen", "Listen for an incoming client network connection before sending data to the client", "l"),
    _flag("keypress", "Pause or resume video recording when ENTER pressed", "k"),
    _flag("signal", "Pause or resume video recording when signal received", "s"),
    Opt(
        "initial",
        "str",
        "Use 'pause' to pause the recording at startup, otherwise 'record' (the default)",
        "i",
        default="record",
    ),
    _flag("split", "Create a new output file every time recording is paused and then resumed"),
    Opt("segment", "uint", "Break the recording into files of approximately this many milliseconds", default="0"),
    Opt(
        "circular",
        "uint",
        "Write output to a circular buffer of the given size (in MB) which is saved on exit",
        default="0",
        implicit="4",
    ),
    Opt(
        "frames",
        "uint",
        "Run for the exact number of frames specified. This will override any timeout set.",
        default="0",
    ),
    Opt(
        "libav-video-codec",
        "str",
        'Sets the libav video codec to use. To list available codecs, run  the "ffmpeg -codecs" command.',
        default="h264_v4l2m2m",
        libav=True,
    ),
    Opt(
        "libav-video-codec-opts",
        "str",
        "Sets the libav video codec options to use. These override the "
        "internal defaults (string of 'key=value' pairs separated by spaces or commas)",
        libav=True,
    ),
    Opt(
        "libav-format",
        "str",
        "Sets the libav encoder output format to use. Leave blank to try and deduce "
        'this from the filename.\nTo list available formats, run  the "ffmpeg -formats" command.',
        libav=True,
    ),
    Opt(
        "libav-audio", "bool", "Records an audio stream together with the video.", default="0", implicit="1", libav=True
    ),
    _flag("low-latency", "Enables the libav/libx264 low latency presets for video encoding."),
]

APP_OPTS = {"still": STILL_OPTS, "vid": VID_OPTS, "hello": []}
AWB_MODES = ("auto", "normal", "incandescent", "tungsten", "fluorescent", "indoor", "daylight", "cloudy", "custom")
HDR_MODES = ("off", "auto", "sensor", "single-exp")
STILL_ENCODINGS = {
    "jpg": "jpg",
    "png": "png",
    "bmp": "bmp",
    "rgb": "rgb24",
    "rgb24": "rgb24",
    "rgb48": "rgb48",
    "yuv420": "yuv420",
}
# libav muxers we emulate, by --libav-format name or output file extension.
LIBAV_FORMATS = {
    "mp4": "mp4",
    "mov": "mov",
    "mkv": "matroska",
    "matroska": "matroska",
    "avi": "avi",
    "ts": "mpegts",
    "mpegts": "mpegts",
    "flv": "flv",
    "h264": "h264",
    "264": "h264",
}
BOOL_WORDS = {
    "": True,
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
}
TIME_UNITS = {"min": 60.0, "s": 1.0, "sec": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def option_table(app: str, libav: bool) -> dict[str, Opt]:
    opts = COMMON_OPTS + APP_OPTS[app]
    return {o.name: o for o in opts if libav or not o.libav}


def _lookup_long(name: str, table: dict[str, Opt]) -> Opt:
    if name in table:
        return table[name]
    # Boost's default style allows unambiguous abbreviations ("--time" for "--timeout").
    matches = [n for n in table if n.startswith(name)] if name else []
    if len(matches) == 1:
        return table[matches[0]]
    if matches:
        listed = ", ".join(f"'--{m}'" for m in matches)
        raise AppError(f"option '--{name}' is ambiguous and matches {listed}")
    raise AppError(f"unrecognised option '--{name}'")


def _looks_like_value(token: str) -> bool:
    return token == "-" or not token.startswith("-") or re.fullmatch(r"-[0-9.].*", token) is not None


def parse_command_line(args: list[str], table: dict[str, Opt]) -> dict[str, list[str]]:
    """Tokenise like Boost: --opt value, --opt=value, -o value, -ovalue, optional values for flags."""
    shorts = {o.short: o for o in table.values() if o.short}
    raw: dict[str, list[str]] = {}
    i = 0
    while i < len(args):
        token = args[i]
        i += 1
        inline: str | None
        if token.startswith("--") and len(token) > 2:
            name, eq, value = token[2:].partition("=")
            opt = _lookup_long(name, table)
            inline = value if eq else None
        elif token.startswith("-") and len(token) > 1:
            opt = shorts.get(token[1])
            if opt is None:
                raise AppError(f"unrecognised option '{token[:2]}'")
            inline = token[2:] or None
        else:
            raise AppError("too many positional options have been specified on the command line")
        if inline is not None:
            value = inline
        elif opt.implicit is not None:
            # Optional value: only take the next token when it cannot be another option.
            if i < len(args) and not args[i].startswith("-"):
                value = args[i]
                i += 1
            else:
                value = opt.implicit
        elif i < len(args) and _looks_like_value(args[i]):
            value = args[i]
            i += 1
        else:
            raise AppError(f"the required argument for option '--{opt.name}' is missing")
        if opt.name in raw and not opt.multi:
            raise AppError(f"option '--{opt.name}' cannot be specified more than once")
        raw.setdefault(opt.name, []).append(value)
    return raw


def parse_config_file(path: str, table: dict[str, Opt]) -> dict[str, list[str]]:
    """`-c FILE`: long option names as `name=value` lines; '#' starts a comment."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        raise AppError(f"failed to open config file {path}") from None
    raw: dict[str, list[str]] = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, _, value = line.partition("=")
        name = name.strip()
        if name not in table:
            raise AppError(f"unrecognised option '{name}'")
        raw.setdefault(name, []).append(value.strip())
    return raw


def convert(opt: Opt, value: str) -> object:
    invalid = AppError(f"the argument ('{value}') for option '--{opt.name}' is invalid")
    if opt.kind == "bool":
        if value.lower() not in BOOL_WORDS:
            raise invalid
        return BOOL_WORDS[value.lower()]
    if opt.kind in ("int", "uint"):
        pattern = r"\+?[0-9]+" if opt.kind == "uint" else r"[+-]?[0-9]+"
        if not re.fullmatch(pattern, value.strip()):
            raise invalid
        return int(value)
    if opt.kind == "float":
        if not re.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", value.strip()):
            raise invalid
        return float(value)
    return value


class Options:
    """Typed option values; attribute names use underscores (`opts.list_cameras`)."""

    def __init__(self, table: dict[str, Opt], raw: dict[str, list[str]]) -> None:
        self.values: dict[str, object] = {}
        self.given = set(raw)
        for name, opt in table.items():
            if name in raw:
                converted = [convert(opt, v) for v in raw[name]]
                self.values[name] = converted if opt.multi else converted[-1]
            elif opt.default is not None:
                self.values[name] = convert(opt, opt.default)
            else:
                self.values[name] = [] if opt.multi else None

    def __getattr__(self, attr: str) -> Any:
        try:
            return self.values[attr.replace("_", "-")]
        except KeyError:
            raise AttributeError(attr) from None

    def get(self, name: str) -> object:
        return self.values.get(name)


def parse_time(text: str, default_unit: str) -> float:
    """Seconds from a TimeVal string such as "2000", "0.5", "10s", "2min" (options.hpp:58-91)."""
    match = re.fullmatch(r"\s*([0-9]+\.?[0-9]*|\.[0-9]+)\s*(min|sec|s|ms|us|ns)?\s*", text)
    if not match:
        raise AppError("Invalid time string provided")
    return float(match.group(1)) * TIME_UNITS[match.group(2) or default_unit]


def help_text(table: dict[str, Opt]) -> str:
    lines = ["Valid options are:"]
    for opt in table.values():
        left = f"-{opt.short} [ --{opt.name} ]" if opt.short else f"--{opt.name}"
        if opt.implicit is not None:
            left += f" [=arg(={opt.implicit})]"
        else:
            left += " arg"
        if opt.default is not None:
            left += f" (={opt.default})"
        left = f"  {left}"
        first, *rest = opt.help.split("\n")
        lines.append(f"{left:<40}{first}" if len(left) < 40 else f"{left}\n{'':<40}{first}")
        lines.extend(f"{'':<40}{extra}" for extra in rest)
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------
# Cameras
# --------------------------------------------------------------------------------------------------

Mode = tuple[int, int, float, tuple[int, int, int, int]]  # width, height, max fps, crop x/y/w/h


@dataclasses.dataclass(frozen=True)
class Sensor:
    model: str
    size: tuple[int, int]
    bits: int
    cfa: str
    i2c_addr: str
    modes: tuple[tuple[str, tuple[Mode, ...]], ...]


_IMX219_MODES: tuple[Mode, ...] = (
    (640, 480, 206.65, (1000, 752, 1280, 960)),
    (1640, 1232, 41.85, (0, 0, 3280, 2464)),
    (1920, 1080, 47.57, (680, 692, 1920, 1080)),
    (3280, 2464, 21.19, (0, 0, 3280, 2464)),
)

SENSORS = {
    "imx708": Sensor(
        "imx708",
        (4608, 2592),
        10,
        "RGGB",
        "1a",
        (
            (
                "SRGGB10_CSI2P",
                (
                    (1536, 864, 120.13, (768, 432, 3072, 1728)),
                    (2304, 1296, 56.03, (0, 0, 4608, 2592)),
                    (4608, 2592, 14.35, (0, 0, 4608, 2592)),
                ),
            ),
        ),
    ),
    "imx477": Sensor(
        "imx477",
        (4056, 3040),
        12,
        "RGGB",
        "1a",
        (
            ("SRGGB10_CSI2P", ((1332, 990, 120.05, (696, 528, 2664, 1980)),)),
            (
                "SRGGB12_CSI2P",
                (
                    (2028, 1080, 50.03, (0, 440, 4056, 2160)),
                    (2028, 1520, 40.01, (0, 0, 4056, 3040)),
                    (4056, 3040, 10.00, (0, 0, 4056, 3040)),
                ),
            ),
        ),
    ),
    "imx219": Sensor(
        "imx219", (3280, 2464), 10, "RGGB", "10", (("SRGGB10_CSI2P", _IMX219_MODES), ("SRGGB8", _IMX219_MODES))
    ),
    "ov5647": Sensor(
        "ov5647",
        (2592, 1944),
        10,
        "GBRG",
        "36",
        (
            (
                "SGBRG10_CSI2P",
                (
                    (640, 480, 58.92, (16, 0, 2560, 1920)),
                    (1296, 972, 43.25, (0, 0, 2592, 1944)),
                    (1920, 1080, 30.62, (348, 434, 1928, 1080)),
                    (2592, 1944, 15.63, (0, 0, 2592, 1944)),
                ),
            ),
        ),
    ),
    "imx296": Sensor(
        "imx296", (1456, 1088), 10, "RGGB", "1a", (("SRGGB10_CSI2P", ((1456, 1088, 60.38, (0, 0, 1456, 1088)),)),)
    ),
}


def sensor_for(model: str) -> Sensor:
    # Unknown models still work: a plain 1080p sensor with that name.
    return SENSORS.get(model) or Sensor(
        model, (1920, 1080), 10, "RGGB", "1a", (("SRGGB10_CSI2P", ((1920, 1080, 30.0, (0, 0, 1920, 1080)),)),)
    )


@dataclasses.dataclass(frozen=True)
class Camera:
    index: int
    sensor: Sensor
    id: str


def platform() -> str:
    value = os.environ.get("STANDIN_PLATFORM", "pi5").strip().lower() or "pi5"
    if value not in ("pi5", "pi4"):
        sys.stderr.write(f"rpicam stand-in: STANDIN_PLATFORM must be pi5 or pi4, not {value!r}\n")
        sys.exit(2)
    return value


def cameras() -> list[Camera]:
    spec = os.environ.get("STANDIN_CAMERAS", "imx708").strip()
    if spec.lower() in ("", "none"):
        return []
    result = []
    for index, model in enumerate(m.strip() for m in spec.split(",") if m.strip()):
        sensor = sensor_for(model)
        if platform() == "pi5":
            bus = ("88000", "80000")[index] if index < 2 else f"8{index}000"
            cam_id = f"/base/axi/pcie@120000/rp1/i2c@{bus}/{model}@{sensor.i2c_addr}"
        else:
            bus = ("1", "0")[index] if index < 2 else str(index)
            cam_id = f"/base/soc/i2c0mux/i2c@{bus}/{model}@{sensor.i2c_addr}"
        result.append(Camera(index, sensor, cam_id))
    return result


def list_cameras_text(cams: list[Camera]) -> str:
    if not cams:
        return "No cameras available!\n"
    out = ["Available cameras", "-----------------"]
    for cam in cams:
        s = cam.sensor
        out.append(f"{cam.index} : {s.model} [{s.size[0]}x{s.size[1]} {s.bits}-bit {s.cfa}] ({cam.id})")
        for n, (fmt, modes) in enumerate(s.modes):
            head = f"    Modes: '{fmt}' : " if n == 0 else f"{'':11}'{fmt}' : "
            for m, (w, h, fps, (cx, cy, cw, ch)) in enumerate(modes):
                prefix = head if m == 0 else " " * len(head)
                out.append(f"{prefix}{w}x{h} [{fps:.2f} fps - ({cx}, {cy})/{cw}x{ch} crop]")
        out.append("")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------------
# Logging
# --------------------------------------------------------------------------------------------------

LOG_LEVELS = {"DEBUG": 0, "INFO": 1, "WARN": 2, "ERROR": 3, "FATAL": 4}


class Log:
    def __init__(self, verbose: int) -> None:
        self.verbose = verbose
        self.libcamera_threshold = self._threshold(os.environ.get("LIBCAMERA_LOG_LEVELS", ""))

    @staticmethod
    def _threshold(spec: str) -> int:
        # Only the "*:LEVEL" (or bare "LEVEL") form matters for our few lines.
        for item in spec.split(","):
            category, _, level = item.strip().rpartition(":")
            if category in ("", "*") and level:
                return int(level) if level.isdigit() else LOG_LEVELS.get(level.upper(), 1)
        return 1

    def app(self, message: str, level: int = 1) -> None:
        if self.verbose >= level:
            _stderr(message)

    def libcamera(self, category: str, where: str, message: str, level: str = "INFO") -> None:
        # Verbosity 0 switches libcamera logging off (options.cpp:417-418).
        if self.verbose == 0 or LOG_LEVELS[level] < self.libcamera_threshold:
            return
        ns = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        secs, frac = divmod(ns, 1_000_000_000)
        stamp = f"{secs // 3600}:{secs // 60 % 60:02}:{secs % 60:02}.{frac:09}"
        _stderr(f"[{stamp}] [{os.getpid()}] {level:>5} {category} {where} {message}")


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


# --------------------------------------------------------------------------------------------------
# Sensor lock and run log
# --------------------------------------------------------------------------------------------------


def state_dir() -> str:
    path = os.environ.get("STANDIN_STATE_DIR") or DEFAULT_STATE_DIR
    os.makedirs(path, exist_ok=True)
    return path


class SensorSession:
    """Exclusive hold on one sensor, like libcamera's media-device lock, plus the runs.log record."""

    def __init__(self, prog: str, camera: Camera) -> None:
        self.prog = prog
        self.camera = camera
        self.fd: int | None = None

    def acquire(self) -> bool:
        path = os.path.join(state_dir(), f"sensor{self.camera.index}.lock")
        # O_CLOEXEC: ffmpeg children must not keep the sensor busy after we exit.
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self.fd = fd
        self._record("start")
        return True

    def release(self) -> None:
        if self.fd is not None:
            self._record("end")
            os.close(self.fd)
            self.fd = None

    def _record(self, event: str) -> None:
        line = f"{event} {self.prog} {self.camera.index} {os.getpid()} {time.time():.6f}\n"
        fd = os.open(
            os.path.join(state_dir(), "runs.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666
        )
        try:
            os.write(fd, line.encode())  # one O_APPEND write: lines from parallel runs never interleave
        finally:
            os.close(fd)


# --------------------------------------------------------------------------------------------------
# ffmpeg
# --------------------------------------------------------------------------------------------------


def ffmpeg_exe() -> str:
    exe = os.environ.get("STANDIN_FFMPEG") or shutil.which("ffmpeg")
    if exe:
        return exe
    try:
        import imageio_ffmpeg
    except ImportError:
        raise AppError("rpicam stand-in: no ffmpeg (set STANDIN_FFMPEG or install imageio-ffmpeg)") from None
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def _child_setup_factory() -> Callable[[], None]:
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def setup() -> None:
        # Own process group: a SIGINT sent to our group must not cut the render short (we are already
        # stopping), but the child dies with us (PR_SET_PDEATHSIG) if we are killed mid-render.
        os.setpgid(0, 0)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:
            os._exit(1)

    return setup


def run_ffmpeg(args: list[str], stdout: IO[bytes] | int | None = None) -> bytes:
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
    proc = subprocess.run(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if stdout is None else stdout,
        stderr=subprocess.PIPE,
        preexec_fn=_child_setup_factory(),
    )
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        raise AppError(f"rpicam stand-in: ffmpeg failed: {detail[-1] if detail else proc.returncode}")
    return proc.stdout or b""


def test_source(width: int, height: int, fps: float) -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps:g}"]


# --------------------------------------------------------------------------------------------------
# Helpers shared by the apps
# --------------------------------------------------------------------------------------------------


def expand_counter(template: str, counter: int, limit: int) -> str:
    """snprintf(buf, limit, output, counter): %d-style directives take the counter, %% is a '%'."""

    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "%%":
            return "%"
        spec = m.group(0)[:-1] + ("d" if m.group(0)[-1] in "iu" else m.group(0)[-1])
        return spec % counter

    return re.sub(r"%%|%[-+ 0#]*[0-9]*[diuxXo]", repl, template)[: limit - 1]


def even(n: int) -> int:
    return n + (n & 1)  # libcamera aligns YUV420 sizes; x264/mjpeg need even sizes too


def abort_with(message: str, session: SensorSession) -> NoReturn:
    """What an exception escaping the encoder's std::thread looks like: SIGABRT, exit status 134."""
    _stderr("terminate called after throwing an instance of 'std::runtime_error'")
    _stderr(f"  what():  {message}")
    session.release()
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core files from test runs
    except (ValueError, OSError):
        pass
    os.abort()


class Events:
    """Signals and key presses delivered to the main loop (handlers only queue, the loop acts)."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self.queue: deque[str] = deque()
        self.stdin_open = False

    def on_signal(self, signum: int, event: str) -> None:
        def handler(received: int, _frame: object) -> None:
            self.queue.append(event)
            self.log.app(f"Received signal {received}")

        signal.signal(signum, handler)

    def watch_stdin(self) -> None:
        self.stdin_open = True

    def poll(self, timeout: float) -> str | None:
        if self.queue:
            return self.queue.popleft()
        if self.stdin_open:
            try:
                ready, _, _ = select.select([sys.stdin], [], [], timeout)
            except InterruptedError:
                ready = []
            if ready:
                line = sys.stdin.readline()
                if not line:
                    self.stdin_open = False  # EOF: no more key presses
                    return None
                return "quit" if line.strip().lower() == "x" else "key"
        elif timeout > 0:
            time.sleep(timeout)
        return self.queue.popleft() if self.queue else None

    def wait(self, deadline: float | None) -> str:
        """Next event, or "timeout" once the monotonic deadline passes (None: wait forever)."""
        while True:
            step = 0.02 if deadline is None else min(0.02, deadline - time.monotonic())
            if step <= 0:
                return "timeout"
            event = self.poll(step)
            if event:
                return event


def sleep_for(seconds: float) -> None:
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(left)


def hang_forever() -> NoReturn:
    while True:
        time.sleep(3600)


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


# --------------------------------------------------------------------------------------------------
# The apps
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Context:
    app: str
    prog: str
    opts: Options
    log: Log
    camera: Camera
    session: SensorSession
    timeout: float  # seconds, 0 = forever
    platform: str
    libav: bool


def check_semantics(app: str, opts: Options, libav: bool) -> None:
    """Checks that run after the camera manager started but before any camera is opened."""
    if str(opts.awb) not in AWB_MODES:
        raise AppError(f"Invalid AWB mode: {opts.awb}")
    if str(opts.hdr) not in HDR_MODES:
        raise AppError(f"Invalid HDR option provided: {opts.hdr}")
    for name in ("mode", "viewfinder-mode"):
        value = opts.get(name)
        if value:
            match = re.fullmatch(r"([0-9]+):([0-9]+)(?::([0-9]+)(?::(.))?)?.*", str(value))
            if not match:
                raise AppError("Invalid mode")
            if match.group(4) and match.group(4).upper() not in ("P", "U"):
                raise AppError("Packing indicator should be P or U")
    parse_time(str(opts.shutter), "us")
    if app == "still":
        if str(opts.encoding).lower() not in STILL_ENCODINGS:
            raise AppError(f"invalid encoding format {opts.encoding}")
        if (opts.keypress or opts.signal) and parse_time(str(opts.timelapse), "ms"):
            raise AppError("keypress/signal and timelapse options are mutually exclusive")
    if app == "vid":
        codecs = ("h264", "mjpeg", "yuv420") + (("libav",) if libav else ())
        if str(opts.codec).lower() not in codecs:
            raise AppError(f"unrecognised codec {opts.codec}")


def startup_logs(ctx: Context, size: tuple[int, int]) -> None:
    log, cam = ctx.log, ctx.camera
    if not ctx.opts.nopreview:
        log.app("Preview window unavailable")
    w, h = size
    mode = min((m for _, modes in cam.sensor.modes for m in modes), key=lambda m: (m[0] < w or m[1] < h, m[0] * m[1]))
    log.app(f"Mode selection for {w}:{h}:12:P")
    log.libcamera("Camera", "camera.cpp:1215", f"configuring streams: (0) {w}x{h}-YUV420")
    bayer = f"{mode[0]}x{mode[1]}-S{cam.sensor.cfa}{cam.sensor.bits}_1X{cam.sensor.bits}"
    if ctx.platform == "pi5":
        log.libcamera(
            "RPI",
            "pisp.cpp:1484",
            f"Sensor: {cam.id} - Selected sensor format: {bayer} - Selected CFE format: {mode[0]}x{mode[1]}-PC1B",
        )
    else:
        log.libcamera(
            "RPI",
            "vc4.cpp:622",
            f"Sensor: {cam.id} - Selected sensor format: {bayer} - Selected unicam format: {mode[0]}x{mode[1]}-pBAA",
        )


def run_hello(ctx: Context) -> int:
    startup_logs(ctx, (800, 600))
    sleep_for(env_float("STANDIN_STARTUP_SEC", DEFAULT_STARTUP_SEC))
    inject_faults()
    Events(ctx.log).wait(None if ctx.timeout == 0 else time.monotonic() + ctx.timeout)
    return 0


def inject_faults() -> None:
    """Failure modes the server's tests ask for through the environment (after sensor start-up)."""
    if os.environ.get("STANDIN_IGNORE_SIGTERM") == "1":
        hang_forever()
    message = os.environ.get("STANDIN_FAIL")
    if message:
        raise AppError(message)


def still_image(encoding: str, width: int, height: int, quality: int) -> bytes:
    src = test_source(width, height, 1) + ["-frames:v", "1"]
    qscale = str(max(2, min(31, round(2 + (100 - quality) * 29 / 100))))
    codec = {
        "jpg": ["-c:v", "mjpeg", "-q:v", qscale, "-pix_fmt", "yuvj420p", "-f", "image2pipe"],
        "png": ["-c:v", "png", "-f", "image2pipe"],
        "bmp": ["-c:v", "bmp", "-pix_fmt", "bgr24", "-f", "image2pipe"],
        "rgb24": ["-f", "rawvideo", "-pix_fmt", "rgb24"],
        "rgb48": ["-f", "rawvideo", "-pix_fmt", "rgb48le"],
        "yuv420": ["-f", "rawvideo", "-pix_fmt", "yuv420p"],
    }[encoding]
    return run_ffmpeg(src + codec + ["pipe:1"])


def run_still(ctx: Context) -> int:
    o = ctx.opts
    encoding = STILL_ENCODINGS[str(o.encoding).lower()]
    width = even(int(o.width) or ctx.camera.sensor.size[0])
    height = even(int(o.height) or ctx.camera.sensor.size[1])
    startup = env_float("STANDIN_STARTUP_SEC", DEFAULT_STARTUP_SEC)
    scaled_switch = DEFAULT_MODE_SWITCH_SEC * startup / DEFAULT_STARTUP_SEC  # fast start-up, fast switch
    mode_switch = env_float("STANDIN_MODE_SWITCH_SEC", scaled_switch)
    timelapse = parse_time(str(o.timelapse), "ms")
    counter = int(o.framestart)

    startup_logs(ctx, (width, height) if o.immediate else (2304, 1296))
    sleep_for(startup)
    inject_faults()

    events = Events(ctx.log)
    if o.signal:  # handlers go in right after the camera opens; an earlier SIGUSR1 kills us
        events.on_signal(signal.SIGUSR1, "key")
        events.on_signal(signal.SIGUSR2, "quit")
    if o.keypress:
        events.watch_stdin()

    def capture() -> None:
        nonlocal counter
        sleep_for(mode_switch)
        ctx.log.app("Still capture image received")
        name = still_filename(o, encoding, counter)
        if name:
            save_still(ctx, name, encoding, width, height)
        counter += 1
        if o.wrap:
            counter %= int(o.wrap)

    deadline = None if ctx.timeout == 0 else time.monotonic() + ctx.timeout
    if o.signal or o.keypress:
        # Triggered mode: capture per trigger; the timeout expiring ends the app without a capture.
        while events.wait(deadline) == "key":
            capture()
            if o.immediate:
                break
        return 0
    if o.immediate:
        capture()
        return 0
    if timelapse:
        next_shot = time.monotonic()
        while deadline is None or time.monotonic() < deadline:
            capture()
            next_shot += timelapse
            events.wait(next_shot if deadline is None else min(next_shot, deadline))
        return 0
    events.wait(deadline)  # the preview phase (-t 0: forever, the capture never happens)
    capture()
    return 0


def still_filename(o: Options, encoding: str, counter: int) -> str:
    output = str(o.output or "")
    if o.datetime:
        return os.path.join(output, time.strftime("%m%d%H%M%S") + f".{encoding}")
    if o.timestamp:
        return os.path.join(output, f"{int(time.time())}.{encoding}")
    return expand_counter(output, counter, 128) if output else ""


def save_still(ctx: Context, name: str, encoding: str, width: int, height: int) -> None:
    o = ctx.opts
    if name == "-":
        sys.stdout.buffer.write(still_image(encoding, width, height, int(o.quality)))
        sys.stdout.buffer.flush()
        return
    try:
        f = open(name, "wb")  # relative names are relative to our cwd, as for the real app
    except OSError:
        raise AppError(f"failed to open file {name}") from None
    with f:
        f.write(still_image(encoding, width, height, int(o.quality)))
    if o.raw:  # a TIFF stands in for the DNG
        dng = os.path.splitext(name)[0] + ".dng"
        with open(dng, "wb") as f:
            f.write(
                run_ffmpeg(
                    test_source(width, height, 1) + ["-frames:v", "1", "-c:v", "tiff", "-f", "image2pipe", "pipe:1"]
                )
            )
    if o.latest:
        link = str(o.latest)
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(name, link)


@dataclasses.dataclass
class VideoPlan:
    path: str | None  # None: encode and discard (no -o, or a network URL)
    muxer: str  # ffmpeg muxer: h264, mjpeg, rawvideo, mp4, matroska, ...
    libav: bool  # libav/libx264 encoder path (Pi 5 h264, --codec libav)
    bframes: int


def plan_video(ctx: Context) -> VideoPlan:
    o = ctx.opts
    codec = str(o.codec).lower()
    raw_output = str(o.output or "")
    path: str | None = expand_counter(raw_output, 0, 256) if raw_output else None
    if path and re.match(r"(udp|tcp)://", path):
        path = None
    if codec == "mjpeg":
        return VideoPlan(path, "mjpeg", False, 0)
    if codec == "yuv420":
        return VideoPlan(path, "rawvideo", False, 0)
    libav = codec == "libav" or (ctx.platform == "pi5" and ctx.libav)
    if not libav:
        # Pi 4 hardware encoder through the Output class: raw Annex-B whatever the extension.
        return VideoPlan(path, "h264", False, 0)
    # h264_v4l2m2m (the default) becomes libx264 when the platform is not VC4.
    x264 = ctx.platform == "pi5" or str(o.libav_video_codec) == "libx264"
    bframes = 2 if x264 else 0
    fmt = str(o.libav_format or "")
    if fmt:
        if fmt not in LIBAV_FORMATS:
            raise AppError("libav: cannot allocate output context, try setting with --libav-format")
        return VideoPlan(path, LIBAV_FORMATS[fmt], True, bframes)
    if path in (None, "-"):
        return VideoPlan(path, "h264", True, bframes)
    ext = os.path.splitext(path)[1].lstrip(".").lower()
    if not ext:
        raise AppError("libav: please specify output format with the --libav-format argument")
    if ext not in LIBAV_FORMATS:
        raise AppError("libav: cannot allocate output context, try setting with --libav-format")
    return VideoPlan(path, LIBAV_FORMATS[ext], True, bframes)


def video_codec_args(ctx: Context, plan: VideoPlan, fps: float) -> list[str]:
    o = ctx.opts
    if plan.muxer == "mjpeg":
        qscale = str(max(2, min(31, round(2 + (100 - int(o.quality)) * 29 / 100))))
        return ["-c:v", "mjpeg", "-q:v", qscale, "-pix_fmt", "yuvj420p", "-f", "mjpeg"]
    if plan.muxer == "rawvideo":
        return ["-f", "rawvideo", "-pix_fmt", "yuv420p"]
    profile = str(o.profile or "").lower()
    bframes = 0 if profile == "baseline" else plan.bframes
    # The GOP follows the framerate unless --intra says otherwise, as with libx264 on the Pi.
    args = [
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-bf",
        str(bframes),
        "-g",
        str(int(o.intra) or max(1, round(fps))),
    ]
    if profile in ("baseline", "main", "high"):
        args += ["-profile:v", profile]
    if plan.muxer == "h264":
        # Elementary stream with a 1 MHz VUI tick: `-framerate F -i` remuxes it wrongly, `-r F -i` right.
        return args + ["-bsf:v", "h264_metadata=tick_rate=2000000", "-f", "h264"]
    return args + ["-f", plan.muxer]


def run_vid(ctx: Context) -> int:
    o = ctx.opts
    fps = float(o.framerate) if float(o.framerate) > 0 else 30.0  # DEFAULT_FRAMERATE
    width, height = even(int(o.width) or 640), even(int(o.height) or 480)
    plan = plan_video(ctx)

    startup_logs(ctx, (width, height))
    sleep_for(env_float("STANDIN_STARTUP_SEC", DEFAULT_STARTUP_SEC))
    inject_faults()

    # Open the output now, so it exists (empty) while recording; a SIGTERM leaves it like that.
    out: IO[bytes] | None = None
    if plan.path == "-":
        out = sys.stdout.buffer
    elif plan.path is not None:
        try:
            out = open(plan.path, "wb")
        except OSError as e:
            if plan.libav:
                abort_with(f"libav: unable to open output mux for {plan.path}: {e.strerror}", ctx.session)
            abort_with(f"failed to open output file {plan.path}", ctx.session)
    if plan.libav:
        # FFmpeg's av_log output is printed whatever the verbosity.
        _stderr("[libx264 @ 0x55d5c3f0a2c0] using cpu capabilities: ARMv8 NEON")
        _stderr("[libx264 @ 0x55d5c3f0a2c0] profile High, level 4.0, 4:2:0, 8-bit")
        _stderr(f"Output #0, {plan.muxer}, to '{plan.path or 'pipe:'}':")

    # rpicam-vid installs its handlers only once the camera runs: before that, SIGINT kills it.
    events = Events(ctx.log)
    events.on_signal(signal.SIGINT, "stop")
    events.on_signal(signal.SIGUSR2, "stop")
    if o.signal:
        events.on_signal(signal.SIGUSR1, "toggle")
    if o.keypress:
        events.watch_stdin()

    frames_wanted = int(o.frames)
    recorded = record(
        events,
        ctx.timeout if not frames_wanted else 0.0,
        frames_wanted / fps if frames_wanted else None,
        paused=str(o.initial) == "pause",
    )
    frames = round(recorded * fps)
    if recorded > 0:
        frames = max(1, frames)
    if frames_wanted:
        frames = min(frames, frames_wanted)

    if out is not None and frames > 0:
        render_video(ctx, plan, out, width, height, fps, frames)
    if out is not None and out is not sys.stdout.buffer:
        out.close()
    if o.save_pts:
        with open(str(o.save_pts), "w", encoding="ascii") as f:
            f.write("# timecode format v2\n" + "".join(f"{i * 1000 / fps:.3f}\n" for i in range(frames)))
    return 0


def record(events: Events, timeout: float, length: float | None, paused: bool) -> float:
    """Wait until the timeout, the wanted length or a stop; returns the seconds actually recorded."""
    start = last = time.monotonic()
    recorded = 0.0
    while True:
        now = time.monotonic()
        if not paused:
            recorded += now - last
        last = now
        if length is not None and recorded >= length:
            return length
        if timeout and now - start >= timeout:
            return recorded
        step = 0.01
        if length is not None and not paused:
            step = min(step, length - recorded)
        if timeout:
            step = min(step, start + timeout - now)
        event = events.poll(max(step, 0.0))
        if event in ("stop", "quit"):
            now = time.monotonic()
            return recorded + (0.0 if paused else now - last)
        if event in ("toggle", "key"):
            now = time.monotonic()
            if not paused:
                recorded += now - last
            last = now
            paused = not paused


def render_video(
    ctx: Context, plan: VideoPlan, out: IO[bytes], width: int, height: int, fps: float, frames: int
) -> None:
    args = test_source(width, height, fps) + ["-frames:v", str(frames)] + video_codec_args(ctx, plan, fps)
    if plan.muxer in ("h264", "mjpeg", "rawvideo") or plan.path == "-":
        if plan.path == "-" and plan.muxer in ("mp4", "mov"):
            args += ["-movflags", "frag_keyframe+empty_moov"]  # MP4 to a pipe must be fragmented
        out.flush()
        run_ffmpeg(args + ["pipe:1"], stdout=out)
    else:
        # Containers need a seekable file: let ffmpeg rewrite the (still empty) file by name.
        run_ffmpeg(args + ["file:" + os.path.abspath(str(plan.path))])


# --------------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------------


def detect_app(argv0: str) -> tuple[str, str]:
    """(app, program name) from argv[0], else from $STANDIN_APP."""
    for candidate in (os.path.basename(argv0), os.environ.get("STANDIN_APP", "")):
        match = re.fullmatch(r"(?:(rpicam|libcamera)-)?(still|vid|hello)(?:\.py)?", candidate)
        if match:
            prefix = match.group(1) or "rpicam"
            return match.group(2), f"{prefix}-{match.group(2)}"
    sys.stderr.write(
        f"rpicam stand-in: cannot tell the app from {argv0!r}; set STANDIN_APP=rpicam-still|rpicam-vid|rpicam-hello\n"
    )
    sys.exit(2)


def run(app: str, prog: str, args: list[str]) -> int:
    libav = os.environ.get("STANDIN_NO_LIBAV") != "1"
    table = option_table(app, libav)
    raw = parse_command_line(args, table)
    if "config" in raw:
        for name, values in parse_config_file(raw["config"][-1], table).items():
            raw.setdefault(name, values)  # the command line wins
    opts = Options(table, raw)

    if opts.help:
        sys.stdout.write(help_text(table) if libav else help_text(table).replace(" libav,", ""))
        return 0
    if opts.version:
        sys.stdout.write(
            f"rpicam-apps build: {RPICAM_VERSION} standin\n"
            f"rpicam-apps capabilites: egl:0 qt:0 drm:0 libav:{int(libav)}\n"
            f"libcamera build: {LIBCAMERA_VERSION} standin\n"
        )
        return 0
    timeout = parse_time(str(opts.timeout), "ms")
    cams = cameras()
    if opts.list_cameras:
        sys.stdout.write(list_cameras_text(cams))  # libcamera logging is off for the listing
        return 0

    log = Log(int(opts.verbose))
    pipeline = "rpi/pisp" if platform() == "pi5" else "rpi/vc4"
    log.libcamera("Camera", "camera_manager.cpp:340", f"libcamera {LIBCAMERA_VERSION}+rpt20260101")
    for cam in cams:
        log.libcamera("Camera", "camera_manager.cpp:223", f"Adding camera '{cam.id}' for pipeline handler {pipeline}")
    check_semantics(app, opts, libav)
    if not cams:
        raise AppError("no cameras available")
    if int(opts.camera) >= len(cams):
        raise AppError("selected camera is not available")
    camera = cams[int(opts.camera)]

    session = SensorSession(prog, camera)
    if not session.acquire():
        log.libcamera("Camera", "camera.cpp:1008", "Pipeline handler in use by another process")
        raise AppError(f"failed to acquire camera {camera.id}")
    try:
        if os.environ.get("STANDIN_FORK_CHILD") == "1":
            fork_sleeper()
        ctx = Context(app, prog, opts, log, camera, session, timeout, platform(), libav)
        return {"still": run_still, "vid": run_vid, "hello": run_hello}[app](ctx)
    finally:
        session.release()


def fork_sleeper() -> None:
    """A child in our process group (holding the inherited sensor lock) that outlives us."""
    sys.stdout.flush()
    sys.stderr.flush()
    if os.fork() == 0:
        try:
            time.sleep(600)
        finally:
            os._exit(0)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    app, prog = detect_app(argv[0])
    if os.environ.get("STANDIN_IGNORE_SIGTERM") == "1":
        # A hung camera: only SIGKILL ends it. Ignore from the very start so no signal slips in early.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    elif signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        # Like a C program: SIGINT kills unless an app installs a handler (an inherited SIG_IGN stays).
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        return run(app, prog, argv[1:])
    except AppError as e:
        _stderr(f"ERROR: *** {e} ***")
        return 255


if __name__ == "__main__":
    sys.exit(main())
