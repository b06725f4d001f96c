"""Tests of the rpicam stand-ins themselves, run as real subprocesses through the installed launchers."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.net import wait_until

from . import install_standins
from .rpicam_standin import ffmpeg_exe

av = pytest.importorskip("av")

STARTUP = 0.05  # STANDIN_STARTUP_SEC for these tests
IMX708_ID = "/base/axi/pcie@120000/rp1/i2c@88000/imx708@1a"


class Standins:
    def __init__(self, tmp_path: Path) -> None:
        self.bin = install_standins(tmp_path / "bin")
        self.state = tmp_path / "state"
        self.cwd = tmp_path
        # Start from a clean slate: knobs from the calling environment must not leak in.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("STANDIN_") or k == "STANDIN_FFMPEG"}
        self.env.update(
            PATH=f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",
            STANDIN_STATE_DIR=str(self.state),
            STANDIN_STARTUP_SEC=str(STARTUP),
        )

    def _env(self, extra: dict[str, str] | None) -> dict[str, str]:
        return {**self.env, **(extra or {})}

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 20
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, env=self._env(env), cwd=self.cwd, capture_output=True, text=True, timeout=timeout)

    def start(
        self, *args: str, env: dict[str, str] | None = None, start_new_session: bool = False
    ) -> subprocess.Popen[str]:
        return subprocess.Popen(
            args,
            env=self._env(env),
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=start_new_session,
        )

    def runs(self) -> list[list[str]]:
        log = self.state / "runs.log"
        return [line.split() for line in log.read_text().splitlines()] if log.exists() else []

    def wait_started(self, proc: subprocess.Popen[str], timeout: float = 10) -> float:
        """Wait until proc holds the sensor and its start-up (after which signal handlers exist) is over.

        Returns the time.time() at which the -t phase (recording, preview) began.
        """
        deadline = time.monotonic() + timeout
        while not (starts := [r for r in self.runs() if r[0] == "start" and r[3] == str(proc.pid)]):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "stand-in never acquired the sensor"
            time.sleep(0.02)
        time.sleep(STARTUP + 0.25)
        return float(starts[0][4]) + STARTUP


@pytest.fixture
def standins(tmp_path: Path) -> Standins:
    return Standins(tmp_path)


def media_duration(path: Path) -> float:
    with av.open(str(path)) as container:
        return container.duration / 1e6


def test_list_cameras_layout(standins: Standins) -> None:
    res = standins.run("rpicam-hello", "--list-cameras")
    assert (res.returncode, res.stderr) == (0, "")
    assert res.stdout == (
        "Available cameras\n"
        "-----------------\n"
        f"0 : imx708 [4608x2592 10-bit RGGB] ({IMX708_ID})\n"
        "    Modes: 'SRGGB10_CSI2P' : 1536x864 [120.13 fps - (768, 432)/3072x1728 crop]\n"
        "                             2304x1296 [56.03 fps - (0, 0)/4608x2592 crop]\n"
        "                             4608x2592 [14.35 fps - (0, 0)/4608x2592 crop]\n"
        "\n"
    )
    two = standins.run(
        "rpicam-still", "--list-cameras", env={"STANDIN_CAMERAS": "imx477,imx219", "STANDIN_PLATFORM": "pi4"}
    )
    assert "0 : imx477 [4056x3040 12-bit RGGB] (/base/soc/i2c0mux/i2c@1/imx477@1a)\n" in two.stdout
    assert "\n           'SRGGB12_CSI2P' : 2028x1080 [50.03 fps" in two.stdout
    assert "\n\n1 : imx219 [3280x2464 10-bit RGGB] (/base/soc/i2c0mux/i2c@0/imx219@10)\n" in two.stdout
    for cams in ("none", ""):
        none = standins.run("rpicam-vid", "--list-cameras", env={"STANDIN_CAMERAS": cams})
        assert (none.returncode, none.stdout, none.stderr) == (0, "No cameras available!\n", "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("rpicam-hello", "--immediate"), "unrecognised option '--immediate'"),
        (("rpicam-vid", "-e", "png"), "unrecognised option '-e'"),
        (("rpicam-still", "--width", "abc"), "the argument ('abc') for option '--width' is invalid"),
        (("rpicam-still", "-n", "-o"), "the required argument for option '--output' is missing"),
        (("rpicam-vid", "-t", "x5"), "Invalid time string provided"),  # "5x" is accepted: see below
        (("rpicam-vid", "--codec", "h265"), "unrecognised codec h265"),
        (("rpicam-still", "-e", "gif"), "invalid encoding format gif"),
        (("rpicam-still", "--awb", "foo"), "Invalid AWB mode: foo"),
        (
            ("rpicam-vid", "--codec", "libav", "-o", "noext"),
            "libav: please specify output format with the --libav-format argument",
        ),
    ],
)
def test_errors_exit_255(standins: Standins, args: tuple[str, ...], message: str) -> None:
    res = standins.run(*args)
    assert res.returncode == 255
    assert res.stderr.endswith(f"ERROR: *** {message} ***\n")


def test_camera_availability_errors(standins: Standins) -> None:
    res = standins.run("rpicam-still", "-o", "x.jpg", env={"STANDIN_CAMERAS": "none"})
    assert (res.returncode, res.stderr.splitlines()[-1]) == (255, "ERROR: *** no cameras available ***")
    res = standins.run("rpicam-vid", "--camera", "1", "-v", "0")
    assert (res.returncode, res.stderr) == (255, "ERROR: *** selected camera is not available ***\n")
    assert standins.runs() == []  # neither got as far as the sensor


def test_help_version_and_libav_capability(standins: Standins) -> None:
    res = standins.run("rpicam-vid", "--help")
    assert res.returncode == 0 and res.stdout.startswith("Valid options are:\n")
    assert "--libav-format" in res.stdout and "libav, mjpeg" in res.stdout
    assert standins.run("rpicam-vid", "--version").stdout.startswith("rpicam-apps build: v1.13.0")
    old = {"STANDIN_NO_LIBAV": "1"}
    res = standins.run("rpicam-vid", "--help", env=old)
    assert res.returncode == 0 and "libav" not in res.stdout.replace("libav/libx264", "")
    assert standins.run("rpicam-vid", "--codec", "libav", env=old).stderr.endswith(
        "ERROR: *** unrecognised codec libav ***\n"
    )
    assert standins.run("rpicam-vid", "--libav-format", "mp4", env=old).returncode == 255


def test_still_writes_image_relative_to_cwd(standins: Standins) -> None:
    res = standins.run(
        "rpicam-still", "-v", "0", "-n", "-t", "100", "--width", "320", "--height=240", "-o", "shot%02d.jpg"
    )
    assert (res.returncode, res.stderr) == (0, "")  # -v 0: silent
    with av.open(str(standins.cwd / "shot00.jpg")) as c:
        ctx = c.streams.video[0].codec_context
        assert (ctx.name, ctx.width, ctx.height) == ("mjpeg", 320, 240)
    res = standins.run("rpicam-still", "--immediate", "-e", "png", "--width", "64", "--height", "48", "-o", "p.png")
    assert res.returncode == 0 and "Still capture image received" in res.stderr
    assert (standins.cwd / "p.png").read_bytes().startswith(b"\x89PNG")
    start, end = standins.runs()[-2:]
    assert (start[:3], end[:3]) == (["start", "rpicam-still", "0"], ["end", "rpicam-still", "0"])
    assert float(start[4]) < float(end[4])


def test_still_unwritable_output(standins: Standins) -> None:
    res = standins.run("rpicam-still", "--immediate", "--width", "64", "--height", "48", "-o", "no/dir/x.jpg")
    assert res.returncode == 255
    assert res.stderr.endswith("Still capture image received\nERROR: *** failed to open file no/dir/x.jpg ***\n")


def test_still_signal_mode(standins: Standins) -> None:
    proc = standins.start("rpicam-still", "-n", "-t", "0", "-s", "--width", "64", "--height", "48", "-o", "sig%03d.jpg")
    standins.wait_started(proc)
    proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while not (standins.cwd / "sig000.jpg").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    proc.send_signal(signal.SIGUSR2)
    assert proc.wait(10) == 0
    assert sorted(p.name for p in standins.cwd.glob("sig*.jpg")) == ["sig000.jpg"]


def test_busy_camera(standins: Standins) -> None:
    rec = standins.start("rpicam-vid", "-t", "0", "-n")
    standins.wait_started(rec)
    res = standins.run("rpicam-still", "-o", "x.jpg")
    assert res.returncode == 255
    info, error = res.stderr.splitlines()[-2:]
    assert info.endswith("INFO Camera camera.cpp:1008 Pipeline handler in use by another process")
    assert error == f"ERROR: *** failed to acquire camera {IMX708_ID} ***"
    assert standins.run("rpicam-hello", "--list-cameras").returncode == 0  # listing takes no lock
    rec.send_signal(signal.SIGINT)
    assert rec.wait(10) == 0
    assert [r[0] for r in standins.runs() if r[3] == str(rec.pid)] == ["start", "end"]


def test_vid_pi5_h264_needs_rate_before_input_to_remux(standins: Standins, tmp_path: Path) -> None:
    res = standins.run("rpicam-vid", "-n", "--frames", "15", "--framerate", "15", "-o", "x.h264")
    assert res.returncode == 0, res.stderr
    data = (tmp_path / "x.h264").read_bytes()
    assert data.startswith(b"\x00\x00\x00\x01")
    with av.open(str(tmp_path / "x.h264")) as c:
        kinds = {int(f.pict_type) for f in c.decode(video=0)}
    assert 3 in kinds  # B-frames, as libx264 on a Pi 5
    for rate_flag, name in (("-framerate", "wrong.mp4"), ("-r", "right.mp4")):
        remux = [ffmpeg_exe(), "-v", "error", "-y", rate_flag, "15", "-i", "x.h264", "-c", "copy", name]
        subprocess.run(remux, cwd=tmp_path, check=True, capture_output=True)
    assert media_duration(tmp_path / "wrong.mp4") < 0.2
    assert 0.8 < media_duration(tmp_path / "right.mp4") < 1.1


def test_vid_pi4_writes_raw_h264_whatever_the_extension(standins: Standins, tmp_path: Path) -> None:
    res = standins.run("rpicam-vid", "-n", "--frames", "5", "-o", "x.mp4", env={"STANDIN_PLATFORM": "pi4"})
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "x.mp4").read_bytes().startswith(b"\x00\x00\x00\x01")
    with av.open(str(tmp_path / "x.mp4")) as c:
        assert c.format.name == "h264"


def test_vid_sigint_gives_complete_mp4(standins: Standins, tmp_path: Path) -> None:
    proc = standins.start("rpicam-vid", "-n", "-t", "0", "--codec", "libav", "--framerate", "15", "-o", "x.mp4")
    recording_since = standins.wait_started(proc)
    time.sleep(0.4)
    proc.send_signal(signal.SIGINT)
    recorded = time.time() - recording_since
    assert proc.wait(10) == 0
    assert abs(media_duration(tmp_path / "x.mp4") - recorded) < 0.2  # the frames of the elapsed time


def test_vid_sigterm_leaves_empty_file(standins: Standins, tmp_path: Path) -> None:
    proc = standins.start("rpicam-vid", "-n", "-t", "0", "-o", "x.h264")
    standins.wait_started(proc)
    assert (tmp_path / "x.h264").exists()
    proc.terminate()
    assert proc.wait(10) == -signal.SIGTERM
    assert (tmp_path / "x.h264").stat().st_size == 0


@pytest.mark.parametrize(
    ("platform", "what"),
    [
        ("pi5", "libav: unable to open output mux for no/dir/x.h264: No such file or directory"),
        ("pi4", "failed to open output file no/dir/x.h264"),
    ],
)
def test_vid_unwritable_output_aborts(standins: Standins, platform: str, what: str) -> None:
    res = standins.run("rpicam-vid", "-n", "-t", "100", "-o", "no/dir/x.h264", env={"STANDIN_PLATFORM": platform})
    assert res.returncode == -signal.SIGABRT
    terminate = "terminate called after throwing an instance of 'std::runtime_error'"
    assert f"{terminate}\n  what():  {what}\n" in res.stderr


def test_fault_hung_camera_needs_sigkill(standins: Standins) -> None:
    proc = standins.start("rpicam-vid", "-t", "100", "-o", "x.h264", env={"STANDIN_IGNORE_SIGTERM": "1"})
    standins.wait_started(proc)
    proc.terminate()
    proc.send_signal(signal.SIGINT)
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(0.5)
    proc.kill()
    assert proc.wait(5) == -signal.SIGKILL


def test_fault_forked_child_keeps_camera_until_group_killed(standins: Standins) -> None:
    proc = standins.start("rpicam-hello", "-t", "50", env={"STANDIN_FORK_CHILD": "1"}, start_new_session=True)
    try:
        assert proc.wait(10) == 0  # don't communicate(): the child keeps the pipes open
        assert standins.run("rpicam-hello", "-t", "10").returncode == 255  # the child still holds the sensor
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    # The killed child's sensor lock goes once the kernel has reaped it.
    wait_until(lambda: standins.run("rpicam-hello", "-t", "10").returncode == 0, timeout=5, message="sensor free")


def test_fault_fail(standins: Standins) -> None:
    res = standins.run("rpicam-still", "-o", "x.jpg", env={"STANDIN_FAIL": "camera exploded"})
    assert (res.returncode, res.stderr.splitlines()[-1]) == (255, "ERROR: *** camera exploded ***")


def test_install_legacy_names(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    install_standins(bin_dir)
    assert install_standins(bin_dir, legacy_names=True) == bin_dir
    names = sorted(p.name for p in bin_dir.iterdir())
    assert names == ["libcamera-hello", "libcamera-still", "libcamera-vid"]
    res = subprocess.run([bin_dir / "libcamera-vid", "--version"], capture_output=True, text=True, check=True)
    assert res.stdout.startswith("rpicam-apps build:")


# --------------------------------------------------------------------------------------------------
# Help, version and the option tables (reference §8)
# --------------------------------------------------------------------------------------------------

REAL_HELP_BYTES = {"rpicam-hello": 8742, "rpicam-still": 10389, "rpicam-vid": 13409}
COMMON_NAMES = (
    "--hflip --vflip --rotation --roi --shutter --analoggain --gain --metering --exposure --ev --awb --awbgains "
    "--ccm --brightness --contrast --saturation --sharpness --framerate --denoise --mode --viewfinder-mode "
    "--lores-width --lores-height --autofocus-mode --autofocus-range --autofocus-speed --autofocus-window "
    "--lens-position --hdr --metadata --metadata-format --flicker-period --tuning-file --buffer-count --no-raw"
).split()
STILL_NAMES = (
    "--quality --exif --timelapse --framestart --datetime --timestamp --restart --keypress --signal --encoding "
    "--raw --latest --immediate --autofocus-on-capture --zsl --thumb"
).split()
VID_NAMES = (
    "--bitrate --profile --level --intra --inline --codec --save-pts --quality --listen --keypress --signal "
    "--initial --split --segment --circular --frames --libav-video-codec --libav-format --libav-audio "
    "--audio-codec --audio-source --audio-device --audio-channels --audio-bitrate --audio-samplerate --av-sync "
    "--low-latency --sync"
).split()


def help_option_names(text: str) -> set[str]:
    return set(re.findall(r"^  (?:-\w \[ )?(--[\w-]+)", text, re.MULTILINE))


@pytest.mark.parametrize("app", sorted(REAL_HELP_BYTES))
def test_help_is_as_long_as_the_real_one(standins: Standins, app: str) -> None:
    res = standins.run(app, "--help")
    assert (res.returncode, res.stderr) == (0, "")
    assert len(res.stdout.encode()) == pytest.approx(REAL_HELP_BYTES[app], rel=0.03)


def test_libav_format_is_far_from_the_end_of_the_vid_help(standins: Standins) -> None:
    help_bytes = standins.run("rpicam-vid", "--help").stdout.encode()
    assert len(help_bytes) - help_bytes.index(b"--libav-format") >= 2000


@pytest.mark.parametrize(
    ("app", "own", "foreign"),
    [
        ("rpicam-hello", COMMON_NAMES, set(STILL_NAMES) | set(VID_NAMES)),
        ("rpicam-still", COMMON_NAMES + STILL_NAMES, set(VID_NAMES) - set(STILL_NAMES)),
        ("rpicam-vid", COMMON_NAMES + VID_NAMES, set(STILL_NAMES) - set(VID_NAMES)),
    ],
)
def test_help_lists_the_apps_own_options_only(standins: Standins, app: str, own: list[str], foreign: set[str]) -> None:
    listed = help_option_names(standins.run(app, "--help").stdout)
    assert (set(own) - listed, foreign & listed) == (set(), set())


def test_help_keeps_the_real_option_order(standins: Standins) -> None:
    text = standins.run("rpicam-vid", "--help").stdout
    names = ["--help", "--camera", "--timeout", "--hflip", "--awbgains", "--ccm", "--lens-position", "--hdr"]
    names += ["--metadata-format", "--flicker-period", "--bitrate", "--codec", "--libav-format", "--sync"]
    positions = [text.index(f"  {n} ") if f"  {n} " in text else text.index(f"[ {n} ]") for n in names]
    assert positions == sorted(positions)


def test_without_libav_no_libav_or_audio_option_is_listed_or_accepted(standins: Standins) -> None:
    env = {"STANDIN_NO_LIBAV": "1"}
    listed = help_option_names(standins.run("rpicam-vid", "--help", env=env).stdout)
    assert {n for n in listed if n.startswith(("--libav", "--audio", "--av-sync"))} == set()
    res = standins.run("rpicam-vid", "--audio-codec", "aac", env=env)
    assert (res.returncode, res.stderr) == (255, "ERROR: *** unrecognised option '--audio-codec' ***\n")


@pytest.mark.parametrize(("env", "libav"), [({}, "1"), ({"STANDIN_NO_LIBAV": "1"}, "0")])
def test_version_prints_three_lines(standins: Standins, env: dict[str, str], libav: str) -> None:
    res = standins.run("rpicam-still", "--version", env=env)
    assert (res.returncode, res.stderr) == (0, "")
    build, caps, libcamera = res.stdout.splitlines()
    assert re.fullmatch(r"rpicam-apps build: v1\.13\.0 [0-9a-f]{7,} \d\d-\d\d-\d{4} \(\d\d:\d\d:\d\d\)", build)
    assert caps == f"rpicam-apps capabilites: egl:0 qt:0 drm:0 libav:{libav}"
    assert libcamera.startswith("libcamera build: v0.7.1+rpt")


# --------------------------------------------------------------------------------------------------
# Cameras: USB webcams and two cameras
# --------------------------------------------------------------------------------------------------

C920 = "HD Pro Webcam C920"
C920_ID = "/base/axi/pcie@120000/rp1/usb@200000/usb-1/1-1:1.0-046d:082d"


def test_usb_webcam_is_listed_with_its_product_name(standins: Standins) -> None:
    res = standins.run("rpicam-hello", "--list-cameras", env={"STANDIN_CAMERAS": C920})
    lines = res.stdout.splitlines()
    assert lines[2] == f"0 : {C920} [1920x1080] ({C920_ID})"
    assert lines[3].startswith("    Modes: 'MJPEG' : 640x480 [30.00 fps")
    assert any(line.startswith("           'YUYV' : ") for line in lines)


def test_usb_webcam_captures_like_any_camera(standins: Standins) -> None:
    env = {"STANDIN_CAMERAS": f"imx708,{C920}"}
    res = standins.run("rpicam-still", "--camera", "1", "-n", "-t", "10", "-o", "usb.jpg", env=env)
    assert res.returncode == 0, res.stderr
    with av.open(str(standins.cwd / "usb.jpg")) as c:
        ctx = c.streams.video[0].codec_context
        assert (ctx.width, ctx.height) == (1920, 1080)


def test_camera_option_picks_the_second_camera(standins: Standins) -> None:
    res = standins.run(
        "rpicam-still", "--camera", "1", "-n", "-t", "10", "-o", "x.jpg", env={"STANDIN_CAMERAS": "imx708,imx219"}
    )
    assert res.returncode == 0, res.stderr
    with av.open(str(standins.cwd / "x.jpg")) as c:
        ctx = c.streams.video[0].codec_context
        assert (ctx.width, ctx.height) == (3280, 2464)  # imx219's full resolution


def test_two_cameras_have_separate_locks(standins: Standins) -> None:
    env = {"STANDIN_CAMERAS": "imx708,imx219"}
    rec = standins.start("rpicam-vid", "--camera", "1", "-t", "0", "-n", env=env)
    standins.wait_started(rec)
    try:
        other = standins.run("rpicam-still", "--camera", "0", "-n", "-t", "10", "-o", "x.jpg", env=env)
        same = standins.run("rpicam-still", "--camera", "1", "-n", "-t", "10", "-o", "y.jpg", env=env)
    finally:
        rec.send_signal(signal.SIGINT)
        rec.communicate(timeout=10)
    assert (other.returncode, same.returncode) == (0, 255)
    assert same.stderr.endswith(
        "ERROR: *** failed to acquire camera /base/axi/pcie@120000/rp1/i2c@80000/imx219@10 ***\n"
    )


# --------------------------------------------------------------------------------------------------
# runs.log stop= field and argv.log
# --------------------------------------------------------------------------------------------------


def end_line(standins: Standins, pid: int) -> list[str]:
    ends = [r for r in standins.runs() if r[0] == "end" and r[3] == str(pid)]
    assert len(ends) == 1, standins.runs()
    return ends[0]


@pytest.mark.parametrize(
    ("app", "signum", "status"),
    [
        ("rpicam-vid", signal.SIGINT, 0),  # handled: a clean stop
        ("rpicam-vid", signal.SIGTERM, -signal.SIGTERM),
        ("rpicam-still", signal.SIGINT, -signal.SIGINT),  # no handler: killed at once
        ("rpicam-still", signal.SIGTERM, -signal.SIGTERM),
        ("rpicam-hello", signal.SIGTERM, -signal.SIGTERM),
    ],
)
def test_end_line_names_the_signal_that_stopped_the_run(
    standins: Standins, app: str, signum: signal.Signals, status: int
) -> None:
    proc = standins.start(app, "-n", "-t", "0", *(("-o", "x.jpg") if app == "rpicam-still" else ()))
    standins.wait_started(proc)
    proc.send_signal(signum)
    assert proc.wait(10) == status
    assert end_line(standins, proc.pid)[5:] == [f"stop={signum.name}"]


def test_end_line_says_none_when_the_run_reached_its_timeout(standins: Standins) -> None:
    proc = standins.start("rpicam-vid", "-n", "-t", "100")
    assert proc.wait(10) == 0
    assert end_line(standins, proc.pid)[5:] == ["stop=none"]


def test_sigterm_still_leaves_the_recording_empty(standins: Standins, tmp_path: Path) -> None:
    proc = standins.start("rpicam-vid", "-n", "-t", "0", "-o", "x.h264")
    standins.wait_started(proc)
    proc.terminate()
    assert (proc.wait(10), (tmp_path / "x.h264").stat().st_size) == (-signal.SIGTERM, 0)


def test_hung_camera_has_no_end_line(standins: Standins) -> None:
    proc = standins.start("rpicam-vid", "-t", "100", "-n", env={"STANDIN_IGNORE_SIGTERM": "1"})
    standins.wait_started(proc)
    proc.terminate()
    time.sleep(0.3)
    proc.kill()
    assert proc.wait(5) == -signal.SIGKILL
    assert [r[0] for r in standins.runs() if r[3] == str(proc.pid)] == ["start"]


def _has_a_line(path: Path) -> bool:
    try:
        return path.read_text().endswith("\n")
    except FileNotFoundError:
        return False


def argv_log(standins: Standins) -> list[dict[str, object]]:
    return [json.loads(line) for line in (standins.state / "argv.log").read_text().splitlines()]


def test_argv_log_has_one_json_line_per_run(standins: Standins) -> None:
    runs = [
        (("rpicam-hello", "--list-cameras"), None),
        (("rpicam-vid", "--help"), None),
        (("rpicam-still", "--version"), None),
        (("rpicam-still", "--bogus"), None),  # did not parse
        (("rpicam-still", "--awb", "foo"), 0),
        (("rpicam-still", "-n", "-t", "10", "--camera=0", "-o", "x.jpg"), 0),
    ]
    expected = []
    for args, camera in runs:
        proc = standins.start(*args)
        proc.communicate(timeout=20)
        expected.append({"prog": args[0], "pid": proc.pid, "camera": camera, "argv": list(args[1:])})
    assert [{k: v for k, v in e.items() if k != "t"} for e in argv_log(standins)] == expected


def test_argv_log_time_is_when_the_run_started(standins: Standins) -> None:
    before = time.time()
    proc = standins.start("rpicam-hello", "-t", "1500", "-n")
    try:
        # Its line, not just the file: the stand-in creates the file, then writes (seen flaky in CI).
        wait_until(lambda: _has_a_line(standins.state / "argv.log"), message="argv.log written")
        assert proc.poll() is None  # logged while the 1.5 s run is still going, not after it
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    (entry,) = argv_log(standins)
    assert before <= float(entry["t"]) <= before + 1.0  # logged at the start, not after the 1.5 s run  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# --metadata
# --------------------------------------------------------------------------------------------------

SMALL = ("-n", "-t", "10", "--width", "64", "--height", "48")


def test_still_metadata_json_reports_the_requested_controls(standins: Standins) -> None:
    args = ("--shutter", "10ms", "--gain", "2", "--awbgains", "1.5,2.25", "-o", "x.jpg", "--metadata", "m.json")
    assert standins.run("rpicam-still", *SMALL, *args).returncode == 0
    metadata = json.loads((standins.cwd / "m.json").read_text())
    picked = {k: metadata[k] for k in ("ExposureTime", "AnalogueGain", "ColourGains")}
    assert picked == {"ExposureTime": 10000, "AnalogueGain": 2.0, "ColourGains": [1.5, 2.25]}


def test_still_metadata_json_has_the_pipeline_keys(standins: Standins) -> None:
    res = standins.run("rpicam-still", *SMALL, "-o", "x.jpg", "--metadata", "-", "-v", "0")
    types = {key: type(value).__name__ for key, value in json.loads(res.stdout).items()}
    assert types == {
        "SensorTimestamp": "int",
        "ExposureTime": "int",
        "FrameDuration": "int",
        "AnalogueGain": "float",
        "DigitalGain": "float",
        "ColourGains": "list",
        "ColourTemperature": "int",
        "Lux": "float",
        "FocusFoM": "int",
        "LensPosition": "float",
    }


def test_metadata_has_no_lens_position_on_a_camera_without_autofocus(standins: Standins) -> None:
    af = ("--autofocus-mode", "manual", "--lens-position", "2.5")  # accepted and ignored, as by rpicam-apps
    res = standins.run(
        "rpicam-still", *SMALL, *af, "-o", "x.jpg", "--metadata", "-", "-v", "0", env={"STANDIN_CAMERAS": "imx219"}
    )
    assert res.returncode == 0
    assert "LensPosition" not in json.loads(res.stdout)


def test_metadata_lens_position_on_imx708(standins: Standins) -> None:
    res = standins.run("rpicam-still", *SMALL, "--lens-position", "2.5", "-o", "x.jpg", "--metadata", "-", "-v", "0")
    assert json.loads(res.stdout)["LensPosition"] == 2.5


def test_metadata_txt_is_key_value_lines(standins: Standins) -> None:
    res = standins.run(
        "rpicam-still", *SMALL, "--shutter", "2000", "-o", "x.jpg", "--metadata", "-", "--metadata-format", "TXT"
    )
    assert "\nExposureTime=2000\n" in "\n" + res.stdout
    assert res.stdout.endswith("\n\n") and all("=" in line for line in res.stdout.splitlines()[:-1])


def test_vid_metadata_is_one_object_for_the_last_frame(standins: Standins) -> None:
    res = standins.run("rpicam-vid", "-n", "--frames", "3", "--framerate", "20", "--metadata", "m.json")
    assert res.returncode == 0, res.stderr
    assert json.loads((standins.cwd / "m.json").read_text())["FrameDuration"] == 50000


def test_unopenable_metadata_file_is_ignored_like_the_real_app(standins: Standins) -> None:
    # rpicam-apps writes metadata through an unchecked std::ofstream: no error, no file, the capture is kept.
    res = standins.run("rpicam-still", *SMALL, "-o", "x.jpg", "--metadata", "no/dir/m.json")
    assert (res.returncode, (standins.cwd / "x.jpg").exists()) == (0, True)


def test_bad_metadata_format_is_refused(standins: Standins) -> None:
    res = standins.run("rpicam-still", "--metadata", "-", "--metadata-format", "xml")
    assert (res.returncode, res.stderr.splitlines()[-1]) == (255, "ERROR: *** unrecognised metadata format xml ***")


# --------------------------------------------------------------------------------------------------
# Orientation
# --------------------------------------------------------------------------------------------------

W, H = 32, 16


def rgb_still(standins: Standins, *args: str) -> list[bytes]:
    """The rows of a raw RGB still."""
    name = f"s{len(list(standins.cwd.glob('s*.rgb')))}.rgb"
    res = standins.run(
        "rpicam-still", "-n", "-t", "10", "--width", str(W), "--height", str(H), "-e", "rgb", "-o", name, *args
    )
    assert res.returncode == 0, res.stderr
    data = (standins.cwd / name).read_bytes()
    return [data[y * W * 3 : (y + 1) * W * 3] for y in range(H)]


def mirror(row: bytes) -> bytes:
    return b"".join(row[x * 3 : x * 3 + 3] for x in reversed(range(len(row) // 3)))


@pytest.mark.parametrize(
    ("args", "transform"),
    [
        (("--hflip",), lambda rows: [mirror(r) for r in rows]),
        (("--vflip",), lambda rows: rows[::-1]),
        (("--rotation", "180"), lambda rows: [mirror(r) for r in rows[::-1]]),
        (("--hflip", "--vflip", "--rotation", "180"), lambda rows: rows),  # they cancel out
    ],
)
def test_orientation_controls_transform_the_still(standins: Standins, args: tuple[str, ...], transform) -> None:  # type: ignore[no-untyped-def]
    plain = rgb_still(standins)
    assert plain != plain[::-1]  # the pattern is not symmetric, so a flip shows
    assert rgb_still(standins, *args) == transform(plain)


def test_vflip_flips_the_video(standins: Standins) -> None:
    common = ("-n", "--frames", "1", "--codec", "yuv420", "--width", str(W), "--height", str(H))
    standins.run("rpicam-vid", *common, "-o", "plain.yuv")
    standins.run("rpicam-vid", *common, "--vflip", "-o", "flipped.yuv")
    luma = [(standins.cwd / n).read_bytes()[: W * H] for n in ("plain.yuv", "flipped.yuv")]
    rows = [[y[i * W : (i + 1) * W] for i in range(H)] for y in luma]
    assert rows[1] == rows[0][::-1]


@pytest.mark.parametrize(
    ("rotation", "message"),
    [("90", "transforms requiring transpose not supported"), ("45", "illegal rotation value")],
)
def test_unsupported_rotation_is_refused(standins: Standins, rotation: str, message: str) -> None:
    res = standins.run("rpicam-still", "--rotation", rotation, "-o", "x.jpg")
    assert (res.returncode, res.stderr.splitlines()[-1]) == (255, f"ERROR: *** {message} ***")


# --------------------------------------------------------------------------------------------------
# Value checks, -t, sizes
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--metering", "middle"), "Invalid metering mode: middle"),
        (("--exposure", "night"), "Invalid exposure mode:night"),
        (("--autofocus-mode", "macro"), "Invalid AfMode:macro"),
        (("--autofocus-speed", "slow"), "Invalid afSpeed mode:slow"),
        (("--awbgains", "1.5"), "Invalid AWB gains"),
        (("--hdr", "on"), "Invalid HDR option provided: on"),
        (("--lens-position", "far"), "Invalid lens position: far"),
        (("--denoise", "strong"), "Invalid denoise mode strong"),
        (("--ccm", "1,0,0"), "Invalid CCM - expect 9 comma-separated floating point numbers"),
        (("--thumb", "big"), "bad thumbnail parameters big"),
        (("--quality", "high"), "the argument ('high') for option '--quality' is invalid"),
    ],
)
def test_bad_control_values_exit_255(standins: Standins, args: tuple[str, ...], message: str) -> None:
    res = standins.run("rpicam-still", "-n", "-t", "10", "-o", "x.jpg", *args)
    assert (res.returncode, res.stderr.splitlines()[-1]) == (255, f"ERROR: *** {message} ***")


def test_af_range_error_quotes_the_exposure_value_like_the_real_app(standins: Standins) -> None:
    res = standins.run("rpicam-still", "--exposure", "long", "--autofocus-range", "near")
    assert res.stderr.splitlines()[-1] == "ERROR: *** Invalid AfRange mode:long ***"


@pytest.mark.parametrize(
    "args",
    [
        ("--metering", "spot", "--exposure", "long", "--denoise", "cdn_hq", "--awb", "daylight"),
        ("--autofocus-mode", "continuous", "--hdr", "--roi", "0.25,0.25,0.5,0.5", "--awbgains", "1.5,2"),
        ("--roi", "garbage", "--quality", "150"),  # ignored / clamped by the real app, not refused
    ],
)
def test_good_control_values_are_accepted(standins: Standins, args: tuple[str, ...]) -> None:
    res = standins.run("rpicam-still", *SMALL, "-o", "x.jpg", *args)
    assert res.returncode == 0, res.stderr


def test_timeout_with_trailing_junk_is_accepted(standins: Standins) -> None:
    res = standins.run("rpicam-vid", "-n", "-t", "5x")
    assert (res.returncode, res.stderr.splitlines()[-1]) == (0, "Halting: reached timeout of 5 milliseconds.")


@pytest.mark.parametrize(("app", "logged"), [("rpicam-vid", True), ("rpicam-hello", True), ("rpicam-still", False)])
def test_halting_line_when_the_timeout_runs_out(standins: Standins, app: str, logged: bool) -> None:
    res = standins.run(app, "-n", "-t", "100")
    assert ("Halting: reached timeout of 100 milliseconds.\n" in res.stderr) == logged


def test_halting_line_needs_verbose_1(standins: Standins) -> None:
    res = standins.run("rpicam-vid", "-n", "-t", "100", "-v", "0")
    assert "Halting" not in res.stderr


def test_odd_still_size_is_rounded_down(standins: Standins) -> None:
    assert (
        standins.run("rpicam-still", "-n", "-t", "10", "--width", "641", "--height", "479", "-o", "odd.jpg").returncode
        == 0
    )
    with av.open(str(standins.cwd / "odd.jpg")) as c:
        ctx = c.streams.video[0].codec_context
        assert (ctx.width, ctx.height) == (640, 478)
