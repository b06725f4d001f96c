#!/usr/bin/env python3
"""Test stand-in for the Raspberry Pi camera apps rpicam-still, rpicam-vid and rpicam-hello.

It keeps the command-line contract of rpicam-apps v1.13 (/work/shared/reference/rpicam-cli.md):
Boost-style option parsing and error texts, exit codes, the `--list-cameras` layout, the busy-camera
error, signal behaviour, and real media files rendered from ffmpeg's test pattern.

The app is picked from the basename of argv[0] (rpicam-still, libcamera-vid, ...), or from $STANDIN_APP
when the file is run directly. Environment knobs (all optional):

  STANDIN_CAMERAS          comma list of camera models (default "imx708"; "" or "none": no camera). Known
                           sensors: imx708 (the only one with autofocus), imx477, imx219, ov5647, imx296;
                           another name without a space is a plain 1080p sensor; a name with a space (e.g.
                           "HD Pro Webcam C920") is a USB webcam on libcamera's uvcvideo pipeline
  STANDIN_PLATFORM         pi5 (default) or pi4: camera ids and which h264 encoder path is emulated
  STANDIN_STATE_DIR        sensor locks, runs.log and argv.log (default /tmp/rpicam-standin)
  STANDIN_STARTUP_SEC      sensor start-up delay before the -t phase (default 0.3)
  STANDIN_MODE_SWITCH_SEC  still mode-switch delay (default 0.25, scaled like STANDIN_STARTUP_SEC)
  STANDIN_FFMPEG           ffmpeg executable (default: ffmpeg on PATH, then imageio_ffmpeg's)
  STANDIN_NO_LIBAV=1       emulate a build without libav (no libav/audio options, `--version` says libav:0)
  STANDIN_IGNORE_SIGTERM=1 hung camera: ignore SIGTERM/SIGINT and hang after start-up
  STANDIN_FORK_CHILD=1     fork a child (same process group, inherits the sensor lock) that sleeps 600 s
  STANDIN_FAIL=<message>   fail after start-up with "ERROR: *** <message> ***", exit 255
  STANDIN_LIST_SEC         how long --list-cameras takes (default 0; it logs list-start/list-end in runs.log)
  STANDIN_SPEED            rpicam-vid's `--codec mjpeg -o -` stream: frames come this many times faster than
                           --framerate (soak tests; default 1)
  STANDIN_STALL_AFTER      that stream stops sending frames (and hangs until stopped) after this many
                           frames: a stalled camera
  STANDIN_FRAME_STAMP=1    each streamed frame carries a JPEG comment `t=<unix time>` written just before it
                           leaves (the frame-latency benchmark)

Files in the state dir:

  sensor<N>.lock  flock held while a run uses camera N (each camera has its own: two cameras can run at
                  once, a second run on the same one gets "failed to acquire camera <id>", exit 255)
  runs.log        per camera run, `start <prog> <camera> <pid> <unix time>` and
                  `end <prog> <camera> <pid> <unix time> stop=<SIGINT|SIGTERM|SIGUSR2|SIGABRT|none>`
                  (none: it ended of its own accord; a SIGKILLed run has no end line)
  argv.log        every run, --help/--version/--list-cameras and failures included: one JSON line
                  {"prog": ..., "pid": ..., "camera": <int, null when not a capture or unparsable>,
                   "argv": [all args after argv[0]], "t": <unix time>}

Behaviour worth knowing:

  --help      Boost's layout of the real option tables (rpicam-hello 8.6 kB, still 10.2 kB, vid 13.2 kB;
              --libav-format 2,018 bytes from the end); each app accepts only the options it lists.
  --version   three lines: build v1.13.0, "capabilites" (sic) with libav:<0|1>, libcamera v0.7.1+rpt...
  -t          TimeVal parsing: a leading number, then a unit only if the rest is exactly one ("5x" = 5 ms).
              rpicam-vid and rpicam-hello log "Halting: reached timeout of N milliseconds." when it runs out.
  signals     SIGTERM kills every app (after noting it in runs.log); SIGINT stops rpicam-vid cleanly once
              it has started and kills rpicam-still/rpicam-hello; -s modes use SIGUSR1/SIGUSR2.
  -o -       rpicam-vid `--codec mjpeg -o -` streams: concatenated JPEGs at the frame rate (paced, cycling
              through one second of rendered test pattern), until -t, SIGINT (exit 0) or SIGUSR2. A reader that
              closes the pipe makes it abort with `what():  failed to write output bytes`, exit 134 (fact sheet §8).
  --hflip/--vflip/--rotation 180 flip the rendered pictures; 90/270 and other angles fail like the app.
  --metadata FILE|- with --metadata-format json|txt: the capture's (for video: the last frame's) libcamera
              controls; LensPosition only on imx708. An unopenable FILE is silently skipped, as for real.
  sizes       odd --width/--height are rounded down to even (641x479 gives 640x478).
"""

from __future__ import annotations

import ctypes
import dataclasses
import fcntl
import json
import os
import re
import resource
import select
import shutil
import signal
import subprocess
import sys
import time
import zlib
from collections import deque
from collections.abc import Callable
from typing import IO, Any, NoReturn

RPICAM_VERSION = "v1.13.0"
RPICAM_COMMIT = "5f1d7e3a"  # made up: `--version` shows the build's commit, date and time
RPICAM_BUILD_DATE = "17-11-2026 (09:41:07)"
LIBCAMERA_BUILD = "v0.7.1+rpt20261117"
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
    default: str | None = None  # also what --help shows as (=default); None: no default
    implicit: str | None = None  # value used when the option is given bare
    multi: bool = False  # may be repeated (std::vector options)
    libav: bool = False  # only present in builds with libav


def _flag(name: str, help: str, short: str = "") -> Opt:
    return Opt(name, "bool", help, short, default="0", implicit="1")


# The option tables, in the order and with the help texts of rpicam-apps v1.13 (core/options.cpp, then
# core/still_options.hpp or core/video_options.hpp). `--help` prints them with Boost's layout, which is
# what makes the real help texts 8.7-13.4 kB long.
_INFO_TEXT_HELP = (
    "Sets the information string on the titlebar. Available values:\n%frame (frame number)\n%fps (framerate)\n"
    "%exp (shutter speed)\n%ag (analogue gain)\n%dg (digital gain)\n%rg (red colour gain)\n%bg (blue colour gain)\n"
    "%focus (focus FoM value)\n%aelock (AE locked status)\n%lp (lens position, if known)\n"
    "%temp (sensor temperature, if available)\n%afstate (AF state, if supported)"
)
COMMON_OPTS = [
    _flag("help", "Print this help message", "h"),
    _flag("version", "Displays the build version number"),
    _flag("list-cameras", "Lists the available cameras attached to the system."),
    Opt(
        "camera",
        "uint",
        "Chooses the camera to use. To list the available indexes, use the --list-cameras option.",
        default="0",
    ),
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
        "Read the options from a file. If no filename is specified, default to config.txt. In case of duplicate "
        "options, the ones provided on the command line will be used. Note that the config file must only contain "
        "the long form options.",
        "c",
        implicit="config.txt",
    ),
    Opt("info-text", "str", _INFO_TEXT_HELP, default="#%frame (%fps fps) exp %exp ag %ag dg %dg"),
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
    Opt("preview-libs", "str", "Set a custom location for the preview library .so files"),
    _flag("hflip", "Request a horizontal flip transform"),
    _flag("vflip", "Request a vertical flip transform"),
    Opt("rotation", "int", "Request an image rotation, 0 or 180", default="0"),
    Opt("roi", "str", "Set region of interest (digital zoom) e.g. 0.25,0.25,0.5,0.5", default="0,0,0,0"),
    Opt("shutter", "str", "Set a fixed shutter speed. If no units are provided default to us", default="0"),
    Opt("analoggain", "float", "Set a fixed gain value (synonym for 'gain' option)", default="0"),
    Opt("gain", "float", "Set a fixed gain value"),  # shares analoggain's variable, so shows no default
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
    Opt("ccm", "str", "Set an explicit colour correction matrix (NOTE: must also set explicit AWB gains)"),
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
    Opt("framerate", "float", "Set the fixed framerate for preview and video modes", default="-1"),
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
    Opt(
        "tuning-file",
        "str",
        "Name of camera tuning file to use, omit this option for libcamera default behaviour",
        default="-",
    ),
    Opt("lores-width", "uint", "Width of low resolution frames (use 0 to omit low resolution stream)", default="0"),
    Opt("lores-height", "uint", "Height of low resolution frames (use 0 to omit low resolution stream)", default="0"),
    _flag(
        "lores-par",
        "Preserve the pixel aspect ratio of the low res image (where possible) by applying a different crop on the "
        "stream.",
    ),
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
    Opt(
        "hdr",
        "str",
        'Enable High Dynamic Range, where supported. Available values are "off", "auto", '
        '"sensor" for sensor HDR (e.g. for Camera Module 3), "single-exp" for PiSP based single exposure '
        "multiframe HDR",
        default="off",
        implicit="auto",
    ),
    Opt("metadata", "str", 'Save captured image metadata to a file or "-" for stdout'),
    Opt(
        "metadata-format",
        "str",
        "Format to save the metadata in, either txt or json (requires --metadata)",
        default="json",
    ),
    Opt(
        "flicker-period",
        "str",
        "Manual flicker correction period\nSet to 10000us to cancel 50Hz flicker.\nSet to 8333us to cancel 60Hz "
        "flicker.\n",
        default="0s",
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
    _flag("zsl", "Use the capture mode for preview in order to reduce the shutter lag for the final capture"),
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
    Opt("encoder-libs", "str", "Set a custom location for the encoder library .so files"),
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
        "Sets the libav video codec options to use. These override the internal defaults (check "
        "'encoderOptions*()' in 'encoder/libav_encoder.cpp' for the defaults). Separate key and value with \"=\" "
        'and multiple options with ";". e.g.: "preset=ultrafast;profile=high;partitions=i8x8,i4x4". To list '
        'available options for a given codec, run the "ffmpeg -h encoder=libx264" command for libx264.',
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
    Opt(
        "audio-codec",
        "str",
        'Sets the libav audio codec to use.\nTo list available codecs, run  the "ffmpeg -codecs" command.',
        default="aac",
        libav=True,
    ),
    Opt(
        "audio-source",
        "str",
        'Audio source to record from. Valid options are "pulse" and "alsa"',
        default="pulse",
        libav=True,
    ),
    Opt(
        "audio-device",
        "str",
        "Audio device to record from.  To list the available devices,\nfor pulseaudio, use the following command:\n"
        "\"pactl list | grep -A2 'Source #' | grep 'Name: '\"\nor for alsa, use the following command:\n"
        '"arecord -L"',
        default="default",
        libav=True,
    ),
    Opt(
        "audio-channels",
        "uint",
        "Number of channels to use for recording audio. Set to 0 to use default value.",
        default="0",
        libav=True,
    ),
    Opt(
        "audio-bitrate",
        "str",
        "Set the audio bitrate for encoding. If no units are provided, default to bits/second.",
        default="32kbps",
        libav=True,
    ),
    Opt(
        "audio-samplerate",
        "uint",
        "Set the audio sampling rate in Hz for encoding. Set to 0 to use the input sample rate.",
        default="0",
        libav=True,
    ),
    Opt(
        "av-sync",
        "str",
        "Add a time offset (in microseconds if no units provided) to the audio stream, relative to the video "
        "stream. The offset value can be either positive or negative.",
        default="0us",
        libav=True,
    ),
    _flag("low-latency", "Enables the libav/libx264 low latency presets for video encoding."),
    Opt(
        "sync",
        "str",
        'Whether to synchronise with another camera. Use "off", "server" or "client".',
        default="off",
    ),
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
    """Seconds from a TimeVal string such as "2000", "0.5", "10s", "2min" (options.hpp TimeVal::set).

    Like std::stof, a leading number is read and what follows it is a unit only when it is exactly one of
    the unit names; anything else after the number is ignored ("5x" is 5 ms), as on the real apps.
    """
    match = re.match(r"\s*([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)", text)
    if not match:
        raise AppError("Invalid time string provided")
    rest = text[match.end() :]
    return float(match.group(1)) * TIME_UNITS[rest if rest in TIME_UNITS else default_unit]


def leading_floats(text: str, count: int) -> list[float] | None:
    """sscanf(text, "%f,%f,...") with `count` conversions: the values, or None when fewer matched."""
    values = []
    pos = 0
    for i in range(count):
        if i:
            if not text.startswith(",", pos):
                return None
            pos += 1
        match = re.compile(r"\s*([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)").match(text, pos)
        if not match:
            return None
        values.append(float(match.group(1)))
        pos = match.end()
    return values


HELP_LINE_LENGTH = 120  # options_description("Valid options are", 120, 80)
HELP_MIN_DESCRIPTION = 80


def _help_parameter(opt: Opt) -> str:
    """Boost's typed_value::name(): `arg`, `arg (=default)`, `[=arg(=implicit)] (=default)`."""
    if opt.implicit is not None:
        text = f"[=arg(={opt.implicit})]"
        return text + (f" (={opt.default})" if opt.default else "")
    return f"arg (={opt.default})" if opt.default else "arg"


def _help_paragraph(par: str, indent: int, line_length: int) -> str:
    """Boost's format_paragraph: wrap at line_length, breaking at a space in the second half of a line."""
    line_length -= indent
    if len(par) < line_length:
        return par
    out = []
    begin, end_of_par, first_line = 0, len(par), True
    while begin < end_of_par:
        if not first_line and par[begin] == " " and begin + 1 < end_of_par and par[begin + 1] != " ":
            begin += 1  # a single leading space of a continuation line is dropped
        end = begin + min(end_of_par - begin, line_length)
        if par[end - 1] != " " and end < end_of_par and par[end] != " ":
            space = par.rfind(" ", begin, end)
            if space != -1 and end - (space + 1) < line_length // 2:
                end = space + 1  # the line keeps its trailing space
        out.append(par[begin:end])
        first_line = False
        if end != end_of_par:
            out.append("\n" + " " * indent)
        begin = end
    return "".join(out)


def help_text(table: dict[str, Opt]) -> str:
    """`--help`: Boost.Program_options' options_description layout (line length 120, descriptions 80)."""
    rows = []
    for opt in table.values():
        name = f"-{opt.short} [ --{opt.name} ]" if opt.short else f"--{opt.name}"
        rows.append((f"  {name} {_help_parameter(opt)}", opt.help))
    width = min(max([23] + [len(left) for left, _ in rows]), HELP_LINE_LENGTH - HELP_MIN_DESCRIPTION - 1) + 1
    out = ["Valid options are:\n"]
    for left, description in rows:
        out.append(left)
        if description:
            out.append("\n" + " " * width if len(left) >= width else " " * (width - len(left)))
            # format_description: one character less per line, then one paragraph per '\n'-separated piece.
            paragraphs = [_help_paragraph(p, width, HELP_LINE_LENGTH - 1) for p in description.split("\n")]
            out.append(("\n" + " " * width).join(paragraphs))
        out.append("\n")
    return "".join(out)


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
    usb: bool = False  # a USB webcam through libcamera's uvcvideo pipeline: no bit depth, CFA or lens
    autofocus: bool = False  # has a lens driver (AfMode, LensPosition): only imx708 here


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
        autofocus=True,
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


_USB_MODES: tuple[tuple[str, tuple[Mode, ...]], ...] = (
    (
        "MJPEG",
        (
            (640, 480, 30.0, (0, 0, 1920, 1080)),
            (1280, 720, 30.0, (0, 0, 1920, 1080)),
            (1920, 1080, 30.0, (0, 0, 1920, 1080)),
        ),
    ),
    (
        "YUYV",
        (
            (640, 480, 30.0, (0, 0, 1920, 1080)),
            (1280, 720, 10.0, (0, 0, 1920, 1080)),
            (1920, 1080, 5.0, (0, 0, 1920, 1080)),
        ),
    ),
)
USB_IDS = {"HD Pro Webcam C920": "046d:082d"}  # vendor:product, part of the uvcvideo camera id


def sensor_for(model: str) -> Sensor:
    if model in SENSORS:
        return SENSORS[model]
    if " " in model:
        # libcamera's uvcvideo pipeline names a USB webcam by its product string, spaces and all.
        return Sensor(model, (1920, 1080), 0, "", "", _USB_MODES, usb=True)
    # Unknown models still work: a plain 1080p sensor with that name.
    return Sensor(
        model, (1920, 1080), 10, "RGGB", "1a", (("SRGGB10_CSI2P", ((1920, 1080, 30.0, (0, 0, 1920, 1080)),)),)
    )


def usb_camera_id(model: str, index: int, pi5: bool) -> str:
    ids = USB_IDS.get(model) or f"1d6b:{zlib.crc32(model.encode()) & 0xFFFF:04x}"
    port = f"1-{index + 1}"
    if pi5:
        return f"/base/axi/pcie@120000/rp1/usb@200000/usb-1/{port}:1.0-{ids}"
    return f"/base/scb/pcie@7d500000/pci@0,0/usb@0,0/{port}:1.0-{ids}"


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
        if sensor.usb:
            cam_id = usb_camera_id(model, index, platform() == "pi5")
        elif platform() == "pi5":
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
        # A USB webcam has no Bayer formats and no ColorFilterArrangement: only the active area.
        props = f"{s.size[0]}x{s.size[1]}" if s.usb else f"{s.size[0]}x{s.size[1]} {s.bits}-bit {s.cfa}"
        out.append(f"{cam.index} : {s.model} [{props}] ({cam.id})")
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


def append_line(name: str, line: str) -> None:
    """One O_APPEND write: lines from parallel runs never interleave."""
    fd = os.open(os.path.join(state_dir(), name), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def record_argv(prog: str, args: list[str], camera: int | None) -> None:
    """argv.log: one JSON object per run, whatever the run turned out to be."""
    entry = {"prog": prog, "pid": os.getpid(), "camera": camera, "argv": args, "t": time.time()}
    append_line("argv.log", json.dumps(entry) + "\n")


class SensorSession:
    """Exclusive hold on one sensor, like libcamera's media-device lock, plus the runs.log record.

    runs.log lines: `start <prog> <camera> <pid> <unix time>` and
    `end <prog> <camera> <pid> <unix time> stop=<how>`, where <how> is the signal that ended the run
    (SIGINT, SIGTERM, SIGUSR2, SIGABRT) or `none` when it ended of its own accord (timeout, --frames,
    a key, an error exit). A SIGKILLed run (a hung camera) has no end line.
    """

    def __init__(self, prog: str, camera: Camera) -> None:
        self.prog = prog
        self.camera = camera
        self.fd: int | None = None
        self.stop = "none"

    def acquire(self) -> bool:
        global CURRENT_SESSION
        path = os.path.join(state_dir(), f"sensor{self.camera.index}.lock")
        # O_CLOEXEC: ffmpeg children must not keep the sensor busy after we exit.
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self.fd = fd
        CURRENT_SESSION = self
        self._record("start")
        return True

    def release(self, stop: str | None = None) -> None:
        global CURRENT_SESSION
        if self.fd is not None:
            self._record("end", f" stop={stop or self.stop}")
            os.close(self.fd)
            self.fd = None
            CURRENT_SESSION = None

    def _record(self, event: str, extra: str = "") -> None:
        append_line("runs.log", f"{event} {self.prog} {self.camera.index} {os.getpid()} {time.time():.6f}{extra}\n")


CURRENT_SESSION: SensorSession | None = None  # the sensor this process holds, for the fatal-signal handler


def die_by_signal(signum: int, _frame: object) -> None:
    """SIGTERM (and SIGINT where the real app has no handler) kill the real apps outright.

    We only note which signal it was in runs.log, then let the default action kill us, so the parent
    sees the same -15/143 (or -2/130) and the output is as truncated as the real app leaves it.
    """
    if CURRENT_SESSION is not None:
        CURRENT_SESSION.release(signal.Signals(signum).name)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


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


def test_source(width: int, height: int, fps: float, flip: tuple[bool, bool] = (False, False)) -> list[str]:
    """ffmpeg input args for the test pattern, with the --hflip/--vflip/--rotation transform applied."""
    graph = f"testsrc2=size={width}x{height}:rate={fps:g}"
    graph += ",hflip" if flip[0] else ""
    graph += ",vflip" if flip[1] else ""
    return ["-f", "lavfi", "-i", graph]


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
    # The camera rounds odd sizes down (a 641x479 request gives a 640x478 JPEG); x264/mjpeg need even too.
    return max(2, n & ~1)


def abort_with(message: str, session: SensorSession) -> NoReturn:
    """What an exception escaping the encoder's std::thread looks like: SIGABRT, exit status 134."""
    _stderr("terminate called after throwing an instance of 'std::runtime_error'")
    _stderr(f"  what():  {message}")
    session.release("SIGABRT")
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core files from test runs
    except (ValueError, OSError):
        pass
    os.abort()


class Events:
    """Signals and key presses delivered to the main loop (handlers only queue, the loop acts)."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self.queue: deque[tuple[str, str]] = deque()  # (event, name of the signal that sent it)
        self.stdin_open = False
        self.stopped_by = "none"  # the signal whose stop/quit event ended the main loop, for runs.log
        self.timed_out = False  # record() ran into -t

    def on_signal(self, signum: int, event: str) -> None:
        def handler(received: int, _frame: object) -> None:
            self.queue.append((event, signal.Signals(received).name))
            self.log.app(f"Received signal {received}")

        signal.signal(signum, handler)

    def _pop(self) -> str:
        event, name = self.queue.popleft()
        if event in ("stop", "quit"):
            self.stopped_by = name
        return event

    def watch_stdin(self) -> None:
        self.stdin_open = True

    def poll(self, timeout: float) -> str | None:
        if self.queue:
            return self._pop()
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
        return self._pop() if self.queue else None

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


METERING_MODES = ("centre", "spot", "average", "matrix", "custom")
EXPOSURE_MODES = ("normal", "sport", "short", "long", "custom")
AF_MODES = ("default", "manual", "auto", "continuous")
AF_RANGES = ("normal", "macro", "full")
AF_SPEEDS = ("normal", "fast")
DENOISE_MODES = ("auto", "off", "cdn_off", "cdn_fast", "cdn_hq")
SYNC_MODES = ("off", "server", "client")


def lens_position(opts: Options) -> float | str | None:
    """--lens-position: dioptres, "default" (the hyperfocal position), or None when not given."""
    text = str(opts.lens_position or "")
    match = re.match(r"\s*([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)", text)  # istringstream >> f
    if match:
        return float(match.group(1))
    if text == "default":
        return "default"
    if text:
        raise AppError(f"Invalid lens position: {text}")
    return None


def check_before_version(opts: Options) -> None:
    """What OptsInternal::Parse checks even before it handles --version: the lens position, the times."""
    lens_position(opts)
    parse_time(str(opts.timeout), "ms")
    parse_time(str(opts.shutter), "us")
    parse_time(str(opts.flicker_period), "us")


def flips(opts: Options) -> tuple[bool, bool]:
    """(hflip, vflip) of the transform: --rotation 180 is both flips, composed with --hflip/--vflip."""
    angle = int(opts.rotation) % 360  # libcamera's transformFromRotation normalises the angle
    if angle not in (0, 90, 180, 270):
        raise AppError("illegal rotation value")
    if angle in (90, 270):
        raise AppError("transforms requiring transpose not supported")
    rot180 = angle == 180
    return bool(opts.hflip) != rot180, bool(opts.vflip) != rot180


def check_semantics(app: str, opts: Options, libav: bool) -> None:
    """The checks after the camera manager started (and after --list-cameras), in the real apps' order.

    The texts are the real ones, quirks included: no space after the colon for the exposure and AF
    modes, and the AfRange message quotes the --exposure value (options.cpp does so).
    """
    flips(opts)
    # --roi and --autofocus-window that do not scan as four floats are ignored, not refused.
    if str(opts.metering) not in METERING_MODES:
        raise AppError(f"Invalid metering mode: {opts.metering}")
    if str(opts.exposure) not in EXPOSURE_MODES:
        raise AppError(f"Invalid exposure mode:{opts.exposure}")
    if str(opts.autofocus_mode) not in AF_MODES:
        raise AppError(f"Invalid AfMode:{opts.autofocus_mode}")
    if str(opts.autofocus_range) not in AF_RANGES:
        raise AppError(f"Invalid AfRange mode:{opts.exposure}")
    if str(opts.autofocus_speed) not in AF_SPEEDS:
        raise AppError(f"Invalid afSpeed mode:{opts.autofocus_speed}")
    if str(opts.awb) not in AWB_MODES:
        raise AppError(f"Invalid AWB mode: {opts.awb}")
    if leading_floats(str(opts.awbgains), 2) is None:
        raise AppError("Invalid AWB gains")
    if opts.ccm and leading_floats(str(opts.ccm), 9) is None:
        raise AppError("Invalid CCM - expect 9 comma-separated floating point numbers")
    if str(opts.metadata_format).lower() not in ("json", "txt"):
        raise AppError(f"unrecognised metadata format {opts.metadata_format}")
    for name in ("mode", "viewfinder-mode"):
        value = opts.get(name)
        if value:
            match = re.fullmatch(r"([0-9]+):([0-9]+)(?::([0-9]+)(?::(.))?)?.*", str(value))
            if not match:
                raise AppError("Invalid mode")
            if match.group(4) and match.group(4).upper() not in ("P", "U"):
                raise AppError("Packing indicator should be P or U")
    if app == "still":
        # No range check on --quality: libjpeg clamps it; only a non-integer is refused (by Boost).
        if (opts.keypress or opts.signal) and parse_time(str(opts.timelapse), "ms"):
            raise AppError("keypress/signal and timelapse options are mutually exclusive")
        thumb = str(opts.thumb)
        if thumb.lower() != "none" and not re.match(r"\s*\+?[0-9]+:\s*\+?[0-9]+:\s*\+?[0-9]+", thumb):
            raise AppError(f"bad thumbnail parameters {thumb}")
        if str(opts.encoding).lower() not in STILL_ENCODINGS:
            raise AppError(f"invalid encoding format {opts.encoding}")
    if app == "vid":
        codecs = ("h264", "mjpeg", "yuv420") + (("libav",) if libav else ())
        if str(opts.codec).lower() not in codecs:
            raise AppError(f"unrecognised codec {opts.codec}")
        if str(opts.initial).lower() not in ("pause", "record"):
            raise AppError(f"incorrect initial value {opts.initial}")
        if str(opts.sync).lower() not in SYNC_MODES:
            raise AppError(f"incorrect sync value {opts.sync}")


def check_denoise(opts: Options) -> None:
    """Checked when the camera is configured, so after it was acquired (rpicam_app.cpp configureDenoise)."""
    if str(opts.denoise) not in DENOISE_MODES:
        raise AppError(f"Invalid denoise mode {opts.denoise}")


def startup_logs(ctx: Context, size: tuple[int, int]) -> None:
    log, cam = ctx.log, ctx.camera
    if not ctx.opts.nopreview:
        log.app("Preview window unavailable")
    w, h = size
    mode = min((m for _, modes in cam.sensor.modes for m in modes), key=lambda m: (m[0] < w or m[1] < h, m[0] * m[1]))
    log.app(f"Mode selection for {w}:{h}:12:P")
    log.libcamera("Camera", "camera.cpp:1215", f"configuring streams: (0) {w}x{h}-YUV420")
    red, blue = leading_floats(str(ctx.opts.awbgains), 2) or [0.0, 0.0]
    if ctx.opts.ccm and not (red and blue):  # StartCamera(): the matrix needs explicit ColourGains
        _stderr("WARNING: cannot set colour correction matrix without explicit AWB gains (--awbgains)")
    bayer = f"{mode[0]}x{mode[1]}-S{cam.sensor.cfa}{cam.sensor.bits}_1X{cam.sensor.bits}"
    if cam.sensor.usb:
        pass  # the uvcvideo pipeline has no sensor format to report
    elif ctx.platform == "pi5":
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


def halting(ctx: Context) -> None:
    # rpicam-vid (and, per the v1.13 observation, rpicam-hello) when -t runs out; rpicam-still never.
    ctx.log.app(f"Halting: reached timeout of {int(ctx.timeout * 1000)} milliseconds.")


def run_hello(ctx: Context) -> int:
    startup_logs(ctx, (800, 600))
    sleep_for(env_float("STANDIN_STARTUP_SEC", DEFAULT_STARTUP_SEC))
    inject_faults()
    if Events(ctx.log).wait(None if ctx.timeout == 0 else time.monotonic() + ctx.timeout) == "timeout":
        halting(ctx)
    return 0


def inject_faults() -> None:
    """Failure modes the server's tests ask for through the environment (after sensor start-up)."""
    if os.environ.get("STANDIN_IGNORE_SIGTERM") == "1":
        hang_forever()
    message = os.environ.get("STANDIN_FAIL")
    if message:
        raise AppError(message)


def still_image(encoding: str, width: int, height: int, quality: int, flip: tuple[bool, bool]) -> bytes:
    src = test_source(width, height, 1, flip) + ["-frames:v", "1"]
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


STILL_FRAME_DURATION_US = 66_656  # a full-resolution still frame
COLOUR_TEMPERATURES = {"incandescent": 2850, "tungsten": 3200, "fluorescent": 4000, "indoor": 3500}
COLOUR_TEMPERATURES.update(daylight=5500, cloudy=6500)


def capture_metadata(ctx: Context, frame_duration_us: int) -> dict[str, object]:
    """The libcamera controls of the captured frame, as the Pi's image pipeline reports them."""
    o = ctx.opts
    shutter_us = round(parse_time(str(o.shutter), "us") * 1e6)
    gain = float(o.gain if o.gain is not None else o.analoggain)
    red, blue = leading_floats(str(o.awbgains), 2) or [0.0, 0.0]
    exposure = shutter_us or min(frame_duration_us, 16_650)
    metadata: dict[str, object] = {
        "SensorTimestamp": time.clock_gettime_ns(time.CLOCK_MONOTONIC),
        "ExposureTime": exposure,
        "FrameDuration": max(frame_duration_us, exposure),
        "AnalogueGain": gain or 1.123,
        "DigitalGain": 1.0,
        "ColourGains": [red, blue] if red and blue else [1.863, 1.594],
        "ColourTemperature": COLOUR_TEMPERATURES.get(str(o.awb), 4519),
        "Lux": round(400.0 * 16_650 / exposure / (gain or 1.123), 3),
        "FocusFoM": 1342,
    }
    if ctx.camera.sensor.autofocus:
        # Only a camera with a lens driver reports (and accepts) a lens position: on the others rpicam-apps
        # skips AfMode/AfRange/AfSpeed/LensPosition, because the camera does not list those controls.
        position = lens_position(o)
        metadata["LensPosition"] = position if isinstance(position, float) else 1.0
    return metadata


def control_value(value: object) -> str:
    """libcamera's ControlValue::toString(): floats with 6 decimals, arrays as "[ a, b ]"."""
    if isinstance(value, list):
        return "[ " + ", ".join(control_value(v) for v in value) + " ]"
    if isinstance(value, float):
        return f"{value:f}"
    return str(value)


def write_metadata(ctx: Context, metadata: dict[str, object], end: str = "") -> None:
    """--metadata FILE|- in --metadata-format json (one object) or txt (key=value lines, blank line)."""
    if str(ctx.opts.metadata_format).lower() == "txt":
        text = "".join(f"{key}={control_value(value)}\n" for key, value in metadata.items()) + "\n"
    else:
        text = "{" + ",".join(f'\n    "{key}": {control_value(value)}' for key, value in metadata.items()) + "\n}"
    name = str(ctx.opts.metadata)
    if name == "-":
        sys.stdout.write(text + end)
        sys.stdout.flush()
        return
    try:
        with open(name, "w", encoding="utf-8") as f:
            f.write(text + end)
    except OSError:
        pass  # the real apps open an std::ofstream and never check it: no metadata, no error


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
    # At -v 2, once the camera runs (and so after the -s handlers): a trigger is safe from here on.
    ctx.log.app("Camera started!", 2)

    def capture() -> None:
        nonlocal counter
        sleep_for(mode_switch)
        ctx.log.app("Still capture image received")
        name = still_filename(o, encoding, counter)
        if name:
            save_still(ctx, name, encoding, width, height)
            ctx.log.app(f"Saved image {width} x {height} to file {name}", 2)  # only once the file is complete
            if o.metadata:  # after the image, like save_metadata() in rpicam_still.cpp
                write_metadata(ctx, capture_metadata(ctx, STILL_FRAME_DURATION_US))
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
        ctx.session.stop = events.stopped_by
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
        sys.stdout.buffer.write(still_image(encoding, width, height, int(o.quality), flips(o)))
        sys.stdout.buffer.flush()
        return
    try:
        f = open(name, "wb")  # relative names are relative to our cwd, as for the real app
    except OSError:
        raise AppError(f"failed to open file {name}") from None
    with f:
        f.write(still_image(encoding, width, height, int(o.quality), flips(o)))
    if o.raw:  # a TIFF stands in for the DNG
        dng = os.path.splitext(name)[0] + ".dng"
        with open(dng, "wb") as f:
            f.write(
                run_ffmpeg(
                    test_source(width, height, 1, flips(o))
                    + ["-frames:v", "1", "-c:v", "tiff", "-f", "image2pipe", "pipe:1"]
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

    if out is sys.stdout.buffer and plan.muxer == "mjpeg":
        stream_mjpeg(ctx, events, out, width, height, fps)
        ctx.session.stop = events.stopped_by
        return 0

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

    ctx.session.stop = events.stopped_by
    if events.timed_out:
        halting(ctx)

    if out is not None and frames > 0:
        render_video(ctx, plan, out, width, height, fps, frames)
    if out is not None and out is not sys.stdout.buffer:
        out.close()
    if o.save_pts:
        with open(str(o.save_pts), "w", encoding="ascii") as f:
            f.write("# timecode format v2\n" + "".join(f"{i * 1000 / fps:.3f}\n" for i in range(frames)))
    if o.metadata and frames > 0:
        write_metadata(ctx, capture_metadata(ctx, round(1e6 / fps)), "\n")  # the last frame's
    return 0


def stream_mjpeg(ctx: Context, events: Events, out: IO[bytes], width: int, height: int, fps: float) -> None:
    """The preview pipe: frames written one by one as the sensor delivers them, not at the end."""
    loop_frames = max(1, min(30, round(fps)))
    rendered = run_ffmpeg(
        test_source(width, height, fps, flips(ctx.opts))
        + ["-frames:v", str(loop_frames), "-c:v", "mjpeg", "-q:v", "8", "-pix_fmt", "yuvj420p", "-f", "mjpeg", "pipe:1"]
    )
    frames = [b"\xff\xd8" + chunk for chunk in rendered.split(b"\xff\xd8") if chunk]
    interval = 1.0 / (fps * env_float("STANDIN_SPEED", 1.0))
    stall_after = int(os.environ.get("STANDIN_STALL_AFTER", "0") or 0)
    stamp = os.environ.get("STANDIN_FRAME_STAMP") == "1"
    deadline = None if ctx.timeout == 0 else time.monotonic() + ctx.timeout
    next_at = time.monotonic()
    sent = 0
    while True:
        event = events.poll(max(0.0, next_at - time.monotonic()))
        if event in ("stop", "quit"):
            return
        if deadline is not None and time.monotonic() >= deadline:
            events.timed_out = True
            halting(ctx)
            return
        if event is not None or time.monotonic() < next_at:
            continue
        next_at += interval
        if stall_after and sent >= stall_after:
            continue  # a stalled camera: alive, sending nothing
        frame = frames[sent % len(frames)]
        if stamp:
            comment = f"t={time.time():.6f}".encode()
            frame = frame[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + frame[2:]
        try:
            out.write(frame)
            out.flush()
        except OSError:
            abort_with("failed to write output bytes", ctx.session)
        sent += 1


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
            events.timed_out = True
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
    args = test_source(width, height, fps, flips(ctx.opts)) + ["-frames:v", str(frames)]
    args += video_codec_args(ctx, plan, fps)
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


def version_text(libav: bool) -> str:
    return (
        f"rpicam-apps build: {RPICAM_VERSION} {RPICAM_COMMIT} {RPICAM_BUILD_DATE}\n"
        f"rpicam-apps capabilites: egl:0 qt:0 drm:0 libav:{int(libav)}\n"  # (sic) the real app's spelling
        f"libcamera build: {LIBCAMERA_BUILD}\n"
    )


ARGV_LOGGED = False


def log_argv_once(prog: str, args: list[str], camera: int | None) -> None:
    global ARGV_LOGGED
    if not ARGV_LOGGED:
        ARGV_LOGGED = True
        record_argv(prog, args, camera)


def run(app: str, prog: str, args: list[str]) -> int:
    libav = os.environ.get("STANDIN_NO_LIBAV") != "1"
    table = option_table(app, libav)
    raw = parse_command_line(args, table)
    if "config" in raw:
        for name, values in parse_config_file(raw["config"][-1], table).items():
            raw.setdefault(name, values)  # the command line wins
    opts = Options(table, raw)
    log_argv_once(prog, args, None if opts.help or opts.version or opts.list_cameras else int(opts.camera))

    if opts.help:
        sys.stdout.write(help_text(table) if libav else help_text(table).replace(" libav,", ""))
        return 0
    check_before_version(opts)
    if opts.version:
        sys.stdout.write(version_text(libav))
        return 0
    if str(opts.hdr) not in HDR_MODES:
        raise AppError(f"Invalid HDR option provided: {opts.hdr}")
    timeout = parse_time(str(opts.timeout), "ms")
    cams = cameras()
    if opts.list_cameras:
        # The real listing acquires each camera in turn (options.cpp:465), so it must never overlap a capture:
        # runs.log gets `list-start`/`list-end` lines (camera `*`) that tests check against the captures.
        append_line("runs.log", f"list-start {prog} * {os.getpid()} {time.time():.6f}\n")
        sleep_for(env_float("STANDIN_LIST_SEC", 0.0))
        sys.stdout.write(list_cameras_text(cams))  # libcamera logging is off for the listing
        append_line("runs.log", f"list-end {prog} * {os.getpid()} {time.time():.6f}\n")
        return 0

    log = Log(int(opts.verbose))
    log.libcamera("Camera", "camera_manager.cpp:340", f"libcamera {LIBCAMERA_BUILD}")
    for cam in cams:
        pipeline = "uvcvideo" if cam.sensor.usb else "rpi/pisp" if platform() == "pi5" else "rpi/vc4"
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
        check_denoise(opts)
        ctx = Context(app, prog, opts, log, camera, session, timeout, platform(), libav)
        return {"still": run_still, "vid": run_vid, "hello": run_hello}[app](ctx)
    finally:
        session.release()


def fork_sleeper() -> None:
    """A child in our process group (holding the inherited sensor lock) that outlives us."""
    sys.stdout.flush()
    sys.stderr.flush()
    if os.fork() == 0:
        global CURRENT_SESSION
        CURRENT_SESSION = None  # the parent's run, not ours: never log its end
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
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
    else:
        # Like a C program, SIGTERM kills; so does SIGINT until rpicam-vid installs its handler (rpicam-still
        # and rpicam-hello have none). An inherited SIG_IGN for SIGINT stays, as for the real apps.
        # die_by_signal only notes the signal in runs.log before the default action kills us.
        signal.signal(signal.SIGTERM, die_by_signal)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, die_by_signal)
    try:
        return run(app, prog, argv[1:])
    except AppError as e:
        log_argv_once(prog, argv[1:], None)  # the command line did not parse
        _stderr(f"ERROR: *** {e} ***")
        return 255


if __name__ == "__main__":
    sys.exit(main())
