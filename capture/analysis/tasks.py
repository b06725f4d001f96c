"""The analysis worker's huey tasks, and the task queue as capture.analysis.jobs sees it.

The tasks are thin: capture.analysis.jobs keeps each job's state in the database and does the work. This is
the only module of the analyzer that touches the queue: submit() and recover_orphans() hand jobs.py the
queue (put a message, list the waiting ones), so jobs.py never imports this module.

`python manage.py run_huey` finds these tasks through capture/tasks.py (djhuey imports each app's `tasks`).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import close_old_connections
from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task, on_startup
from huey.exceptions import RetryTask

from capture.analysis import jobs
from capture.models import AnalysisJob

__all__ = ["HUEY", "QUEUE", "analyze_job", "recover_jobs", "recover_orphans", "submit"]

log = logging.getLogger(__name__)

# huey names a task `<function's module>.<function's name>` (huey.registry.task_to_string; a task's `name=`
# replaces only the second part) and a queued message carries that name. These tasks were defined in
# capture.tasks, and messages queued before an upgrade (in SQLite or Redis, which outlive it) say
# `capture.tasks.analyze_job`: so they keep the module name they were queued under.
TASK_MODULE = "capture.tasks"


def _named_in_task_module(func):
    func.__module__ = TASK_MODULE
    return func


@db_task()
@_named_in_task_module
def analyze_job(job_pk: int) -> None:
    try:
        jobs.run(job_pk)
    except jobs.RetryLater as exc:
        # huey puts the message back on its schedule (which survives restarts) for the job's next attempt.
        raise RetryTask(str(exc), delay=exc.delay) from exc


@db_periodic_task(crontab(minute="*"))
@_named_in_task_module
def recover_jobs() -> None:
    recover_orphans()


class HueyJobQueue:
    """jobs.JobQueue on huey: a message is an `analyze_job(pk)` call."""

    def put(self, pk: int) -> None:
        analyze_job(pk)

    def waiting(self) -> set[int]:
        messages = HUEY.pending() + HUEY.scheduled()
        return {task.args[0] for task in messages if isinstance(task, analyze_job.task_class) and task.args}


QUEUE = HueyJobQueue()


def submit(name: str, host: str | None = None) -> AnalysisJob:
    """Queue an analysis of the finished upload `name` of `host` (this host by default; jobs.UnknownUpload if
    there is none, jobs.AnalysisQueueUnavailable if the queue can't take it)."""
    return jobs.submit(name, QUEUE, host)


def recover_orphans() -> list[int]:
    """Queue again the jobs whose worker is gone, and queued jobs that have no message; return their pks."""
    return jobs.recover_orphans(QUEUE)


@on_startup()
def recover_jobs_at_startup() -> None:
    # A worker that was killed mid-job left its job `running` with no message: take such jobs back now.
    close_old_connections()
    try:
        recovered = recover_orphans()
        if recovered:
            log.warning("worker start: queued %d interrupted or lost analysis job(s) again", len(recovered))
    except Exception:
        log.exception("worker start: could not recover interrupted analysis jobs (will retry every minute)")
    finally:
        close_old_connections()
    queue = settings.HUEY_SQLITE_PATH if settings.HUEY_BACKEND == "sqlite" else settings.HUEY_REDIS_URL
    log.info("analysis worker ready (queue: %s %s)", settings.HUEY_BACKEND, queue)
