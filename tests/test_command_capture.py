"""`manage.py capture`: the API's rules, JSON and lock from the command line; exit codes; clean interrupts."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from capture.camera.lock import CameraLock
from capture.management.commands.capture import Progress
from capture.models import Capture
from tests.cli import run_manage
from tests.conftest import ROOT, capture_processes, wait_for_detection, wait_until
from tests.test_camera_lock import hold_in_other_process

SMALL = ["--width", "64", "--height", "64", "--duration", "0.2"]
# The API body that SMALL + --filename same asks for.
SAME = {"width": 64, "height": 64, "durationSec": 0.2, "filename": "same"}


@pytest.fixture
def manage(db, capsys):
    return lambda *args: run_manage(capsys, *args)


def test_it_prints_one_line_with_the_file_its_size_and_time(manage):
    code, out, err = manage("capture", "--format", "jpg", *SMALL)
    assert code == 0
    row = Capture.objects.get()
    line = re.fullmatch(r"(?P<path>\S+) \((?P<size>[\d.]+) (?P<unit>bytes|KB), (?P<ms>\d+) ms\)\n", out)
    assert (line["path"], int(line["ms"])) == (str(row.path), row.total_ms)
    assert float(line["size"]) * (1024 if line["unit"] == "KB" else 1) == pytest.approx(row.size_bytes, rel=0.05)
    assert row.path.read_bytes()[:2] == b"\xff\xd8"
    assert err == ""  # a short capture: no progress, and the service's log lines only with -v 2


def test_its_rows_have_source_cli(manage):
    manage("capture", "--format", "h264", *SMALL)
    row = Capture.objects.get()
    assert (row.source, row.status, row.format, row.width, row.duration_sec) == ("cli", "ok", "h264", 64, 0.2)


def test_its_json_is_exactly_the_apis(manage, post_json):
    api = post_json("/api/camera/capture", SAME)
    assert api.status_code == 200
    (settings.MEDIA_ROOT / "same.jpg").unlink()  # so that the CLI's capture gets the same name

    code, out, _ = manage("capture", "--json", "--filename", "same", *SMALL)
    assert code == 0
    assert out.strip() == api.content.decode()
    assert api.content.decode().startswith('{"ok":true,"filename":"same.jpg","url":"/uploads/same.jpg","camera":0,')
    assert [row.source for row in Capture.objects.order_by("id")] == ["api", "cli"]


@pytest.mark.parametrize(
    ("args", "body", "option"),
    [
        (["--width", "abc"], {"width": "abc"}, "--width"),
        (["--format", "gif"], {"format": "gif"}, "--format"),
        (["--format", "mp4", "--height", "241"], {"format": "mp4", "height": "241"}, "--height"),
        (["--duration", "0"], {"durationSec": "0"}, "--duration"),
        (["--duration", "nan"], {"durationSec": "nan"}, "--duration"),
        (["--filename", "photo.mp4"], {"filename": "photo.mp4"}, "--filename"),
    ],
)
def test_invalid_options_exit_2_with_the_apis_400_json(manage, post_json, args, body, option):
    api = post_json("/api/camera/capture", body)
    assert api.status_code == 400

    code, out, err = manage("capture", "--json", *args)
    assert code == 2
    assert out.strip() == api.content.decode()
    assert f"Invalid options: {option}: " in err  # named as the option, not the API field
    assert not Capture.objects.exists()


def test_an_unknown_option_exits_2(manage):
    code, _, err = manage("capture", "--colour", "red")
    assert code == 2
    assert "unrecognized arguments: --colour red" in err


def test_a_camera_held_by_another_process_exits_3_with_the_apis_409_json(manage, post_json):
    holder = hold_in_other_process(settings.CAMERA_LOCK_PATH)
    try:
        api = post_json("/api/camera/capture", {})
        code, out, err = manage("capture", "--json", *SMALL)
    finally:
        holder.kill()
        holder.wait()
    assert api.status_code == 409
    assert code == 3
    assert out.strip() == api.content.decode()
    assert "Camera busy" in err
    assert not Capture.objects.exists()


def test_a_hung_camera_exits_4(manage, standins, monkeypatch, settings):
    monkeypatch.setenv("STANDIN_IGNORE_SIGTERM", "1")
    settings.CAMERA_TIMEOUT_MARGIN_SEC = 0.5
    settings.CAMERA_KILL_GRACE_SEC = 0.3
    code, out, err = manage("capture", "--json", "--format", "jpg", *SMALL)
    assert code == 4
    assert json.loads(out)["ok"] is False
    assert "timed out" in err
    wait_for_detection()
    assert capture_processes(standins) == []
    assert Capture.objects.get().status == "timeout"


def test_a_failing_camera_exits_1_with_its_message(manage, standins, monkeypatch):
    monkeypatch.setenv("STANDIN_FAIL", "camera frontend has timed out")
    code, out, err = manage("capture", *SMALL)
    assert code == 1
    assert out == ""
    assert "camera frontend has timed out" in err
    assert Capture.objects.get().status == "failed"


def test_analyze_answers_the_apis_json_and_gives_the_analyzer_a_local_url(manage, post_json, analyzer):
    api = post_json("/api/camera/capture-and-analyze", SAME)
    assert api.status_code == 200
    (settings.MEDIA_ROOT / "same.jpg").unlink()

    code, out, _ = manage("capture", "--analyze", "--json", "--filename", "same", *SMALL)
    assert code == 0
    assert out.strip() == api.content.decode()
    row = Capture.objects.get(source="cli")
    assert row.analyze_job_id == "job-42"
    # No request to take a host from: the server's own address, where gunicorn serves /uploads/ too.
    assert analyzer.requests[-1]["body"] == {
        "filename": "same.jpg",
        "path": "/uploads/same.jpg",
        "captureId": row.pk,
        "url": f"http://127.0.0.1:{settings.PORT}/uploads/same.jpg",
    }


def test_analyze_uses_the_base_url_given(manage, analyzer):
    code, out, _ = manage("capture", "--analyze", "--base-url", "http://camera.local/", "--filename", "x", *SMALL)
    assert code == 0
    assert out.endswith(", analyzer job job-42\n")
    assert analyzer.requests[0]["body"]["url"] == "http://camera.local/uploads/x.jpg"


def test_an_analyzer_failure_exits_1_and_keeps_the_capture(manage, post_json, analyzer):
    analyzer.status = 500
    api = post_json("/api/camera/capture-and-analyze", SAME)
    assert api.status_code == 500
    (settings.MEDIA_ROOT / "same.jpg").unlink()

    code, out, err = manage("capture", "--analyze", "--json", "--filename", "same", *SMALL)
    assert code == 1
    assert out.strip() == api.content.decode()
    assert f"the capture was kept: {settings.MEDIA_ROOT / 'same.jpg'}" in err
    assert (settings.MEDIA_ROOT / "same.jpg").is_file()


def test_a_long_capture_reports_progress_in_plain_lines_when_not_on_a_terminal(manage):
    # The test settings' simulated camera runs 10x faster than real time, so this takes well under a second.
    code, out, err = manage(
        "capture", "--json", "--format", "h264", "--width", "64", "--height", "64", "--duration", "3"
    )
    assert code == 0
    assert err == "capturing h264 3 s…\n"
    assert json.loads(out)["ok"] is True  # stdout holds the JSON only


def test_the_progress_bar_fills_and_then_says_finishing():
    bar = Progress(lambda text: None, "mp4 10 s", 10, tty=True)
    assert bar.render(0) == "\rmp4 10 s [------------------------------] 0.0/10 s\033[K"
    assert bar.render(5) == "\rmp4 10 s [###############---------------] 5.0/10 s\033[K"
    assert bar.render(12) == "\rmp4 10 s [##############################] finishing\033[K"
    assert Progress(lambda text: None, "mp4 10 s", 10, tty=False).render(5) == "capturing mp4 10 s: 5.0/10 s\n"


# --- The real command line: `python manage.py capture` as a separate process ----------------------------


@pytest.fixture(scope="module")
def migrated_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli-db") / "template.sqlite3"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "camsite.test_settings", "DATABASE_PATH": str(path)}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    return path


@pytest.fixture
def cli(tmp_path, standins, migrated_db, settings):
    """Start `manage.py capture ...` with the real settings, the rpicam backend and the stand-in camera."""
    db = tmp_path / "cli.sqlite3"
    shutil.copy(migrated_db, db)
    env = {
        **os.environ,  # with the stand-ins first on PATH
        "DJANGO_SETTINGS_MODULE": "camsite.settings",
        "DJANGO_SECRET_KEY": "test",
        "DATABASE_PATH": str(db),
        "UPLOAD_DIR": str(settings.MEDIA_ROOT),
        "CAMERA_LOCK_PATH": str(settings.CAMERA_LOCK_PATH),
        "CAMERA_BACKEND": "rpicam",
        "CAMERA_KILL_GRACE_SEC": "0.5",
    }
    started: list[subprocess.Popen] = []

    def start(*args: str, **kwargs) -> subprocess.Popen:
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        proc = subprocess.Popen([sys.executable, "manage.py", "capture", *args], cwd=ROOT, env=env, **kwargs)
        started.append(proc)
        return proc

    start.rows = lambda: sqlite3.connect(db).execute("SELECT status, source, error FROM capture_capture").fetchall()
    start.env = env
    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_for_camera_start(lock_path, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = lock_path.read_text() if lock_path.exists() else ""
        record = json.loads(text) if text.strip() else {}
        if record.get("cameraPgid"):
            return record
        time.sleep(0.05)
    raise AssertionError("the camera never started")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "stubborn_camera"),
    [(signal.SIGINT, False), (signal.SIGTERM, False), (signal.SIGINT, True)],
    ids=["ctrl-c", "sigterm", "ctrl-c-camera-ignores-signals"],
)
def test_a_signal_stops_the_camera_and_leaves_nothing_behind(
    cli, standins, monkeypatch, settings, sig, stubborn_camera
):
    if stubborn_camera:
        monkeypatch.setenv("STANDIN_IGNORE_SIGTERM", "1")  # the runner must escalate to SIGKILL
    proc = cli("--format", "mp4", "--duration", "60", "--width", "320", "--height", "240", "--json", text=True)
    record = wait_for_camera_start(settings.CAMERA_LOCK_PATH)
    assert capture_processes(standins), "the camera is recording"

    proc.send_signal(sig)
    out, err = proc.communicate(timeout=20)

    assert proc.returncode == 130
    assert json.loads(out) == {"ok": False, "error": "Capture interrupted"}
    assert "Capture interrupted" in err
    assert capture_processes(standins) == []
    with pytest.raises(ProcessLookupError):
        os.killpg(record["cameraPgid"], 0)  # the camera's whole process group is gone
    assert settings.CAMERA_LOCK_PATH.read_text() == ""
    assert CameraLock(settings.CAMERA_LOCK_PATH).peek() is None
    CameraLock(settings.CAMERA_LOCK_PATH).acquire(ttl_sec=5).release()  # free for the next capture
    assert list(settings.MEDIA_ROOT.iterdir()) == []  # no partial file, hidden or not
    assert cli.rows() == [("interrupted", "cli", "Capture interrupted")]


@pytest.mark.slow
def test_it_draws_a_progress_bar_on_a_terminal(cli):
    controller, terminal = pty.openpty()
    proc = cli("--format", "h264", "--duration", "2.5", "--width", "320", "--height", "240", stderr=terminal)
    os.close(terminal)
    shown = b""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if select.select([controller], [], [], 0.5)[0]:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the command exited and closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        elif proc.poll() is not None:
            break
    os.close(controller)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    frames = re.findall(rb"\rh264 2\.5 s \[(#*)-*\] ", shown)
    assert len(frames) >= 5  # redrawn in place about five times a second
    assert [len(f) for f in frames] == sorted(len(f) for f in frames)  # and it only ever fills up
    assert shown.endswith(b"\r\x1b[K")  # the line is cleared for the result, which goes to stdout
    assert out.decode().endswith(" ms)\n")


@pytest.mark.slow
def test_the_camera_process_holds_the_locks_file_while_it_runs(cli, settings):
    cli("--format", "h264", "--duration", "60", "--width", "320", "--height", "240")
    record = wait_for_camera_start(settings.CAMERA_LOCK_PATH)
    camera_pid = record["cameraPgid"]  # the runner execs the camera app as its own group's leader
    assert str(settings.CAMERA_LOCK_PATH) in open_files(camera_pid)


def open_files(pid: int) -> list[str]:
    """What `pid` has open. A process starting up opens and closes files (its imports) as we read."""
    found = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            found.append(os.readlink(fd))
        except FileNotFoundError:
            continue  # closed between the listing and the readlink
    return found


@pytest.mark.slow
def test_rpicam_vid_is_stopped_with_sigint_first(cli, standins, settings):
    proc = cli("--format", "h264", "--duration", "60", "--width", "320", "--height", "240")
    wait_for_camera_start(settings.CAMERA_LOCK_PATH)
    runs = standins / "runs.log"
    deadline = time.monotonic() + 20
    while not (runs.exists() and "start rpicam-vid" in runs.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)  # recording: rpicam-vid has its SIGINT handler (before that, SIGINT kills it)
    proc.send_signal(signal.SIGTERM)  # systemd stopping the CLI: the runner stops the camera for it
    proc.communicate(timeout=20)
    ends = [line.split() for line in (standins / "runs.log").read_text().splitlines() if line.startswith("end ")]
    assert [(end[1], end[-1]) for end in ends] == [("rpicam-vid", "stop=SIGINT")]  # SIGINT finishes the file


@pytest.mark.slow
def test_listings_and_captures_from_several_processes_never_overlap(cli, standins, monkeypatch):
    # A real listing acquires every camera: one during a capture would fail it, or fail itself.
    cli.env["STANDIN_LIST_SEC"] = "0.15"
    cli.env["CAMERA_DETECT_TTL_SEC"] = "1"
    status = [sys.executable, "manage.py", "camera_status", "--json"]
    listers = [subprocess.Popen(status, cwd=ROOT, env=cli.env, stdout=subprocess.DEVNULL) for _ in range(3)]
    # The captures start once a listing has (a lister that finds a capture running doesn't list at all).
    runs = standins / "runs.log"
    wait_until(lambda: runs.exists() and "list-start" in runs.read_text(), 30, 0.01, "a lister listing")
    capturers = [cli("--duration", "0.3", "--width", "64", "--height", "64") for _ in range(3)]
    listers += [subprocess.Popen(status, cwd=ROOT, env=cli.env, stdout=subprocess.DEVNULL) for _ in range(3)]
    for proc in listers + capturers:
        proc.communicate(timeout=60)
    events = [line.split() for line in (standins / "runs.log").read_text().splitlines()]
    spans: dict[str, list] = {}
    for event, _app, _camera, pid, when, *_ in events:
        kind = "list" if event.startswith("list-") else "capture"
        spans.setdefault(pid, [kind, None, None])[1 if event.endswith("start") else 2] = float(when)
    listings = [(start, end) for kind, start, end in spans.values() if kind == "list"]
    captures = [(start, end) for kind, start, end in spans.values() if kind == "capture"]
    assert listings and captures, events
    overlaps = [(a, b) for a in listings for b in captures if a[0] < b[1] and b[0] < a[1]]
    assert overlaps == []
