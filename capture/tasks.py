"""The analysis worker's tasks. `python manage.py run_huey` loads this module (djhuey looks for tasks.py).

The tasks are thin: capture.jobs keeps each job's state in the database and does the work.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import close_old_connections
from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task, on_startup
from huey.exceptions import RetryTask

from capture import jobs

__all__ = ["HUEY", "analyze_job", "recover_jobs"]

log = logging.getLogger(__name__)


@db_task()
def analyze_job(job_pk: int) -> None:
    try:
        jobs.run(job_pk)
    except jobs.RetryLater as exc:
        # huey puts the message back on its schedule (which survives restarts) for the job's next attempt.
        raise RetryTask(str(exc), delay=exc.delay) from exc


@db_periodic_task(crontab(minute="*"))
def recover_jobs() -> None:
    jobs.recover_orphans()


@on_startup()
def recover_jobs_at_startup() -> None:
    # A worker that was killed mid-job left its job `running` with no message: take such jobs back now.
    close_old_connections()
    try:
        recovered = jobs.recover_orphans()
        if recovered:
            log.warning("worker start: queued %d interrupted or lost analysis job(s) again", len(recovered))
    except Exception:
        log.exception("worker start: could not recover interrupted analysis jobs (will retry every minute)")
    finally:
        close_old_connections()
    queue = settings.HUEY_SQLITE_PATH if settings.HUEY_BACKEND == "sqlite" else settings.HUEY_REDIS_URL
    log.info("analysis worker ready (queue: %s %s)", settings.HUEY_BACKEND, queue)
