"""Object storage (STORAGE_BACKEND=s3): the one module that talks to the bucket, through django-storages.

A capture's key is `<S3_PREFIX>/<host>/<file name>` and its thumbnails' `<host>/.thumbnails/<file>.<size>.jpg`:
file names are unique per host (each publishes into its own upload directory), so keys are unique across a
fleet sharing one bucket. Every failure is one of two domain errors: StorageUnavailable (unreachable, timed
out, a 5xx: worth retrying) or StorageRefused (the bucket answered no: a missing bucket, denied access; retrying
changes nothing). Neither message holds a credential.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.files.storage import storages

from capture.formats import mime_type
from capture.storage import THUMBNAIL_DIR, THUMBNAIL_SIZES

log = logging.getLogger(__name__)

# Answers that mean "not now" rather than "no".
_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}


class StorageUnavailable(Exception):
    """The bucket could not be reached or had a passing failure: try again later."""


class StorageRefused(Exception):
    """The bucket refused the request (no such bucket, access denied, ...): retrying changes nothing."""


class NotInBucket(StorageRefused):
    pass


def enabled() -> bool:
    return settings.STORAGE_BACKEND == "s3"


def key(host: str, name: str) -> str:
    return f"{host}/{name}"


def thumbnail_key(host: str, name: str, size: str) -> str:
    return f"{host}/{THUMBNAIL_DIR}/{name}.{size}.jpg"


def all_keys(host: str, name: str) -> list[str]:
    """The file's key and its thumbnails' keys."""
    return [key(host, name), *(thumbnail_key(host, name, size) for size in THUMBNAIL_SIZES)]


def location(object_key: str) -> str:
    """`s3://bucket/prefix/key`, for messages."""
    prefix = f"{settings.S3_PREFIX}/" if settings.S3_PREFIX else ""
    return f"s3://{settings.S3_BUCKET}/{prefix}{object_key}"


def _bucket():
    return storages["captures"]


def _client():
    return _bucket().connection.meta.client


def _full_key(object_key: str) -> str:
    return _bucket()._normalize_name(object_key)


@contextmanager
def _translated(action: str, object_key: str) -> Iterator[None]:
    """botocore's many errors as the two of this module."""
    from botocore.exceptions import BotoCoreError, ClientError

    where = location(object_key)
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        code, message = error.get("Code", "?"), error.get("Message", "")
        detail = f"{action} {where}: {code}{f': {message}' if message else ''} (HTTP {status})"
        if status in _TRANSIENT_STATUS:
            raise StorageUnavailable(detail) from None
        if code in ("NoSuchKey", "404") or (status == 404 and code != "NoSuchBucket"):
            raise NotInBucket(detail) from None
        raise StorageRefused(f"the bucket refused to {detail}") from None
    except BotoCoreError as exc:  # no connection, a timeout, a dropped connection
        raise StorageUnavailable(f"{action} {where}: {exc}") from None


def put(path: Path, object_key: str) -> None:
    """Upload the local file `path` as `object_key` (one PUT: the bucket has all of it or none of it)."""
    with _translated("upload to", object_key), path.open("rb") as body:
        _client().put_object(
            Bucket=settings.S3_BUCKET,
            Key=_full_key(object_key),
            Body=body,
            ContentType=mime_type(path.name) or "application/octet-stream",
        )


def fetch(object_key: str, destination: Path) -> None:
    """Download `object_key` into `destination` (NotInBucket if there is no such object)."""
    with _translated("download", object_key), destination.open("wb") as out:
        _client().download_fileobj(settings.S3_BUCKET, _full_key(object_key), out)


def exists(object_key: str) -> bool:
    try:
        with _translated("look up", object_key):
            _client().head_object(Bucket=settings.S3_BUCKET, Key=_full_key(object_key))
    except NotInBucket:
        return False
    return True


def presigned_url(object_key: str, expires_in: int) -> str:
    """A URL that opens the object (GET, with Range) for `expires_in` seconds, signed locally: no request."""
    return _bucket().url(object_key, expire=expires_in)


def delete(object_keys: list[str]) -> int:
    """Delete the objects (those missing count as deleted); return how many were asked for."""
    for object_key in object_keys:
        with _translated("delete", object_key):
            _client().delete_object(Bucket=settings.S3_BUCKET, Key=_full_key(object_key))
    return len(object_keys)
