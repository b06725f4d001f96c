from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import models
from django.utils import timezone

from capture import objects, storage
from capture.errors import CaptureRunning
from capture.formats import FORMATS

log = logging.getLogger(__name__)

# A capture or its analyze forward failed: what the status endpoint reports as lastError.
HAS_ERROR = ~models.Q(error="") | ~models.Q(analyze_error="")


def this_host() -> str:
    """The host this process speaks for (CAMSITE_HOST): the default `host` of every row it makes.

    Rows carry their host so that several Pis and a central server can share one database. A model added later
    that a Pi acts on by itself (a Schedule) records its host the same way, and each Pi runs only its own."""
    return settings.CAMSITE_HOST


class CaptureQuerySet(models.QuerySet):
    """The state questions about one camera of this host, asked the same way by status, summaries and crash
    recovery. Camera 0 of another Pi on the same database is another camera: its rows are never counted here."""

    def on_host(self, host: str | None = None) -> CaptureQuerySet:
        return self.filter(host=host or this_host())

    def for_camera(self, camera: int, host: str | None = None) -> CaptureQuerySet:
        return self.on_host(host).filter(camera_index=camera)

    def running(self, camera: int) -> CaptureQuerySet:
        return self.for_camera(camera).filter(status=Capture.Status.RUNNING)

    def last_success(self, camera: int) -> Capture | None:
        return self.for_camera(camera).filter(status=Capture.Status.OK).order_by("-finished_at").first()

    def last_error(self, camera: int) -> Capture | None:
        """The newest capture whose camera or analyzer forward failed."""
        return self.for_camera(camera).filter(HAS_ERROR).order_by("-id").first()


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
        # Second round: a saved snapshot (?save=1), a schedule's frame, an assembled timelapse video.
        SNAPSHOT = "snapshot"
        SCHEDULE = "schedule"
        TIMELAPSE = "timelapse"

    # Parameters, as validated.
    format = models.CharField(max_length=8, choices=Format.choices)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    fps = models.PositiveIntegerField()
    duration_sec = models.FloatField()
    requested_filename = models.CharField(max_length=255, blank=True)
    # The server that took it (CAMSITE_HOST); its camera_index and filename are that host's. (Indexed first in
    # the status indexes below, which serve `?host=` too.)
    host = models.CharField(max_length=63, default=this_host)
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

    # Object storage (STORAGE_BACKEND=s3): "" (local storage only), pending (queued for upload), uploaded, failed.
    class Upload(models.TextChoices):
        NONE = "", "local only"
        PENDING = "pending"
        UPLOADED = "uploaded"
        FAILED = "failed"

    upload_status = models.CharField(max_length=16, choices=Upload.choices, default=Upload.NONE, blank=True)
    upload_error = models.TextField(blank=True)
    upload_attempts = models.PositiveSmallIntegerField(default=0)
    uploaded_at = models.DateTimeField(null=True, blank=True)

    # capture-and-analyze: what the analyzer answered.
    analyze_job_id = models.CharField(max_length=100, blank=True)
    analyze_error = models.TextField(blank=True)

    objects = CaptureQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [
            models.Index(fields=["-requested_at", "-id"], name="capture_newest_first"),
            # The status endpoint's two lookups (last success, last error) stay index-only as history grows.
            models.Index(fields=["host", "camera_index", "status", "-finished_at"], name="capture_host_camera_status"),
            models.Index(fields=["host", "camera_index", "-id"], condition=HAS_ERROR, name="capture_host_camera_error"),
        ]

    def __str__(self) -> str:
        return self.filename or f"capture #{self.pk} ({self.status})"

    @property
    def is_local(self) -> bool:
        """Whether this server took it, so its file (if any) is in this server's upload directory."""
        return self.host == this_host()

    @property
    def path(self) -> Path | None:
        """The file in this server's upload directory; None for another host's capture (a name there may be
        an unrelated file of this server's)."""
        return settings.MEDIA_ROOT / self.filename if self.filename and self.is_local else None

    @property
    def media_name(self) -> str:
        """The name under /uploads: the file name for this server's captures, `<host>/<file name>` for another
        host's (served from object storage), since names are unique per host only."""
        if not self.filename:
            return ""
        return self.filename if self.is_local else f"{self.host}/{self.filename}"

    @property
    def url(self) -> str | None:
        return f"{settings.MEDIA_URL}{self.media_name}" if self.filename else None

    @property
    def in_bucket(self) -> bool:
        return self.upload_status == Capture.Upload.UPLOADED

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
        if self.upload_status in (Capture.Upload.UPLOADED, Capture.Upload.PENDING) and objects.enabled():
            try:
                objects.delete(objects.all_keys(self.host, self.filename))
            except (objects.StorageUnavailable, objects.StorageRefused) as exc:
                # Deleting the row must not wait for a bucket that is away: what stays there is logged.
                log.error("capture #%d deleted, but its objects stay in the bucket: %s", self.pk, exc)
        # Another host's file is on that host: this server's file of the same name is not this capture's.
        if not self.is_local:
            return 0, 0
        # A name can come back once its file is gone (deleted by hand, say): the file is then the newer row's.
        if self.filename and Capture.objects.on_host(self.host).filter(filename=self.filename, pk__gt=self.pk).exists():
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
    # The server that queued it (CAMSITE_HOST), whose queue has its message and whose worker recovers it. The
    # file is its capture's host's (or this host's, without a capture): capture.analysis.jobs.runnable_here().
    host = models.CharField(max_length=63, default=this_host, db_index=True)
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


class ApiTokenQuerySet(models.QuerySet):
    def create_with_secret(self, label: str, scopes: list[str]) -> tuple[ApiToken, str]:
        """A new token and its secret, which is shown once and never stored (only its hash is)."""
        token = self.model(label=label, scopes=scopes)
        secret = token.assign_secret()
        token.save(force_insert=True)
        return token, secret

    def revoke(self) -> int:
        return self.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())

    def find(self, secret: str) -> ApiToken | None:
        """The live (not revoked) token with this secret. Looked up by the secret's hash, so the database
        never compares the secret itself, and the hashes are compared in constant time."""
        digest = hash_secret(secret)
        token = self.filter(secret_hash=digest, revoked_at__isnull=True).first()
        return token if token is not None and hmac.compare_digest(token.secret_hash, digest) else None


def hash_secret(secret: str) -> str:
    # A plain SHA-256 is enough: the secrets are 256 random bits, so there is nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiToken(models.Model):
    """A credential for the API and /uploads, with the scopes it may use (capture.tokens checks them)."""

    class Scope(models.TextChoices):
        CAPTURE = "capture", "capture: take captures, capture-and-analyze, analyze"
        READ = "read", "read: status, cameras, history, files, analysis results"
        STREAM = "stream", "stream: preview and snapshots"
        MANAGE = "manage", "manage: delete captures"

    LAST_USED_RESOLUTION = timedelta(minutes=1)

    label = models.CharField(max_length=100, unique=True)
    scopes = models.JSONField(default=list)
    # The secret's first 8 of 43 characters: recognises a token in a list without revealing it.
    prefix = models.CharField(max_length=8, editable=False)
    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["label"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return self.label

    def assign_secret(self) -> str:
        """Give this new, unsaved token a secret; return it (the caller shows it once, nothing keeps it)."""
        secret = secrets.token_urlsafe(32)
        self.prefix, self.secret_hash = secret[:8], hash_secret(secret)
        self.scopes = sorted(set(self.scopes))
        return secret

    def revoke(self) -> None:
        ApiToken.objects.filter(pk=self.pk).revoke()
        self.refresh_from_db(fields=["revoked_at"])

    def touch(self) -> None:
        """Record a use, at most once a minute, so reads don't write the database on every request."""
        if self.pk is None:  # AUTH_TOKEN, which has no row
            return
        now = timezone.now()
        if self.last_used_at is not None and now - self.last_used_at < self.LAST_USED_RESOLUTION:
            return
        recent = models.Q(last_used_at__gte=now - self.LAST_USED_RESOLUTION)
        ApiToken.objects.filter(pk=self.pk).exclude(recent).update(last_used_at=now)
        self.last_used_at = now
