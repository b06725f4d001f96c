"""The worker's upload task (STORAGE_BACKEND=s3): capture.offload does the work, this module only queues it.

An upload runs on the host that has the file. Its queue is that host's own: SqliteHuey beside its database, or
`camsite-<CAMSITE_HOST>` on a shared Redis (camsite.settings), so no other host's worker ever takes it.
"""

from __future__ import annotations

import logging
from datetime import timedelta

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
    """Queue again this host's uploads still pending long after their capture (a message lost with a queue
    that was down when the capture finished, say). An upload that runs twice puts the same bytes twice."""
    settled = timezone.now() - timedelta(seconds=LOST_AFTER_SEC)
    pending = Capture.objects.on_host().filter(
        upload_status=Capture.Upload.PENDING, upload_attempts=0, finished_at__lt=settled
    )
    for pk in pending.values_list("pk", flat=True):
        log.warning("capture #%d: its upload was never run; queued again", pk)
        upload_capture(pk)


def queue_upload(row: Capture) -> None:
    """Queue the upload of a capture the service just finished; a queue that is away leaves it to recovery."""
    try:
        upload_capture(row.pk)
    except Exception as exc:  # the queue's own storage: a full disk, an unreachable Redis
        log.error("capture #%d: could not queue its upload (%s: %s); recovery retries it", row.pk, type(exc), exc)
