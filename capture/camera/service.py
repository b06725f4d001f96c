"""The capture service: the only code that runs the camera.

The API, the admin and the `capture` management command all call CaptureService.capture(). It takes the
dual camera lock, runs the backend, publishes the file under a name that never overwrites another, writes
the Capture row, and releases the lock, on every path.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from capture import events, offload, storage
from capture.camera import warm
from capture.camera.budget import camera_timeout, capture_budget
from capture.camera.lock import CameraLease
from capture.camera.preview import yield_camera
from capture.camera.registry import MAX_CAMERA_INDEX, Camera, get_camera
from capture.camera.request import CaptureRequest
from capture.errors import AnalyzeFailed, CameraBusy, CaptureError, CaptureFailed, CaptureTimeout
from capture.filenames import default_filename
from capture.hot_queries import insert_row
from capture.lib import http
from capture.lib.media_size import pixel_size
from capture.lib.runner import CommandError, CommandFailed, CommandTimeout, run_command
from capture.links import file_url, uploads_protected
from capture.models import Capture
from capture.retention import apply as retention
from capture.upload_tasks import queue_upload

log = logging.getLogger(__name__)


class CaptureService:
    def capture(self, request: CaptureRequest, source: str, *, schedule_id: int | None = None) -> Capture:
        """Take one capture; raise CameraBusy (409), InsufficientStorage (507), CaptureTimeout (504) or
        CaptureFailed (500). `schedule_id`: the schedule whose frame this is (its row links to it)."""
        camera = get_camera(request.camera)
        storage.check_upload_dir()
        # Before the lock and the camera: a capture that would not fit is a 507 that never touched the camera.
        retention.before_capture(request, source)
        if warm.eligible(camera, request):
            row = warm.take_warm(camera, request, source, schedule_id)
            if row is not None:
                return self._finished(row)
        try:
            return self._capture(camera, request, source, schedule_id)
        except CaptureFailed:
            # A camera that was unplugged (or came back) makes captures fail: look again, now that it's free.
            if camera.backend.static_detection() is None:
                camera.shared_detection.refresh_in_background()
            raise

    def _capture(self, camera: Camera, request: CaptureRequest, source: str, schedule_id: int | None) -> Capture:
        requested_at = timezone.now()
        started = time.monotonic()
        backend = camera.backend
        lease = camera.lock.acquire(
            ttl_sec=capture_budget(request, simulated=backend.simulated),
            # A live preview steps aside; otherwise this costs nothing (only a busy lock is looked at).
            preempt=yield_camera(camera),
            preempt_wait_sec=settings.PREVIEW_YIELD_SEC,
        )
        with lease:
            _recover_interrupted(request.camera)
            row = Capture(
                format=request.format,
                width=request.width,
                height=request.height,
                fps=request.fps,
                duration_sec=request.duration_sec,
                requested_filename=request.filename,
                camera_index=request.camera,
                controls=request.controls,
                source=source,
                schedule_id=schedule_id,
                backend=backend.name,
                requested_at=requested_at,
                started_at=timezone.now(),
            )
            insert_row(row)
            inserted = row.column_values()
            # Written to the lock's record with the camera's process group when the camera starts: one write.
            lease.holder.captureId = row.pk
            session = _Session(lease, row, request, simulated=backend.simulated)
            try:
                output = session.temp_path(request.kind.extension)
                row.metadata = backend.capture(request, output, session)
                self._publish(row, request, output)
            except CommandTimeout as exc:
                row.status, row.error = Capture.Status.TIMEOUT, f"Command timeout: {exc}"
                raise CaptureTimeout(row.error, capture=row) from exc
            except CommandFailed as exc:
                row.status, row.error = Capture.Status.FAILED, f"Capture failed: {exc}"
                if storage.upload_dir_full():
                    # The app's own message ("failed to open file", an ffmpeg write error) hides the cause.
                    row.error = f"Upload directory {settings.MEDIA_ROOT} is full (no space left on device). {row.error}"
                raise CaptureFailed(row.error, capture=row) from exc
            except CaptureError as exc:
                row.status, row.error = Capture.Status.FAILED, str(exc.detail)
                exc.capture = row
                raise
            except OSError as exc:
                # The upload directory is full, read-only or gone.
                row.status = Capture.Status.FAILED
                row.error = f"Could not store the capture in {settings.MEDIA_ROOT}: {exc.strerror or exc}"
                raise CaptureFailed(row.error, capture=row) from exc
            except BaseException:
                # Ctrl-C / SIGTERM in the CLI: the runner already stopped the camera.
                row.status, row.error = Capture.Status.INTERRUPTED, "Capture interrupted"
                raise
            finally:
                session.remove_partials()
                row.commands = session.commands
                row.camera_ms = session.camera_ms
                row.remux_ms = session.remux_ms
                row.finished_at = timezone.now()
                row.total_ms = round((time.monotonic() - started) * 1000)
                # The changed columns, and the event's outbox rows in the same transaction if it has a destination.
                events.save_capture_outcome(row, saved=inserted)
        return self._finished(row)

    def _finished(self, row: Capture) -> Capture:
        """What every stored capture gets once the camera is released, cold or warm."""
        log.info(
            "capture #%d %s%s: %s (%s bytes, %d ms)",
            row.pk,
            row.status,
            " (warm)" if row.warm else "",
            row.filename,
            row.size_bytes,
            row.total_ms,
        )
        if row.upload_status == Capture.Upload.PENDING:
            queue_upload(row)  # the worker copies it to the bucket
        return row

    def _publish(self, row: Capture, request: CaptureRequest, output: Path) -> None:
        size = output.stat().st_size if output.exists() else 0
        if size == 0:
            raise CaptureFailed("The camera finished without writing a file")
        wanted = request.filename or default_filename(
            datetime.now(), request.width, request.height, request.fps, request.duration_sec, request.kind.extension
        )
        # The camera may round an odd size (641x479 became 640x478): record what the file really is.
        row.file_width, row.file_height = pixel_size(output) or (None, None)
        row.filename = storage.publish(output, wanted)
        row.size_bytes = size
        row.status = Capture.Status.OK
        offload.mark_pending(row)

    def forward_to_analyzer(self, row: Capture, absolute_url: str) -> str:
        """Send the capture to ANALYZE_URL (after the camera is released); record and return the jobId."""
        payload = {"filename": row.filename, "path": row.url, "captureId": row.pk, "url": absolute_url}
        try:
            answer = http.post_json(
                settings.ANALYZE_URL,
                payload,
                timeout=settings.ANALYZE_TIMEOUT_SEC,
                bearer_token=settings.AUTH_TOKEN,
            )
            job_id = answer.get("jobId", answer.get("id"))
            if job_id in (None, ""):
                raise http.TransportError("the analyzer's answer has no jobId")
        except http.TransportError as exc:
            row.analyze_error = f"Analyze request failed: {exc}"
            row.save(update_fields=["analyze_error"])
            raise AnalyzeFailed(row.analyze_error, capture=row) from exc
        row.analyze_job_id = str(job_id)
        row.save(update_fields=["analyze_job_id"])
        return row.analyze_job_id


def refuse_if_busy(body: object) -> None:
    """CameraBusy (409) before the full validation, when the camera the body names is capturing now.

    A busy camera is what polling clients meet most, so that answer costs a read of the lock's record and no
    more; everything else is checked after (a bad body for a free camera is still a 400). A preview holds
    the camera pre-emptibly, so it is not busy: the capture makes it yield."""
    index = body.get("camera", settings.CAMERA_INDEX) if isinstance(body, dict) else settings.CAMERA_INDEX
    if isinstance(index, int) and not isinstance(index, bool) and 0 <= index <= MAX_CAMERA_INDEX:
        holder = get_camera(index).lock.peek()
        # Only a live holder counts: a camera group a killed holder left is the full path's to clean up.
        if holder is not None and holder.busy and holder.is_held():
            raise CameraBusy()


def captured(row: Capture, request: HttpRequest | None = None) -> dict:
    """The answer to a capture (API and `manage.py capture --json`): the seed's `{ok, filename, url}` plus
    the camera and what the file really is. `request`: the API request it answers."""
    return {
        "ok": True,
        "filename": row.filename,
        "url": file_url(row.filename, protected=uploads_protected(request)),
        "camera": row.camera_index,
        "width": row.file_width or row.width,
        "height": row.file_height or row.height,
        "sizeBytes": row.size_bytes,
        "metadata": row.metadata,
    }


class _Session:
    """What a backend may do while it holds the camera: make temporary files and run commands."""

    def __init__(self, lease: CameraLease, row: Capture, request: CaptureRequest, *, simulated: bool) -> None:
        self.lease = lease
        self.simulated = simulated
        self.row = row
        self.request = request
        self.commands: list[dict] = []
        self.camera_ms: int | None = None
        self.remux_ms: int | None = None
        self._partials: list[Path] = []

    def temp_path(self, extension: str) -> Path:
        path = storage.partial_path(self.row.pk, len(self._partials), extension)
        self._partials.append(path)
        return path

    def run_camera(self, argv: Sequence[str], *, stop_signals: Sequence[int]) -> None:
        timeout = camera_timeout(self.request, simulated=self.simulated)
        self.camera_ms = (self.camera_ms or 0) + self._run(
            argv,
            timeout,
            stop_signals,
            # The camera process shares the lock's open file, so the lock is held while it really runs.
            pass_fds=(self.lease.fd,),
            on_start=lambda pid: self.lease.update(cameraPgid=pid),
        )

    def run_remux(self, argv: Sequence[str]) -> None:
        self.remux_ms = (self.remux_ms or 0) + self._run(argv, settings.REMUX_TIMEOUT_SEC, [signal.SIGTERM])

    def _run(self, argv: Sequence[str], timeout: float, stop_signals: Sequence[int], **kwargs) -> int:
        try:
            result = run_command(
                argv,
                timeout=timeout,
                stop_signals=stop_signals,
                kill_grace=settings.CAMERA_KILL_GRACE_SEC,
                cwd=settings.MEDIA_ROOT,
                **kwargs,
            )
        except CommandError as exc:
            self.commands.append(exc.result.as_record())
            raise
        self.commands.append(result.as_record())
        return result.ms

    def remove_partials(self) -> None:
        for path in self._partials:
            path.unlink(missing_ok=True)


def _recover_interrupted(camera: int) -> None:
    """Rows still `running` while we hold this camera's lock belong to a holder that died (a killed worker,
    a reboot): mark them interrupted and delete their partial files."""
    if not Capture.objects.any_running(camera):
        return  # the usual case, asked at the cost of the query alone
    orphans = list(Capture.objects.running(camera))
    for row in orphans:
        storage.remove_partials(row.pk)
        row.status = Capture.Status.INTERRUPTED
        row.error = "Interrupted: the process running this capture stopped (crash, kill or reboot)"
        row.finished_at = timezone.now()
        row.save(update_fields=["status", "error", "finished_at"])
        log.warning("capture #%d was interrupted by a crash; marked and cleaned up", row.pk)
