from __future__ import annotations

import uuid
from pathlib import Path

from django.conf import settings
from django.db import models
from django.utils import timezone

from capture import storage
from capture.errors import CaptureRunning
from capture.formats import FORMATS

# A capture or its analyze forward failed: what the status endpoint reports as lastError.
HAS_ERROR = ~models.Q(error="") | ~models.Q(analyze_error="")


class CaptureQuerySet(models.QuerySet):
    """The state questions about one camera, asked the same way by status, summaries and crash recovery."""

    def for_camera(self, camera: int) -> CaptureQuerySet:
        return self.filter(camera_index=camera)

    def running(self, camera: int) -> CaptureQuerySet:
        return self.filter(camera_index=camera, status=Capture.Status.RUNNING)

    def last_success(self, camera: int) -> Capture | None:
        return self.filter(camera_index=camera, status=Capture.Status.OK).order_by("-finished_at").first()

    def last_error(self, camera: int) -> Capture | None:
        """The newest capture whose camera or analyzer forward failed."""
        return self.filter(HAS_ERROR, camera_index=camera).order_by("-id").first()


class Capture(models.Model):
    """One row for every capture that reached the camera, whatever its outcome."""

    # The formats' table (capture.formats) is the truth; the database keeps their names.
    Format = models.TextChoices("Format", [(fmt.name.upper(), (fmt.name, fmt.label)) for fmt in FORMATS.values()])

    class Status(models.TextChoices):
        RUNNING = "running"
        OK = "ok"
        FAILED = "failed"
        TIMEOUT = "timeout"
        INTERRUPTED = "interrupted"

    class Source(models.TextChoices):
        API = "api"
        API_ANALYZE = "api-analyze"
        CLI = "cli"
        ADMIN = "admin"

    # Parameters, as validated.
    format = models.CharField(max_length=8, choices=Format.choices)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    fps = models.PositiveIntegerField()
    duration_sec = models.FloatField()
    requested_filename = models.CharField(max_length=255, blank=True)
    camera_index = models.PositiveSmallIntegerField(default=0)
    # The camera controls used, by their API names (the request's over the camera's configured defaults).
    controls = models.JSONField(default=dict, blank=True)

    # Outcome. `filename` is the name actually used, set only once the file is published.
    filename = models.CharField(max_length=255, blank=True, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING, db_index=True)
    error = models.TextField(blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.API)
    backend = models.CharField(max_length=16)
    size_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    # The file's real pixel size: the camera may round what was asked (641x479 became 640x478).
    file_width = models.PositiveIntegerField(null=True, blank=True)
    file_height = models.PositiveIntegerField(null=True, blank=True)
    # What the camera reported about the shot (rpicam-still --metadata): ExposureTime, AnalogueGain, Lux, ...
    metadata = models.JSONField(null=True, blank=True)
    # Each command run: {"argv": [...], "exitCode": int|null, "ms": int, "stdout": tail, "stderr": tail}.
    commands = models.JSONField(default=list, blank=True)

    # Timing.
    requested_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    camera_ms = models.PositiveIntegerField(null=True, blank=True)
    remux_ms = models.PositiveIntegerField(null=True, blank=True)
    total_ms = models.PositiveIntegerField(null=True, blank=True)

    # capture-and-analyze: what the analyzer answered.
    analyze_job_id = models.CharField(max_length=100, blank=True)
    analyze_error = models.TextField(blank=True)

    objects = CaptureQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [
            models.Index(fields=["-requested_at", "-id"], name="capture_newest_first"),
            # The status endpoint's two lookups (last success, last error) stay index-only as history grows.
            models.Index(fields=["camera_index", "status", "-finished_at"], name="capture_camera_last_by_status"),
            models.Index(fields=["camera_index", "-id"], condition=HAS_ERROR, name="capture_camera_with_error"),
        ]

    def __str__(self) -> str:
        return self.filename or f"capture #{self.pk} ({self.status})"

    @property
    def path(self) -> Path | None:
        return settings.MEDIA_ROOT / self.filename if self.filename else None

    @property
    def url(self) -> str | None:
        return f"{settings.MEDIA_URL}{self.filename}" if self.filename else None

    def delete_with_files(self) -> tuple[int, int]:
        """Delete this row (its analysis jobs cascade), then its file and thumbnails; return the (files,
        thumbnails) removed. CaptureRunning while the capture is being taken: the service still writes the
        row, and would write it back.

        The row goes first. A crash between the two leaves a file with no row (still at /uploads, easy to
        find and remove), never a row pointing at a missing file, and what is left over is only what the user
        asked to delete. While the file is on disk its name stays taken (publishing never replaces a file), so
        no new capture can get that name before the file is gone.
        """
        # The row's status in the database decides, not this instance's copy, which may be old.
        _, deleted = Capture.objects.filter(pk=self.pk).exclude(status=Capture.Status.RUNNING).delete()
        if not deleted.get(Capture._meta.label):
            if Capture.objects.filter(pk=self.pk).exists():
                raise CaptureRunning(self.pk)
            # Deleted meanwhile by someone else, with its files: the name may already be a new capture's.
            return 0, 0
        # A name can come back once its file is gone (deleted by hand, say): the file is then the newer row's.
        if self.filename and Capture.objects.filter(filename=self.filename, pk__gt=self.pk).exists():
            return 0, 0
        return storage.delete_capture_files(self)


class AnalysisJob(models.Model):
    """One analysis of one finished upload (POST /api/analyze). The state lives here, not in the task queue:
    the queue only says "look at job N", so a worker that dies mid-job loses nothing (capture.analysis.jobs)."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    job_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, verbose_name="job id")
    # The capture whose file this is; null for a file that reached /uploads some other way.
    capture = models.ForeignKey(Capture, null=True, blank=True, on_delete=models.CASCADE, related_name="analysis_jobs")
    filename = models.CharField(max_length=255, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Attempts started so far, counting one whose worker died; a job that keeps killing workers still ends.
    attempts = models.PositiveSmallIntegerField(default=0)
    # Who runs it now ("host:pid:token"): recovery tells a dead worker's job from a live one's by this.
    worker = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    result = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"analysis of {self.filename} ({self.status})"

    @property
    def path(self) -> Path:
        return settings.MEDIA_ROOT / self.filename
