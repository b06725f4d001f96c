"""Faults: a hung remux, a full / read-only / deleted upload directory, errors with DEBUG off."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from capture.camera.lock import CameraLock
from capture.models import Capture
from tests.conftest import capture_processes, processes_matching
from tests.reliability.figures import record

SMALL_MP4 = {"format": "mp4", "durationSec": 0.5, "fps": 10, "width": 320, "height": 240}


def assert_clean_after_failure(standins=None) -> None:
    """The invariants after any failed capture: lock free, no partial file, no camera process."""
    assert CameraLock(settings.CAMERA_LOCK_PATH).peek() is None
    assert [p.name for p in settings.MEDIA_ROOT.iterdir() if p.name.startswith(".")] == []
    if standins is not None:
        assert capture_processes(standins) == []


def test_a_hung_remux_is_a_504_and_killed(post_json, standins, monkeypatch, settings, tmp_path):
    # An ffmpeg that ignores SIGTERM and never finishes; only the remux uses ffmpeg on this path.
    hung = tmp_path / "hung-ffmpeg"
    hung.write_text(
        f"#!{sys.executable}\nimport signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(600)\n"
    )
    hung.chmod(0o755)
    monkeypatch.setenv("STANDIN_NO_LIBAV", "1")  # so the mp4 needs a remux
    settings.FFMPEG_BINARY = str(hung)
    settings.REMUX_TIMEOUT_SEC = 1
    settings.CAMERA_KILL_GRACE_SEC = 0.3
    started = time.monotonic()
    response = post_json("/api/camera/capture", SMALL_MP4)
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert "hung-ffmpeg timed out after 1.0 s" in response.json()["error"]
    assert elapsed < 0.5 + 3 + 1 + 2  # duration + camera margin + remux budget + kill grace
    assert processes_matching(str(hung)) == []
    row = Capture.objects.get()
    assert row.status == "timeout"
    assert row.commands[-1]["timedOut"] is True
    assert list(settings.MEDIA_ROOT.iterdir()) == []  # neither the raw .h264 nor a partial .mp4
    assert_clean_after_failure(standins)
    record("faults", "hung_remux_504_seconds", round(elapsed, 2))


@pytest.fixture
def small_tmpfs(tmp_path, settings):
    """MEDIA_ROOT on a 2 MiB tmpfs (we are root in CI); skipped where mounting isn't allowed."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip()}); the injected-ENOSPC test covers it")
    settings.MEDIA_ROOT = mount_point
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(directory: Path) -> Path:
    filler = directory / "filler.bin"
    with filler.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:
            pass
    return filler


def test_a_full_upload_dir_is_a_clear_error_and_the_next_capture_works(post_json, small_tmpfs, api):
    filler = fill(small_tmpfs)
    response = post_json("/api/camera/capture", {"format": "jpg", "durationSec": 0.2, "width": 1280, "height": 720})
    assert response.status_code == 500
    assert "is full (no space left on device)" in response.json()["error"]
    assert Capture.objects.get().status == "failed"
    assert sorted(p.name for p in small_tmpfs.iterdir()) == ["filler.bin"]  # no partial file kept
    assert_clean_after_failure()

    filler.unlink()  # space returns
    again = post_json("/api/camera/capture", {"format": "jpg", "durationSec": 0.2, "width": 320, "height": 240})
    assert again.status_code == 200
    assert api.get(again.json()["url"]).status_code == 200
    record("faults", "enospc_tmpfs_error", response.json()["error"])


def test_a_read_only_upload_dir_is_refused_before_the_camera(post_json, small_tmpfs):
    subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=True)
    response = post_json("/api/camera/capture", {"durationSec": 0.2, "width": 64, "height": 64})
    assert response.status_code == 500
    assert response.json()["error"] == f"Upload directory {small_tmpfs} is not writable by this server"
    assert not Capture.objects.exists()  # the camera was never touched
    subprocess.run(["mount", "-o", "remount,rw", str(small_tmpfs)], check=True)
    assert post_json("/api/camera/capture", {"durationSec": 0.2, "width": 64, "height": 64}).status_code == 200


def test_a_deleted_upload_dir_is_a_clear_error(post_json, settings):
    settings.MEDIA_ROOT.rmdir()
    response = post_json("/api/camera/capture", {"durationSec": 0.2, "width": 64, "height": 64})
    assert response.status_code == 500
    assert "does not exist" in response.json()["error"]
    assert str(settings.MEDIA_ROOT) in response.json()["error"]
    settings.MEDIA_ROOT.mkdir()
    assert post_json("/api/camera/capture", {"durationSec": 0.2, "width": 64, "height": 64}).status_code == 200


def test_enospc_while_publishing_is_reported_and_leaves_nothing(post_json, monkeypatch):
    # Injected, for machines where the tmpfs test can't mount: the write fails at the last step.
    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("capture.storage.publish", no_space)
    response = post_json("/api/camera/capture", {"durationSec": 0.2, "width": 64, "height": 64})
    assert response.status_code == 500
    assert "No space left on device" in response.json()["error"]
    assert list(settings.MEDIA_ROOT.iterdir()) == []
    assert Capture.objects.get().status == "failed"


def test_unexpected_errors_never_leak_a_stack_trace(client, db, monkeypatch, settings):
    settings.DEBUG = False

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals at /work/main/capture/service.py line 42")

    monkeypatch.setattr("capture.api.views.camera_status", boom)
    client.raise_request_exception = False
    response = client.get("/api/camera/status")
    assert response.status_code == 500
    assert response.json() == {"ok": False, "error": "Internal server error"}
    assert b"Traceback" not in response.content and b"secret internals" not in response.content


def test_the_lock_file_dir_must_exist(settings, tmp_path):
    from capture.checks import check_lock_dir

    settings.CAMERA_LOCK_PATH = tmp_path / "missing" / "camera.lock"
    assert [error.id for error in check_lock_dir(None)] == ["capture.E002"]
