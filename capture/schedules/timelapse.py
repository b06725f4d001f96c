"""Timelapse videos: frames (a schedule's, or chosen captures) assembled into an MP4 by ffmpeg in the job queue.

submit() checks everything it can up front (frames with files, a size, room on the disk) and queues a
TimelapseJob; run() claims the job with a conditional UPDATE (queued → running, so a duplicate message does
nothing), writes the frame list for ffmpeg's concat demuxer (a file: memory stays flat in the number of
frames), runs ffmpeg niced through the runner while a thread copies its progress onto the job, and publishes
the video as a Capture with source `timelapse`, which the admin shows and plays like any video.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import APIException

from capture import objects, storage
from capture.lib.ffmpeg import concat_list_line, find_ffmpeg, timelapse_argv
from capture.lib.runner import CommandError, CommandResult, run_command
from capture.models import Capture, this_host
from capture.schedules.models import Schedule, TimelapseJob
from capture.upload_tasks import queue_upload

log = logging.getLogger(__name__)

MIN_FRAMES = 2
# Room kept free beyond the estimate: the MP4's index, the list file, the log.
SPARE_BYTES = 16 * 1024 * 1024
PROGRESS_POLL_SEC = 0.5
# ffmpeg at the lowest CPU priority: frames and API requests come first on a Pi's few cores.
NICE = ["nice", "-n", "19"]
_started_at = timezone.now()  # this process's start: a `running` job older than it was left by a dead worker


class TimelapseRefused(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Cannot make this timelapse"
    default_code = "timelapse_refused"


class NotEnoughRoom(APIException):
    status_code = status.HTTP_507_INSUFFICIENT_STORAGE
    default_detail = "Not enough free space for the timelapse"
    default_code = "insufficient_storage"


class TimelapseQueueUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The job queue is unavailable"
    default_code = "timelapse_queue_unavailable"


class JobQueue(Protocol):
    def put(self, pk: int) -> None: ...


def frames_of(schedule: Schedule):
    """A schedule's finished stills, oldest first."""
    return schedule.captures.filter(status=Capture.Status.OK, format=Capture.Format.JPG).order_by("requested_at", "id")


def free_bytes() -> int:
    return shutil.disk_usage(settings.MEDIA_ROOT).free


def estimate_bytes(frames: list[Capture], width: int, height: int) -> int:
    """What the video will take at most: an H.264 timelapse is smaller than its JPEG frames at the same size,
    so their sizes, scaled to the output's pixels, bound it."""
    total = 0
    for frame in frames:
        pixels = (frame.file_width or frame.width) * (frame.file_height or frame.height) or 1
        total += (frame.size_bytes or 0) * width * height / pixels
    return int(total)


def submit(
    frames: Iterable[Capture], queue: JobQueue, *, fps: int, width: int | None = None, schedule: Schedule | None = None
) -> TimelapseJob:
    """Queue a timelapse of `frames` (in that order); TimelapseRefused, NotEnoughRoom or
    TimelapseQueueUnavailable otherwise. The height follows the first frame's aspect ratio."""
    frames = list(frames)
    elsewhere = sorted({frame.host for frame in frames if not frame.is_local})
    if elsewhere:
        # The frames' files are on their host's disk, and ffmpeg runs on the worker of the host that queues it.
        raise TimelapseRefused(
            f"Frames of another host ({', '.join(elsewhere)}): make the timelapse on that host, "
            f"this server ({this_host()}) has only its own frames' files"
        )
    usable = [frame for frame in frames if _has_still(frame)]
    if len(usable) < MIN_FRAMES:
        raise TimelapseRefused(
            f"A timelapse needs at least {MIN_FRAMES} finished jpg frames with their files; found {len(usable)}"
        )
    first = usable[0]
    source_width, source_height = first.file_width or first.width, first.file_height or first.height
    width = width or source_width
    width -= width % 2  # H.264 4:2:0 needs even sizes
    height = max(2, round(width * source_height / source_width / 2) * 2)
    needed = estimate_bytes(usable, width, height) + SPARE_BYTES
    free = free_bytes()
    if needed > free:
        raise NotEnoughRoom(
            f"Not enough free space in {settings.MEDIA_ROOT} for a timelapse of {len(usable)} frames at "
            f"{width}x{height}: it needs up to {needed / 1e6:.0f} MB, {free / 1e6:.0f} MB are free"
        )
    job = TimelapseJob.objects.create(
        schedule=schedule, frame_ids=[frame.pk for frame in usable], fps=fps, width=width, height=height
    )
    try:
        queue.put(job.pk)
    except Exception as exc:
        error = f"Could not queue the timelapse: {exc.__class__.__name__}: {exc}"
        _finish(job, TimelapseJob.Status.FAILED, error=error)
        raise TimelapseQueueUnavailable(job.error) from exc
    log.info("timelapse job %s queued: %d frames, %d fps, %dx%d", job.job_id, job.frames, fps, width, height)
    return job


def run(pk: int) -> None:
    """Assemble job `pk` if it is still queued."""
    claimed = TimelapseJob.objects.filter(pk=pk, host=this_host(), status=TimelapseJob.Status.QUEUED).update(
        status=TimelapseJob.Status.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        log.info("timelapse job #%d is not queued here (done, taken, deleted, or another host's): nothing to do", pk)
        return
    job = TimelapseJob.objects.get(pk=pk)
    output = settings.MEDIA_ROOT / f"{storage.PARTIAL_PREFIX}timelapse-{job.pk}.mp4"
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="timelapse-") as tmp:
            frames = _write_list(job, Path(tmp) / "frames.txt")
            result = _assemble(job, Path(tmp), output)
        row = _publish(job, output, result, frames, started)
    except CommandError as exc:
        # The runner names the program it ran, which is `nice`: say what failed.
        detail = "timed out" if exc.result.timed_out else exc.result.last_error_line or f"exit {exc.result.returncode}"
        _finish(job, TimelapseJob.Status.FAILED, error=f"ffmpeg could not make the video: {detail}")
        return
    except (OSError, TimelapseRefused) as exc:
        _finish(job, TimelapseJob.Status.FAILED, error=str(exc.detail if isinstance(exc, APIException) else exc))
        return
    finally:
        output.unlink(missing_ok=True)
    _finish(job, TimelapseJob.Status.DONE, result=row, frames_done=job.frames)
    if row.upload_status == Capture.Upload.PENDING:
        queue_upload(row)  # to the bucket, like a camera's capture


def recover_interrupted() -> int:
    """This host's jobs a killed worker left `running` (started before this process): failed, their partial
    file gone. Another host's running job is its worker's, alive or not."""
    orphans = TimelapseJob.objects.filter(
        host=this_host(), status=TimelapseJob.Status.RUNNING, started_at__lt=_started_at
    )
    for job in orphans:
        (settings.MEDIA_ROOT / f"{storage.PARTIAL_PREFIX}timelapse-{job.pk}.mp4").unlink(missing_ok=True)
        _finish(job, TimelapseJob.Status.FAILED, error="Interrupted: its worker stopped; start it again")
    return len(orphans)


def _has_still(frame: Capture) -> bool:
    return frame.status == Capture.Status.OK and frame.format == Capture.Format.JPG and bool(frame.filename)


def _write_list(job: TimelapseJob, path: Path) -> int:
    """The concat demuxer's list, written a frame at a time (rows are read in chunks, never all at once)."""
    order = {pk: n for n, pk in enumerate(job.frame_ids)}
    rows = Capture.objects.on_host(job.host).filter(pk__in=job.frame_ids).only("pk", "filename", "status", "format")
    found: list[tuple[int, str]] = []
    for row in rows.iterator(chunk_size=500):
        try:
            found.append((order[row.pk], str(storage.finished_file(row.filename))))
        except storage.NotAFinishedFile:
            continue  # deleted since the job was queued: the video is made of the frames still there
    if len(found) < MIN_FRAMES:
        raise TimelapseRefused(f"only {len(found)} of the {job.frames} frames are still on the disk")
    found.sort()
    with path.open("w") as listing:
        for _, frame in found:
            listing.write(concat_list_line(Path(frame)))
    return len(found)


def _assemble(job: TimelapseJob, tmp: Path, output: Path) -> CommandResult:
    progress = tmp / "progress.txt"
    argv = timelapse_argv(
        find_ffmpeg(settings.FFMPEG_BINARY),
        tmp / "frames.txt",
        output,
        fps=job.fps,
        width=job.width,
        height=job.height,
        progress=progress,
    )
    done = threading.Event()
    watcher = threading.Thread(target=_follow_progress, args=(job.pk, progress, done), name="timelapse-progress")
    watcher.start()
    try:
        result = run_command(
            [*NICE, *argv], timeout=settings.TIMELAPSE_TIMEOUT_SEC, cwd=settings.MEDIA_ROOT, kill_grace=2
        )
    finally:
        done.set()
        watcher.join()
    return result


def _follow_progress(pk: int, progress: Path, done: threading.Event) -> None:
    """Copy ffmpeg's `frame=N` onto the job while it runs (its own database connection, closed at the end)."""
    last = -1
    try:
        while not done.wait(PROGRESS_POLL_SEC):
            frame = _last_frame(progress)
            if frame is not None and frame != last:
                TimelapseJob.objects.filter(pk=pk).update(frames_done=frame)
                last = frame
    finally:
        close_old_connections()


def _last_frame(progress: Path) -> int | None:
    try:
        with progress.open("rb") as stream:
            stream.seek(max(0, os.fstat(stream.fileno()).st_size - 4096))
            tail = stream.read().decode(errors="replace")
    except OSError:
        return None
    values = [line.split("=", 1)[1] for line in tail.splitlines() if line.startswith("frame=")]
    return int(values[-1]) if values and values[-1].strip().isdigit() else None


def _publish(job: TimelapseJob, output: Path, result: CommandResult, frames: int, started: float) -> Capture:
    size = output.stat().st_size if output.exists() else 0
    if size == 0:
        raise TimelapseRefused("ffmpeg finished without writing the video")
    stamp = timezone.localtime(job.created_at).strftime("%Y%m%d-%H%M%S")
    label = f"schedule{job.schedule_id}" if job.schedule_id else "captures"
    filename = storage.publish(output, f"timelapse-{label}-{stamp}.mp4")
    first = Capture.objects.filter(pk=job.frame_ids[0]).values_list("camera_index", flat=True).first()
    now = timezone.now()
    return Capture.objects.create(
        format=Capture.Format.MP4,
        width=job.width,
        height=job.height,
        fps=job.fps,
        duration_sec=frames / job.fps,
        camera_index=first or 0,
        filename=filename,
        status=Capture.Status.OK,
        source=Capture.Source.TIMELAPSE,
        schedule_id=job.schedule_id,
        backend="ffmpeg",
        size_bytes=size,
        file_width=job.width,
        file_height=job.height,
        commands=[result.as_record()],
        requested_at=job.created_at,
        started_at=job.started_at,
        finished_at=now,
        total_ms=int((time.monotonic() - started) * 1000),
        upload_status=Capture.Upload.PENDING if objects.enabled() else Capture.Upload.NONE,
    )


def _finish(job: TimelapseJob, status_: str, *, error: str = "", result: Capture | None = None, **fields) -> None:
    job.status, job.error, job.result, job.finished_at = status_, error, result, timezone.now()
    for name, value in fields.items():
        setattr(job, name, value)
    job.save(update_fields=["status", "error", "result", "finished_at", *fields])
    log.info("timelapse job %s %s%s", job.job_id, status_, f": {error}" if error else "")
