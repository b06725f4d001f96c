from __future__ import annotations

import copy
import hashlib
import hmac
import logging
import secrets
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core import serializers
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from capture import objects, storage
from capture.errors import CaptureRunning
from capture.formats import FORMATS
from capture.hosts import this_host  # also capture.models.this_host, as migration 0009 names it
from capture.hot_queries import first_row

log = logging.getLogger(__name__)

# A capture or its analyze forward failed: what the status endpoint reports as lastError.
HAS_ERROR = ~models.Q(error="") | ~models.Q(analyze_error="")


class CaptureQuerySet(models.QuerySet):
    """The state questions about one camera of this host, asked the same way by status, summaries and crash
    recovery. Camera 0 of another Pi on the same database is another camera: its rows are never counted here."""

    def on_host(self, host: str | None = None) -> CaptureQuerySet:
        return self.filter(host=host or this_host())

    def for_camera(self, camera: int, host: str | None = None) -> CaptureQuerySet:
        return self.on_host(host).filter(camera_index=camera)

    def running(self, camera: int) -> CaptureQuerySet:
        return self.for_camera(camera).filter(status=Capture.Status.RUNNING)

    # The three below run at every status call or capture: compiled once (capture.hot_queries).

    def last_success_at(self, camera: int) -> datetime | None:
        """When this camera's newest successful capture finished."""
        host = this_host()
        row = first_row(
            ("last_success_at", host, camera),
            lambda: (
                self.for_camera(camera, host)
                .filter(status=Capture.Status.OK)
                .order_by("-finished_at")
                .values_list("finished_at")
            ),
        )
        return row[0] if row else None

    def last_error(self, camera: int) -> tuple[str, datetime | None] | None:
        """The newest capture whose camera or analyzer forward failed: (its error, when it finished)."""
        host = this_host()
        row = first_row(
            ("last_error", host, camera),
            lambda: (
                self.for_camera(camera, host)
                .filter(HAS_ERROR)
                .order_by("-id")
                .values_list("analyze_error", "error", "finished_at")
            ),
        )
        return (row[0] or row[1], row[2]) if row else None

    def any_running(self, camera: int) -> bool:
        host = this_host()
        return first_row(("any_running", host, camera), lambda: self.running(camera).values_list("pk")) is not None


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
        # Its file was gone when reconcile looked (deleted by hand, a restored backup without the files).
        MISSING = "missing"

    class Source(models.TextChoices):
        API = "api"
        API_ANALYZE = "api-analyze"
        CLI = "cli"
        ADMIN = "admin"
        # Second round: a saved snapshot (?save=1), a schedule's frame, an assembled timelapse video.
        SNAPSHOT = "snapshot"
        SCHEDULE = "schedule"
        TIMELAPSE = "timelapse"
        # The "Take a capture" button of Home Assistant's MQTT discovery (capture.events.mqtt).
        MQTT = "mqtt"
        # A file reconcile found in the upload directory without a row, and adopted.
        ADOPTED = "adopted"

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
    # Taken by the camera owner's warm still process (CAMERA_WARM_STILLS): one trigger, no camera start-up.
    warm = models.BooleanField(default=False)

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

    # A schedule's frame: the schedule that took it (kept when the schedule is deleted, unlinked).
    schedule = models.ForeignKey(
        "capture.Schedule", null=True, blank=True, on_delete=models.SET_NULL, related_name="captures"
    )

    # capture-and-analyze: what the analyzer answered.
    analyze_job_id = models.CharField(max_length=100, blank=True)
    analyze_error = models.TextField(blank=True)

    # Retention never deletes a pinned capture (a person still can).
    pinned = models.BooleanField(default=False)

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

    def column_values(self) -> dict[str, object]:
        """A copy of the row's column values, to pass to changed_columns() later."""
        values = {field.attname: getattr(self, field.attname) for field in self._meta.concrete_fields}
        # Only a JSON field's dict or list can change in place; the other values are immutable.
        return {
            name: copy.deepcopy(value) if isinstance(value, dict | list) else value for name, value in values.items()
        }

    def changed_columns(self, before: dict[str, object]) -> list[str]:
        """The columns whose values differ from `before` (column_values()). Saving only these leaves every other
        column as the database has it, and a narrow UPDATE costs less than one of all 35."""
        return [name for name, value in before.items() if getattr(self, name) != value]

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

    def delete_with_files(
        self, *, by: str = "", reason: str = "manual", rule: str = "", purge: bool = False
    ) -> tuple[int, int]:
        """Delete this row (its analysis jobs cascade), then move its file and thumbnails to the trash (or
        remove them, `purge`), recording a Deletion; return the (files, thumbnails) removed. CaptureRunning
        while the capture is being taken: the service still writes the row, and would write it back.

        `by` says who asked (a user, a token's label), `reason` and `rule` why (Deletion.Reason, a rule's label).

        The row goes first. A crash between the two leaves a file with no row (still at /uploads, reconcile
        adopts or trashes it), never a row pointing at a missing file. While the file is on disk its name stays
        taken (publishing never replaces a file), so no new capture can get that name before the file is gone.
        """
        with storage.files_lock():
            deletion = self._delete_row(by=by, reason=reason, rule=rule)
            if deletion is None:
                return 0, 0
            self._delete_objects()
            # Another host's file is on that host: this server's file of the same name is not this capture's.
            if not self.is_local:
                return 0, 0
            return deletion.take_files(self, purge=purge)

    def _delete_objects(self) -> None:
        if self.upload_status in (Capture.Upload.UPLOADED, Capture.Upload.PENDING) and objects.enabled():
            try:
                objects.delete(objects.all_keys(self.host, self.filename))
            except (objects.StorageUnavailable, objects.StorageRefused) as exc:
                # Deleting the row must not wait for a bucket that is away: what stays there is logged.
                log.error("capture #%d deleted, but its objects stay in the bucket: %s", self.pk, exc)

    def _delete_row(self, *, by: str, reason: str, rule: str) -> Deletion | None:
        with transaction.atomic():
            # The row's status in the database decides, not this instance's copy, which may be old.
            current = Capture.objects.filter(pk=self.pk).exclude(status=Capture.Status.RUNNING).first()
            if current is None:
                if Capture.objects.filter(pk=self.pk).exists():
                    raise CaptureRunning(self.pk)
                # Deleted meanwhile by someone else, with its files: the name may already be a new capture's.
                return None
            snapshot = serializers.serialize("json", [current])
            current.delete()
            self.filename, self.size_bytes = current.filename, current.size_bytes
            self.host, self.upload_status = current.host, current.upload_status
            return Deletion.objects.create(
                host=current.host,
                capture_id=self.pk,
                filename=current.filename,
                camera_index=current.camera_index,
                source=current.source,
                format=current.format,
                captured_at=current.requested_at,
                reason=reason,
                rule=rule,
                by=by,
                snapshot=snapshot,
            )


class RetentionRule(models.Model):
    """A retention rule made in the admin, beside the settings' defaults (capture.retention.rules says how
    they combine). A blank camera or source means any."""

    name = models.CharField(max_length=100, help_text="what it is for, e.g. “schedule frames: a week”")
    enabled = models.BooleanField(default=True)
    camera_index = models.PositiveSmallIntegerField(null=True, blank=True, help_text="blank: every camera")
    source = models.CharField(
        max_length=16, choices=Capture.Source.choices, blank=True, help_text="blank: every source"
    )
    max_age_days = models.FloatField(null=True, blank=True, help_text="delete captures older than this")
    max_total_bytes = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="delete the oldest while these captures take more than this"
    )
    min_free_bytes = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="delete the oldest of these captures while the disk has less free; refuse new ones (507) below",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["camera_index", "source", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.max_age_days is None and self.max_total_bytes is None and self.min_free_bytes is None:
            raise ValidationError("Set at least one limit: a maximum age, a maximum total size or a free-space floor.")
        if self.max_age_days is not None and self.max_age_days <= 0:
            raise ValidationError({"max_age_days": "A maximum age must be more than 0 days."})


class DeletionQuerySet(models.QuerySet):
    def on_host(self, host: str | None = None) -> DeletionQuerySet:
        return self.filter(host=host or this_host())

    def in_trash(self) -> DeletionQuerySet:
        """Deletions whose files wait in the trash (restorable), on any host: each host's trash is its own."""
        return self.exclude(trash_key="").filter(purged_at__isnull=True, restored_at__isnull=True)


class Deletion(models.Model):
    """The audit of one deleted capture (or an orphan file): what, when, why or by whom, how many bytes; and
    where its file waits in the trash until it is purged or restored. Rows are never edited by people."""

    class Reason(models.TextChoices):
        MAX_AGE = "max-age"
        MAX_TOTAL = "max-total"
        MIN_FREE = "min-free"
        MANUAL = "manual"
        RECONCILE = "reconcile"

    # The host whose capture (or orphan file) it was: its trash is in that host's upload directory.
    host = models.CharField(max_length=63, default=this_host, db_index=True)
    capture_id = models.PositiveBigIntegerField(null=True, blank=True, db_index=True)  # the row is gone: no FK
    filename = models.CharField(max_length=255, blank=True)
    camera_index = models.PositiveSmallIntegerField(null=True, blank=True)
    source = models.CharField(max_length=16, blank=True)
    format = models.CharField(max_length=8, blank=True)
    captured_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(default=timezone.now, db_index=True)
    reason = models.CharField(max_length=16, choices=Reason.choices)
    rule = models.CharField(max_length=200, blank=True, help_text="the rule that chose it")
    by = models.CharField(max_length=150, blank=True, help_text="who asked: an admin user or an API token")
    size_bytes = models.PositiveBigIntegerField(default=0)
    files = models.PositiveSmallIntegerField(default=0)
    thumbnails = models.PositiveSmallIntegerField(default=0)
    # Where the file waits: UPLOAD_DIR/.trash/<trash_key>/; blank when nothing went to the trash.
    trash_key = models.CharField(max_length=32, blank=True)
    purged_at = models.DateTimeField(null=True, blank=True)
    restored_at = models.DateTimeField(null=True, blank=True)
    restored_by = models.CharField(max_length=150, blank=True)
    # The capture's row as it was (Django's JSON serialization), for a restore.
    snapshot = models.TextField(blank=True, editable=False)

    objects = DeletionQuerySet.as_manager()

    class Meta:
        ordering = ["-deleted_at", "-id"]

    def __str__(self) -> str:
        return f"{self.filename or f'capture #{self.capture_id}'} ({self.reason})"

    @property
    def in_trash(self) -> bool:
        return bool(self.trash_key) and self.purged_at is None and self.restored_at is None

    def take_files(self, capture: Capture, *, purge: bool) -> tuple[int, int]:
        """Move (or remove) the deleted capture's files and record what went; return (files, thumbnails)."""
        # A name can come back once its file is gone (deleted by hand, say): the file is then the newer row's.
        if (
            capture.filename
            and Capture.objects.on_host(capture.host).filter(filename=capture.filename, pk__gt=capture.pk).exists()
        ):
            return 0, 0
        if purge or settings.TRASH_RETENTION_DAYS == 0:
            removed = storage.remove_capture_files(capture)
            self.purged_at = timezone.now()
        else:
            self.trash_key = str(self.pk)
            removed = storage.trash_capture_files(capture, self.trash_key)
            if not removed.files and not removed.thumbnails:
                self.trash_key = ""
        self.files, self.thumbnails, self.size_bytes = removed.files, removed.thumbnails, removed.size_bytes
        self.save(update_fields=["files", "thumbnails", "size_bytes", "trash_key", "purged_at"])
        return removed.files, removed.thumbnails


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


class Event(models.TextChoices):
    """What the server tells webhooks and MQTT about (capture.events)."""

    CAPTURE_FINISHED = "capture.finished"
    CAPTURE_FAILED = "capture.failed"
    ANALYSIS_DONE = "analysis.done"


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


class Webhook(models.Model):
    """A URL that gets a signed POST for each event it subscribes to (capture.events.webhooks)."""

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(max_length=1000, verbose_name="URL")
    events = models.JSONField(default=list)
    # The receiver checks X-Camsite-Signature with it (README, "Webhooks"). Stored as is: HMAC needs it.
    secret = models.CharField(max_length=200, default=new_webhook_secret)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class EventDeliveryQuerySet(models.QuerySet):
    def due(self) -> EventDeliveryQuerySet:
        return self.filter(status=EventDelivery.Status.PENDING, next_attempt_at__lte=timezone.now())


class EventDelivery(models.Model):
    """The outbox: one row per event and destination (a webhook, or the MQTT broker), written with the outcome
    it tells of. The row is the truth; the task queue only carries "deliver row N" (capture.events.outbox)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        DELIVERED = "delivered"
        FAILED = "failed"

    class Target(models.TextChoices):
        WEBHOOK = "webhook"
        MQTT = "mqtt"

    event_id = models.UUIDField(default=uuid.uuid4, db_index=True, verbose_name="event id")
    event = models.CharField(max_length=32, choices=Event.choices)
    target = models.CharField(max_length=8, choices=Target.choices)
    webhook = models.ForeignKey(Webhook, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries")
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # Who is sending it now ("host:pid"), and since when: recovery takes back a dead worker's rows.
    worker = models.CharField(max_length=200, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    objects = EventDeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "event deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due")]

    def __str__(self) -> str:
        return f"{self.event} to {self.webhook or self.target} ({self.status})"


# Schedules and timelapse jobs live in their own module; importing them here makes them this app's models.
from capture.schedules.models import Schedule, TimelapseJob  # noqa: E402, F401
