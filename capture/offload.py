"""Copying finished captures to object storage (STORAGE_BACKEND=s3), and finding them there again.

The capture service publishes the file locally as always and marks the row `pending`; the host's own worker
then runs upload() (capture.upload_tasks queues it on that host's queue, since the file is only there). An
unreachable bucket is retried with a doubling delay, STORAGE_UPLOAD_MAX_ATTEMPTS times; a bucket that refuses
the write fails the upload at once with the bucket's answer on the row. Either way the local file stays until
the bucket has it, so nothing is lost: the capture is still served from the Pi meanwhile. After the upload,
STORAGE_LOCAL_COPY=none removes the local copy (file and thumbnails).

Readers (the analyzer, /uploads, the admin's thumbnails) ask local_file() first and the bucket second.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from capture import objects, storage
from capture.models import Capture

log = logging.getLogger(__name__)


class RetryLater(Exception):
    def __init__(self, message: str, delay: float) -> None:
        super().__init__(message)
        self.delay = delay


def wanted(row: Capture) -> bool:
    """Whether this finished capture goes to the bucket."""
    return objects.enabled() and row.status == Capture.Status.OK and bool(row.filename)


def mark_pending(row: Capture) -> None:
    """Mark a finished capture (not saved yet) for the upload the service queues once the camera is free."""
    if wanted(row):
        row.upload_status = Capture.Upload.PENDING


def upload(pk: int) -> None:
    """Upload this host's capture `pk` with its thumbnails. RetryLater while the bucket is unreachable."""
    row = Capture.objects.on_host().filter(pk=pk, upload_status=Capture.Upload.PENDING).first()
    if row is None:
        log.info("capture #%d: no upload pending on this host (done, deleted, or another host's)", pk)
        return
    path = row.path
    if path is None or not path.is_file():
        _fail(row, f"The local file {row.filename} is gone: nothing to upload")
        return
    Capture.objects.filter(pk=pk).update(upload_attempts=F("upload_attempts") + 1)
    row.refresh_from_db(fields=["upload_attempts"])
    try:
        objects.put(path, objects.key(row.host, row.filename))
        for size in storage.THUMBNAIL_SIZES:
            thumbnail = _thumbnail(row, size)
            if thumbnail is not None:
                objects.put(thumbnail, objects.thumbnail_key(row.host, row.filename, size))
    except objects.StorageRefused as exc:
        _fail(row, f"Upload failed: {exc}. The file is kept on {row.host}.")
        return
    except objects.StorageUnavailable as exc:
        if row.upload_attempts >= settings.STORAGE_UPLOAD_MAX_ATTEMPTS:
            _fail(row, f"Upload failed after {row.upload_attempts} attempts: {exc}. The file is kept on {row.host}.")
            return
        delay = settings.STORAGE_UPLOAD_RETRY_DELAY_SEC * 2 ** (row.upload_attempts - 1)
        message = f"Upload attempt {row.upload_attempts} failed: {exc}; retrying in {delay:g} s"
        Capture.objects.filter(pk=pk).update(upload_error=message)
        log.warning("capture #%d: %s", pk, message)
        raise RetryLater(message, delay) from exc
    Capture.objects.filter(pk=pk, upload_status=Capture.Upload.PENDING).update(
        upload_status=Capture.Upload.UPLOADED, upload_error="", uploaded_at=timezone.now()
    )
    log.info("capture #%d uploaded to %s", pk, objects.location(objects.key(row.host, row.filename)))
    if settings.STORAGE_LOCAL_COPY == "none":
        storage.delete_capture_files(row)


def _thumbnail(row: Capture, size: str) -> Path | None:
    from capture.thumbnails import ensure_thumbnail  # thumbnails runs ffmpeg; imported only by the worker

    return ensure_thumbnail(row, size)


def _fail(row: Capture, error: str) -> None:
    Capture.objects.filter(pk=row.pk).update(upload_status=Capture.Upload.FAILED, upload_error=error)
    log.error("capture #%d: %s", row.pk, error)


def local_file(row: Capture) -> Path | None:
    """The capture's file in this server's upload directory, if it is there."""
    path = row.path
    return path if path is not None and path.is_file() else None


def readable(row: Capture) -> bool:
    """Whether this server can read the capture's file: here, or in the bucket (or on its way there)."""
    if local_file(row) is not None:
        return True
    return objects.enabled() and row.upload_status in (Capture.Upload.UPLOADED, Capture.Upload.PENDING)


class UploadPending(Exception):
    """The file is only on its host for now: its upload is queued."""


@contextmanager
def reading(row: Capture) -> Iterator[Path]:
    """A local path to the capture's file for as long as the block runs: the file itself when it is here, else
    a hidden temporary copy from the bucket. UploadPending while it is on its way; objects errors otherwise."""
    path = local_file(row)
    if path is not None:
        yield path
        return
    if not objects.enabled():
        raise objects.NotInBucket(f"{row.filename} is not in this server's upload directory")
    if row.upload_status == Capture.Upload.PENDING:
        raise UploadPending(f"{row.filename} is still being uploaded from {row.host}")
    suffix = Path(row.filename).suffix
    temporary = settings.MEDIA_ROOT / f"{storage.PARTIAL_PREFIX}fetch-{uuid.uuid4().hex}{suffix}"
    try:
        objects.fetch(objects.key(row.host, row.filename), temporary)
        yield temporary
    finally:
        temporary.unlink(missing_ok=True)


def presigned_url(row: Capture, size: str | None = None) -> str | None:
    """A presigned URL of the file (or of its thumbnail `size`) in the bucket; None if it is not there."""
    if not (objects.enabled() and row.in_bucket):
        return None
    if size is None:
        return objects.presigned_url(objects.key(row.host, row.filename), settings.SIGNED_URL_TTL_SEC)
    thumbnail = objects.thumbnail_key(row.host, row.filename, size)
    return objects.presigned_url(thumbnail, settings.SIGNED_URL_TTL_SEC) if objects.exists(thumbnail) else None
