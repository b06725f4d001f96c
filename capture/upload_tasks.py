"""The worker's upload task (STORAGE_BACKEND=s3): capture.offload does the work, this module only queues it.

An upload runs on the host that has the file. Its queue is that host's own: SqliteHuey beside its database, or
`camsite-<CAMSITE_HOST>` on a shared Redis (camsite.settings), so no other host's worker ever takes it.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task
from huey.exceptions import RetryTask

from capture import offload
from capture.models import Capture

log = logging.getLogger(__name__)

LOST_AFTER_SEC = 120  # a pending upload with no run this long after its capture lost its message


@db_task()
def upload_capture(pk: int) -> None:
    try:
        offload.upload(pk)
    except offload.RetryLater as exc:
        raise RetryTask(str(exc), delay=exc.delay) from exc


@db_periodic_task(crontab(minute="*"))
def recover_uploads() -> None:
    """Queue again this host's uploads that no message will run any more: one never run two minutes after its
    capture (the queue was down when the capture finished), or one whose chain of retries outlived its last
    retry's delay (its worker was killed mid-upload). An upload that runs twice puts the same bytes twice."""
    for pk in lost_uploads():
        log.warning("capture #%d: its upload was lost; queued again", pk)
        upload_capture(pk)


def lost_uploads() -> list[int]:
    now = timezone.now()
    never_run = Q(upload_attempts=0, finished_at__lt=now - timedelta(seconds=LOST_AFTER_SEC))
    # Every retry of an upload ends it uploaded or failed within the sum of its delays: past that, with
    # margin, a pending one is an orphan.
    retries_sec = settings.STORAGE_UPLOAD_RETRY_DELAY_SEC * (2**settings.STORAGE_UPLOAD_MAX_ATTEMPTS - 1)
    abandoned = Q(upload_attempts__gt=0, finished_at__lt=now - timedelta(seconds=retries_sec + 600))
    pending = Capture.objects.on_host().filter(never_run | abandoned, upload_status=Capture.Upload.PENDING)
    return list(pending.values_list("pk", flat=True))


def queue_upload(row: Capture) -> None:
    """Queue the upload of a capture the service just finished; a queue that is away leaves it to recovery."""
    try:
        upload_capture(row.pk)
    except Exception as exc:  # the queue's own storage: a full disk, an unreachable Redis
        log.error("capture #%d: could not queue its upload (%s: %s); recovery retries it", row.pk, type(exc), exc)
