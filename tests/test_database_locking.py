"""Concurrent writers on real, separate connections: what SQLite's single writer used to guarantee must hold
on PostgreSQL too (CAMSITE_TEST_DB=postgres runs these there). Each thread has its own connection, as each
gunicorn thread and worker process does, and a barrier starts them together."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection, connections, transaction
from PIL import Image

from capture.analysis import jobs
from capture.models import AnalysisJob

THREADS = 6


def race(action: Callable[[], object]) -> list[object]:
    """Run `action` in THREADS threads at once; return what each returned (or raised)."""
    barrier = threading.Barrier(THREADS)
    results: list[object] = []

    def one() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(action())
        except Exception as exc:  # a failure is a result the test looks at
            results.append(exc)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=one) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.django_db(transaction=True)
def test_a_job_is_claimed_by_exactly_one_of_many_workers_at_once(settings, monkeypatch):
    Image.new("L", (32, 24), 90).save(settings.MEDIA_ROOT / "race.jpg")
    job = AnalysisJob.objects.create(filename="race.jpg")
    analysed = []
    monkeypatch.setattr(jobs, "analyze", lambda job: analysed.append(job.worker) or {"ok": True})

    results = race(lambda: jobs.run(job.pk))

    assert [r for r in results if isinstance(r, Exception)] == []
    assert len(analysed) == 1  # one claim won; the others found it no longer queued
    job.refresh_from_db()
    assert job.status == AnalysisJob.Status.DONE and job.attempts == 1


@pytest.mark.django_db(transaction=True)
def test_claims_queued_behind_a_lock_on_the_row_still_run_the_job_once(settings, monkeypatch):
    """On PostgreSQL every claim waits for the row while another transaction holds it, then re-checks its
    condition on the row as it is now: a claim whose condition sat in a subquery would pass that re-check."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's row locks (SQLite serialises whole transactions: the test above covers it)")
    Image.new("L", (32, 24), 90).save(settings.MEDIA_ROOT / "held.jpg")
    job = AnalysisJob.objects.create(filename="held.jpg")
    analysed = []
    monkeypatch.setattr(jobs, "analyze", lambda job: analysed.append(job.worker) or {"ok": True})
    started = threading.Barrier(THREADS + 1)

    def claim_after_the_lock():
        started.wait(timeout=10)
        return jobs.run(job.pk)

    with transaction.atomic():
        AnalysisJob.objects.select_for_update().get(pk=job.pk)  # every claim now queues behind this lock
        outcomes: list[object] = []
        runner = threading.Thread(target=lambda: outcomes.extend(race(claim_after_the_lock)))
        runner.start()
        started.wait(timeout=10)
        blocked_deadline = time.monotonic() + 10
        while _waiting_on_locks() < THREADS and time.monotonic() < blocked_deadline:
            time.sleep(0.05)
    runner.join(timeout=60)

    assert [r for r in outcomes if isinstance(r, Exception)] == []
    assert len(analysed) == 1
    job.refresh_from_db()
    assert job.status == AnalysisJob.Status.DONE and job.attempts == 1


def _waiting_on_locks() -> int:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
        return cursor.fetchone()[0]
