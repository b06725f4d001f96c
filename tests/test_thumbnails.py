"""capture.thumbnails: poster frames made by ffmpeg on first use, cached in a hidden directory."""

from __future__ import annotations

import os
import time

import av
import pytest
from django.conf import settings

from capture import thumbnails
from capture.lib.runner import CommandFailed, run_command
from capture.storage import thumbnail_path
from capture.thumbnails import ensure_thumbnail
from tests.captures import make_row, take

pytestmark = pytest.mark.django_db


def image_size(path) -> tuple[int, int]:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return frame.width, frame.height


@pytest.fixture
def ffmpeg_runs(monkeypatch) -> list[list[str]]:
    """Record every ffmpeg run by the thumbnail module (they still run)."""
    runs: list[list[str]] = []

    def recording_run(argv, **kwargs):
        runs.append(list(argv))
        return run_command(argv, **kwargs)

    monkeypatch.setattr(thumbnails, "run_command", recording_run)
    return runs


@pytest.mark.parametrize("fmt", ["jpg", "mp4", "h264"])
def test_it_makes_a_jpeg_thumbnail_of_every_format(fmt):
    capture = take(fmt, width=640, height=360)
    path = ensure_thumbnail(capture)
    assert path == settings.MEDIA_ROOT / ".thumbnails" / f"{capture.filename}.small.jpg"
    assert path.read_bytes()[:2] == b"\xff\xd8"
    assert image_size(path) == (320, 180)  # 320 wide, the capture's aspect ratio


def test_the_large_size_is_a_poster_that_never_upscales():
    capture = take("mp4", width=640, height=360)
    assert image_size(ensure_thumbnail(capture, "large")) == (640, 360)


def test_a_video_poster_is_taken_half_a_second_in(ffmpeg_runs):
    capture = take("mp4", duration=2)
    ensure_thumbnail(capture)
    assert ffmpeg_runs[0][ffmpeg_runs[0].index("-ss") + 1] == "0.500"


def test_a_very_short_video_gets_its_middle_frame(ffmpeg_runs):
    capture = take("mp4", duration=0.4)
    assert ensure_thumbnail(capture) is not None
    assert ffmpeg_runs[0][ffmpeg_runs[0].index("-ss") + 1] == "0.200"


def test_a_made_thumbnail_is_reused_without_running_ffmpeg(ffmpeg_runs):
    capture = take("jpg")
    first = ensure_thumbnail(capture)
    made = first.stat().st_mtime_ns
    assert ensure_thumbnail(capture) == first
    assert len(ffmpeg_runs) == 1
    assert first.stat().st_mtime_ns == made


@pytest.mark.parametrize("shift_sec", [+10, -3600])
def test_a_different_file_under_the_same_name_gets_a_new_thumbnail(ffmpeg_runs, shift_sec):
    # A name reused after a delete, possibly after the clock jumped back (a Pi has no clock battery).
    capture = take("jpg")
    path = ensure_thumbnail(capture)
    shifted = time.time() + shift_sec
    os.utime(capture.path, (shifted, shifted))
    assert ensure_thumbnail(capture) == path
    assert ensure_thumbnail(capture) == path
    assert len(ffmpeg_runs) == 2  # made again once, then reused
    assert path.stat().st_mtime == pytest.approx(shifted)


def test_no_file_means_no_thumbnail(ffmpeg_runs):
    assert ensure_thumbnail(make_row(filename="", status="failed")) is None
    assert ensure_thumbnail(make_row(filename="gone.jpg")) is None
    assert ffmpeg_runs == []


def test_an_unreadable_file_is_not_retried_on_every_view(ffmpeg_runs):
    (settings.MEDIA_ROOT / "broken.mp4").write_bytes(b"not a video at all")
    capture = make_row(filename="broken.mp4", format="mp4")
    assert ensure_thumbnail(capture) is None
    attempts = len(ffmpeg_runs)
    assert attempts >= 1
    assert ensure_thumbnail(capture) is None
    assert len(ffmpeg_runs) == attempts  # remembered for RETRY_FAILED_AFTER_SEC
    assert not list((settings.MEDIA_ROOT / ".thumbnails").glob("*.jpg"))  # no half-written thumbnail


def test_a_failure_is_retried_after_a_while(ffmpeg_runs, monkeypatch):
    (settings.MEDIA_ROOT / "broken.jpg").write_bytes(b"not an image")
    capture = make_row(filename="broken.jpg")
    ensure_thumbnail(capture)
    monkeypatch.setattr(thumbnails, "RETRY_FAILED_AFTER_SEC", 0)
    ensure_thumbnail(capture)
    assert len(ffmpeg_runs) == 2


def test_a_failed_seek_falls_back_to_the_first_frame(monkeypatch):
    capture = take("mp4")
    calls = []

    def seek_fails(argv, **kwargs):
        calls.append(argv)
        if "-ss" in argv:
            raise CommandFailed("ffmpeg failed", None)
        return run_command(argv, **kwargs)

    monkeypatch.setattr(thumbnails, "run_command", seek_fails)
    assert ensure_thumbnail(capture).read_bytes()[:2] == b"\xff\xd8"
    assert ["-ss" in argv for argv in calls] == [True, False]


def test_without_ffmpeg_there_is_no_thumbnail_and_no_error(settings):
    capture = take("jpg")
    settings.FFMPEG_BINARY = "no-such-ffmpeg-binary"
    thumbnails.find_ffmpeg.cache_clear()
    try:
        assert ensure_thumbnail(capture) is None
    finally:
        thumbnails.find_ffmpeg.cache_clear()


def test_unknown_sizes_are_refused():
    with pytest.raises(ValueError):
        thumbnail_path("a.jpg", "huge")


def test_taking_a_capture_makes_no_thumbnail():
    # The capture path stays as fast as the camera: thumbnails are made on first view only.
    take("mp4")
    assert not (settings.MEDIA_ROOT / ".thumbnails").exists()
