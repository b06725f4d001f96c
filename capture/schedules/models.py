"""Schedules (captures the server takes on its own) and timelapse jobs (their frames made into a video).

Imported by capture.models, so they are the `capture` app's models like the rest.
"""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from capture.formats import FORMATS
from capture.hosts import this_host
from capture.schedules.timing import When, next_run


class Schedule(models.Model):
    """A camera, the capture parameters (validated as a capture's: capture.schedules.body) and when to run.

    `next_run_at` is the truth about the next frame: a frame task takes its slot by moving next_run_at on in
    one conditional UPDATE (capture.schedules.runner), so duplicate messages, restarts and several workers
    never take a frame twice. Null means nothing is due: disabled, finished, or no run to be found."""

    class Kind(models.TextChoices):
        INTERVAL = "interval"
        CRON = "cron"
        DAYLIGHT = "daylight"

    name = models.CharField(max_length=100, blank=True)
    # The server whose camera takes the frames (CAMSITE_HOST where it was made): only that host's worker runs it.
    host = models.CharField(max_length=63, default=this_host, db_index=True)
    camera_index = models.PositiveSmallIntegerField(default=0)
    # The capture parameters, as a capture row keeps them.
    format = models.CharField(max_length=8, choices=[(name, fmt.label) for name, fmt in FORMATS.items()])
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    fps = models.PositiveIntegerField()
    duration_sec = models.FloatField()
    # Only the controls given (API names); the camera's configured defaults apply at each frame.
    controls = models.JSONField(default=dict, blank=True)

    # When.
    every_sec = models.PositiveIntegerField(null=True, blank=True, help_text="interval, also inside a daylight window")
    cron = models.CharField(max_length=100, blank=True, help_text="a cron expression, in TIME_ZONE")
    daylight = models.BooleanField(default=False, help_text="only between sunrise and sunset (LATITUDE, LONGITUDE)")
    sunrise_offset_min = models.SmallIntegerField(default=0)
    sunset_offset_min = models.SmallIntegerField(default=0)
    start_at = models.DateTimeField(null=True, blank=True)
    end_at = models.DateTimeField(null=True, blank=True)
    count = models.PositiveIntegerField(null=True, blank=True, help_text="runs at most, then the schedule ends")
    enabled = models.BooleanField(default=True)

    # State and counters.
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)
    runs = models.PositiveIntegerField(default=0, help_text="slots taken (a frame started), counted against count")
    frames_taken = models.PositiveIntegerField(default=0)
    frames_failed = models.PositiveIntegerField(default=0)
    frames_missed = models.PositiveIntegerField(default=0, help_text="skipped: the worker was down, or camera busy")
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name or f"schedule #{self.pk}"

    @property
    def kind(self) -> str:
        return self.Kind.CRON if self.cron else self.Kind.DAYLIGHT if self.daylight else self.Kind.INTERVAL

    @property
    def when(self) -> When:
        return When(
            anchor=self.start_at or self.created_at,
            tz=zoneinfo.ZoneInfo(settings.TIME_ZONE),
            every_sec=self.every_sec,
            cron=self.cron,
            daylight=self.daylight,
            sunrise_offset_min=self.sunrise_offset_min,
            sunset_offset_min=self.sunset_offset_min,
            latitude=settings.LATITUDE,
            longitude=settings.LONGITUDE,
            start_at=self.start_at,
            end_at=self.end_at,
        )

    @property
    def finished(self) -> bool:
        return self.count is not None and self.runs >= self.count

    def first_run(self, now: datetime | None = None) -> datetime | None:
        """The next run from now on (for a new, changed or re-enabled schedule), or None."""
        if not self.enabled or self.finished:
            return None
        return next_run(self.when, now or timezone.now(), inclusive=True)

    @property
    def capture_body(self) -> dict:
        """The capture's API body (capture.camera.params validates it again at each frame)."""
        return {
            "camera": self.camera_index,
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "durationSec": self.duration_sec,
            **self.controls,
        }


class TimelapseJob(models.Model):
    """One timelapse: frames (a schedule's, or a selection of captures) assembled into an MP4 by ffmpeg in the
    job queue. Like AnalysisJob, the state lives here and the queue only says "run job N"."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    job_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, verbose_name="job id")
    # The server whose frames (and worker, and disk) make the video.
    host = models.CharField(max_length=63, default=this_host, db_index=True)
    schedule = models.ForeignKey(Schedule, null=True, blank=True, on_delete=models.SET_NULL, related_name="timelapses")
    # The frames, in order (capture ids): fixed when the job is made, so frames taken later don't join in.
    frame_ids = models.JSONField(default=list)
    fps = models.PositiveSmallIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    frames_done = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    result = models.ForeignKey(
        "capture.Capture", null=True, blank=True, on_delete=models.SET_NULL, related_name="timelapse_jobs"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"timelapse of {len(self.frame_ids)} frames ({self.status})"

    @property
    def frames(self) -> int:
        return len(self.frame_ids)

    @property
    def progress(self) -> float:
        return round(min(1.0, self.frames_done / self.frames), 3) if self.frames else 0.0
