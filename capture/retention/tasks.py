"""Retention's periodic jobs on the job queue's scheduler (`manage.py run_huey`, the camsite-worker service)."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from capture.retention import apply, reconcile

log = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="*/5"))
def retention_sweep() -> None:
    counts = apply.sweep()
    if any(counts.values()):
        log.info("retention: %s", ", ".join(f"{reason} {count}" for reason, count in sorted(counts.items())))


@db_periodic_task(crontab(minute="17"))
def reconcile_uploads() -> None:
    report = reconcile.reconcile()
    if report.changes:
        for line in report.lines():
            log.warning("reconcile: %s", line)
