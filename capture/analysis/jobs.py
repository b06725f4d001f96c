"""Analysis jobs: queue one, run one, and take back the ones a worker left behind.

The AnalysisJob row is the truth and the task queue only carries "run job N". A worker claims a job by moving
its row from `queued` to `running` in one UPDATE, so a duplicate message is harmless, and stamps it with its
identity (host, pid and a token). huey deletes a message when a worker takes it, so a worker killed in the
middle of a job (kill -9, power cut) leaves a `running` row and no message: recover_orphans(), run when a
worker starts and every minute after, queues such jobs again, as well as `queued` rows that have no message.
Attempts are counted on the row, so a file that crashes the worker every time still ends `failed`.

This module never imports the task queue: submit() and recover_orphans() are handed a JobQueue, which
capture.analysis.tasks provides (its submit() and recover_orphans() are what callers use).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import APIException

from capture import events, objects, offload, storage
from capture.analysis.metrics import SUPPORTED_SUFFIXES, AnalysisError, analyze_file
from capture.formats import format_of
from capture.models import AnalysisJob, Capture
from capture.thumbnails import ensure_thumbnail

log = logging.getLogger(__name__)

# The machine, for telling a live worker process from a dead one by its pid (not CAMSITE_HOST, the name rows
# carry: two servers on one machine may have two names, and their pids are checked the same way).
HOST = socket.gethostname()
LOST_AFTER = timedelta(seconds=60)  # a queued job with no message this long after it was created was lost
_active_tokens: set[str] = set()  # tokens of the jobs this process is running right now
_active_lock = threading.Lock()


class UnknownUpload(ValueError):
    """The name is not a finished file in the upload directory that the analyzer can read."""


class AnalysisQueueUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The analysis queue is unavailable"
    default_code = "analysis_queue_unavailable"


class JobQueue(Protocol):
    """What a job needs of the task queue: a message "run job `pk`", and which pks have one waiting."""

    def put(self, pk: int) -> None: ...

    def waiting(self) -> set[int]: ...


class RetryLater(Exception):
    """A transient failure: run the job again in `delay` seconds."""

    def __init__(self, message: str, delay: float) -> None:
        super().__init__(message)
        self.delay = delay


def finished_upload(name: str) -> Path:
    """The path of the finished upload `name` (storage.finished_file(), the same rule as /uploads) in a
    format the analyzer reads, or UnknownUpload saying why.

    The suffix is checked before the disk, so that a name the analyzer could never read says so."""
    try:
        storage.check_name(name)
        if not name.lower().endswith(SUPPORTED_SUFFIXES):
            raise UnknownUpload(f"{name} is not a file the analyzer reads ({', '.join(SUPPORTED_SUFFIXES)})")
        return storage.finished_file(name)
    except storage.NotAFinishedFile as exc:
        raise UnknownUpload(str(exc)) from None


def runnable_here() -> Q:
    """The jobs this worker can run: those whose file it can read. With object storage that is every host's
    (a central worker analyses the whole fleet's captures); without, only the files of its own host.

    A job's message is only on the queue of the server that made it (its `host`), so this is a safety net;
    recovery (recover_orphans) keeps to the jobs this host made. Two Pis on one database then never run,
    recover or requeue each other's jobs."""
    if objects.enabled():
        return Q()
    here = settings.CAMSITE_HOST
    return Q(capture__host=here) | Q(capture__isnull=True, host=here)


def readable_capture(name: str, host: str | None = None) -> Capture | None:
    """The capture whose file `name` of `host` (this host by default) an analysis would read: None for a file
    of this host with no capture row (one put in the upload directory). UnknownUpload if this server can read
    no such file, here or in object storage."""
    host = host or settings.CAMSITE_HOST
    try:
        storage.check_name(name)
    except storage.NotAFinishedFile as exc:
        raise UnknownUpload(str(exc)) from None
    if not name.lower().endswith(SUPPORTED_SUFFIXES):
        raise UnknownUpload(f"{name} is not a file the analyzer reads ({', '.join(SUPPORTED_SUFFIXES)})")
    capture = Capture.objects.on_host(host).filter(filename=name, status=Capture.Status.OK).order_by("-id").first()
    if capture is not None and offload.readable(capture):
        return capture
    if host != settings.CAMSITE_HOST:
        raise UnknownUpload(f"No finished capture {name} of {host} in object storage")
    finished_upload(name)
    return capture


def submit(name: str, queue: JobQueue, host: str | None = None) -> AnalysisJob:
    """Queue an analysis of the finished upload `name` of `host` (this host by default; UnknownUpload if this
    server can read no such file). The job is this host's: on its queue, whosever the file."""
    capture = readable_capture(name, host)
    job = AnalysisJob.objects.create(filename=name, capture=capture, host=settings.CAMSITE_HOST)
    try:
        queue.put(job.pk)
    except Exception as exc:  # the queue's own storage: a full disk, an unreachable Redis
        job.status, job.finished_at = AnalysisJob.Status.FAILED, timezone.now()
        job.error = f"Could not queue the analysis: {exc.__class__.__name__}: {exc}"
        job.save(update_fields=["status", "finished_at", "error"])
        log.error("analysis job %s: %s", job.job_id, job.error)
        raise AnalysisQueueUnavailable(job.error) from exc
    log.info("analysis job %s queued for %s", job.job_id, name)
    return job


def run(pk: int) -> None:
    """Run job `pk` if it is still queued. RetryLater after a transient failure with attempts left."""
    token = uuid.uuid4().hex[:12]
    worker = f"{HOST}:{os.getpid()}:{token}"
    # Whose file it is never changes, so it is asked apart: the claim itself must stay an UPDATE of this one
    # table. With a join in its filter, Django moves the whole condition into a subquery (`id IN (SELECT ...)`),
    # and on PostgreSQL a claim that waited for another's row lock re-checks only `id IN (...)` against that
    # subquery's stale answer, so two workers would both claim the job.
    if not AnalysisJob.objects.filter(runnable_here(), pk=pk).exists():
        log.info("analysis job #%d is not one this worker can run (gone, or another host's file)", pk)
        return
    claimed = AnalysisJob.objects.filter(pk=pk, status=AnalysisJob.Status.QUEUED).update(
        status=AnalysisJob.Status.RUNNING,
        worker=worker,
        started_at=timezone.now(),
        finished_at=None,
        attempts=F("attempts") + 1,
    )
    if not claimed:
        log.info("analysis job #%d is not queued (done, taken, or deleted): nothing to do", pk)
        return
    job = AnalysisJob.objects.select_related("capture").get(pk=pk)
    if job.attempts > settings.ANALYSIS_MAX_ATTEMPTS:
        # Every attempt so far ended with its worker dead: don't let this file kill another one.
        _finish(job, AnalysisJob.Status.FAILED, error=f"Gave up after {job.attempts - 1} attempts: {job.error}")
        return
    with _active_lock:
        _active_tokens.add(token)
    started = time.monotonic()
    try:
        result = analyze(job)
    except offload.UploadPending as exc:
        # Not an attempt: the file is on its way to the bucket (its upload ends, one way or the other).
        AnalysisJob.objects.filter(pk=job.pk).update(attempts=F("attempts") - 1)
        if _hand_back(job, str(exc)):
            raise RetryLater(str(exc), max(settings.ANALYSIS_RETRY_DELAY_SEC, 1)) from exc
        return
    except AnalysisError as exc:
        _finish(job, AnalysisJob.Status.FAILED, error=str(exc))
        return
    except Exception as exc:
        error = f"{exc.__class__.__name__}: {exc}"
        if job.attempts >= settings.ANALYSIS_MAX_ATTEMPTS:
            _finish(job, AnalysisJob.Status.FAILED, error=f"Failed after {job.attempts} attempts: {error}")
            return
        delay = settings.ANALYSIS_RETRY_DELAY_SEC * 2 ** (job.attempts - 1)
        message = f"Attempt {job.attempts} failed: {error}; retrying in {delay:g} s"
        if _hand_back(job, message):
            log.warning("analysis job %s: %s", job.job_id, message)
            raise RetryLater(message, delay) from exc
        return
    finally:
        with _active_lock:
            _active_tokens.discard(token)
    result["analysisMs"] = int((time.monotonic() - started) * 1000)
    _finish(job, AnalysisJob.Status.DONE, result=result)


def analyze(job: AnalysisJob) -> dict:
    """Analyse the job's file: from this server's upload directory, or through object storage (another
    host's capture, or one whose local copy is gone)."""
    capture = job.capture
    if capture is None or (capture.is_local and offload.local_file(capture) is not None) or not objects.enabled():
        try:
            path = finished_upload(job.filename)
        except UnknownUpload as exc:
            raise AnalysisError(f"{exc} (deleted after the job was queued?)") from None
        result = analyze_file(path, fps_hint=capture.fps if capture else None)
    else:
        try:
            with offload.reading(capture) as path:
                result = analyze_file(path, fps_hint=capture.fps)
        except objects.NotInBucket as exc:
            raise AnalysisError(f"{exc} (deleted after the job was queued, or its upload failed?)") from None
        except objects.StorageRefused as exc:
            raise AnalysisError(str(exc)) from None
        # StorageUnavailable: a transient failure, retried like any other.
    result["thumbnail"] = make_thumbnail(job, result)
    return result


def make_thumbnail(job: AnalysisJob, result: dict) -> str | None:
    """The capture's thumbnail (a video's poster frame), via the admin gallery's cache: its path relative to
    the upload directory (a hidden directory: the admin serves it), or None if none could be made."""
    capture = job.capture or Capture(
        filename=job.filename,
        format=_format_of(job.filename),
        duration_sec=result.get("durationSec") or 0,
    )  # a file that came without a Capture row: describe it the way ensure_thumbnail reads a capture
    thumbnail = ensure_thumbnail(capture)
    return str(thumbnail.relative_to(settings.MEDIA_ROOT)) if thumbnail else None


def recover_orphans(queue: JobQueue) -> list[int]:
    """Queue again the jobs whose worker is gone, and queued jobs that have no message; return their pks."""
    stale_before = timezone.now() - timedelta(seconds=settings.ANALYSIS_STALE_SEC)
    recovered = []
    mine = AnalysisJob.objects.filter(host=settings.CAMSITE_HOST)  # made here: their messages are on our queue
    for job in mine.filter(status=AnalysisJob.Status.RUNNING):
        reason = _orphan_reason(job, stale_before)
        if reason is None:
            continue
        handed_back = AnalysisJob.objects.filter(
            pk=job.pk, status=AnalysisJob.Status.RUNNING, worker=job.worker
        ).update(status=AnalysisJob.Status.QUEUED, worker="", error=reason)
        if handed_back:
            log.warning("analysis job %s: %s; queued again", job.job_id, reason)
            recovered.append(job.pk)
    # A queued row with no message: lost with the queue's storage, or never sent (a crash between the row and
    # the message). Rows younger than a minute may have their message on the way: leave them be.
    waiting = queue.waiting()
    settled = mine.filter(status=AnalysisJob.Status.QUEUED, created_at__lt=timezone.now() - LOST_AFTER)
    for pk in settled.values_list("pk", flat=True):
        if pk not in waiting and pk not in recovered:
            log.warning("analysis job #%d was queued but its message was lost; queued again", pk)
            recovered.append(pk)
    for pk in recovered:
        queue.put(pk)
    return recovered


def _finish(job: AnalysisJob, status: str, *, error: str = "", result: dict | None = None) -> None:
    # Only the worker that holds the job may finish it: if recovery gave it to another worker meanwhile
    # (this one was presumed dead), this one's late answer is dropped.
    with transaction.atomic():  # the outcome and its `analysis.done` event (capture.events) together
        updated = AnalysisJob.objects.filter(pk=job.pk, status=AnalysisJob.Status.RUNNING, worker=job.worker).update(
            status=status, error=error, result=result, finished_at=timezone.now(), worker=""
        )
        if updated:
            events.analysis_finished(job.pk)
    if updated:
        log.info("analysis job %s %s%s", job.job_id, status, f": {error}" if error else "")
    else:
        log.warning("analysis job %s was taken over by another worker; dropping this result", job.job_id)


def _hand_back(job: AnalysisJob, error: str) -> bool:
    return bool(
        AnalysisJob.objects.filter(pk=job.pk, status=AnalysisJob.Status.RUNNING, worker=job.worker).update(
            status=AnalysisJob.Status.QUEUED, error=error, worker=""
        )
    )


def _orphan_reason(job: AnalysisJob, stale_before: datetime) -> str | None:
    host, _, rest = job.worker.partition(":")
    pid_text, _, token = rest.partition(":")
    pid = int(pid_text) if pid_text.isdigit() else None
    if host == HOST and pid == os.getpid():
        with _active_lock:
            if token not in _active_tokens:
                return "Interrupted: this worker stopped running it"
    elif host == HOST and pid is not None and not _process_alive(pid, job.started_at):
        return f"Interrupted: worker process {pid} stopped while running it (crash, kill or restart)"
    if job.started_at and job.started_at < stale_before:
        return f"Interrupted: no answer from worker {host or '?'} after {settings.ANALYSIS_STALE_SEC:g} s"
    return None


def _process_alive(pid: int, since: datetime | None) -> bool:
    """Whether `pid` is a live process that was already running at `since` (not a later one reusing the pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, and someone else's
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        with open("/proc/stat") as proc_stat:
            boot = next(int(line.split()[1]) for line in proc_stat if line.startswith("btime "))
    except (OSError, IndexError, StopIteration, ValueError):
        return True  # no /proc: the pid exists, assume it is the worker
    if stat[0] == "Z":
        return False  # killed, not yet reaped
    started = boot + int(stat[19]) / os.sysconf("SC_CLK_TCK")
    return since is None or started <= since.timestamp() + 1


def _format_of(filename: str) -> str:
    fmt = format_of(filename)
    return fmt.name if fmt else ""
