"""Timelapses of generated frames with the real ffmpeg: the MP4 lasts frames/fps, the job records its progress,
the result is a capture with source `timelapse`, and nothing is left behind."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image

from capture.models import Capture
from capture.schedules import timelapse
from capture.schedules.models import Schedule, TimelapseJob
from tests.captures import make_row
from tests.conftest import probe

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(120)]


class ListQueue:
    def __init__(self) -> None:
        self.jobs: list[int] = []

    def put(self, pk: int) -> None:
        self.jobs.append(pk)


def make_frames(count: int, *, schedule: Schedule | None = None, size=(320, 240)) -> list[Capture]:
    rows = []
    start = timezone.now()
    for n in range(count):
        row = make_row(
            filename=f"frame{n:04d}.jpg",
            width=size[0],
            height=size[1],
            source=Capture.Source.SCHEDULE,
            schedule=schedule,
            requested_at=start + timedelta(seconds=n),
        )
        Image.new("RGB", size, (n * 10 % 256, 80, 160)).save(row.path, quality=85)
        row.size_bytes = row.path.stat().st_size
        row.save()
        rows.append(row)
    return rows


def schedule() -> Schedule:
    return Schedule.objects.create(format="jpg", width=320, height=240, fps=30, duration_sec=1, every_sec=60)


@pytest.mark.parametrize(("frames", "fps"), [(24, 12), (10, 25)])
def test_the_video_lasts_frames_over_fps(settings, frames, fps):
    owner = schedule()
    make_frames(frames, schedule=owner)
    queue = ListQueue()
    job = timelapse.submit(timelapse.frames_of(owner), queue, fps=fps, schedule=owner)
    assert queue.jobs == [job.pk]

    timelapse.run(job.pk)

    job.refresh_from_db()
    assert job.status == TimelapseJob.Status.DONE, job.error
    assert (job.frames_done, job.progress) == (frames, 1.0)
    video = job.result
    assert (video.source, video.format, video.status, video.schedule_id) == ("timelapse", "mp4", "ok", owner.pk)
    facts = probe(video.path)
    assert facts["codec"] == "h264" and (facts["width"], facts["height"]) == (320, 240)
    assert facts["frames"] == frames
    assert facts["duration"] == pytest.approx(frames / fps, abs=0.5 / fps)
    assert video.duration_sec == pytest.approx(frames / fps)
    assert video.size_bytes == video.path.stat().st_size
    # ffmpeg ran niced, and left no partial file behind.
    assert video.commands[0]["argv"][:3] == ["nice", "-n", "19"]
    assert not list(settings.MEDIA_ROOT.glob(".partial-*"))


def test_width_scales_the_video_and_keeps_the_aspect_ratio():
    rows = make_frames(4, size=(640, 360))
    job = timelapse.submit(rows, ListQueue(), fps=10, width=320)
    timelapse.run(job.pk)
    job.refresh_from_db()
    assert (job.width, job.height) == (320, 180)
    facts = probe(job.result.path)
    assert (facts["width"], facts["height"]) == (320, 180)


def test_a_frame_deleted_after_the_job_was_queued_is_left_out():
    rows = make_frames(5)
    job = timelapse.submit(rows, ListQueue(), fps=5)
    rows[2].path.unlink()
    timelapse.run(job.pk)
    job.refresh_from_db()
    assert job.status == TimelapseJob.Status.DONE
    assert probe(job.result.path)["frames"] == 4


def test_a_second_message_for_the_same_job_does_nothing():
    job = timelapse.submit(make_frames(3), ListQueue(), fps=5)
    timelapse.run(job.pk)
    timelapse.run(job.pk)
    assert Capture.objects.filter(source=Capture.Source.TIMELAPSE).count() == 1


def test_failed_and_running_frames_and_videos_are_not_frames():
    rows = make_frames(2)
    make_row(filename="", status=Capture.Status.FAILED)
    make_row(filename="clip.mp4", format="mp4")
    job = timelapse.submit(Capture.objects.order_by("requested_at"), ListQueue(), fps=5)
    assert job.frame_ids == [row.pk for row in rows]


def test_ffmpeg_failing_marks_the_job_failed_with_its_error(settings):
    job = timelapse.submit(make_frames(3), ListQueue(), fps=5)
    for row in Capture.objects.all():
        row.path.write_bytes(b"not a jpeg at all")
    timelapse.run(job.pk)
    job.refresh_from_db()
    assert job.status == TimelapseJob.Status.FAILED and "ffmpeg" in job.error
    assert job.result is None and not list(settings.MEDIA_ROOT.glob(".partial-*"))


def test_a_job_left_running_by_a_dead_worker_is_marked_failed_at_start(settings):
    job = timelapse.submit(make_frames(2), ListQueue(), fps=5)
    TimelapseJob.objects.filter(pk=job.pk).update(
        status=TimelapseJob.Status.RUNNING, started_at=timezone.now() - timedelta(hours=1)
    )
    partial = settings.MEDIA_ROOT / f".partial-timelapse-{job.pk}.mp4"
    partial.write_bytes(b"half")
    assert timelapse.recover_interrupted() == 1
    job.refresh_from_db()
    assert job.status == TimelapseJob.Status.FAILED and "Interrupted" in job.error
    assert not partial.exists()
