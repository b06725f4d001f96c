"""Concurrent writers on real, separate connections: what SQLite's single writer used to guarantee must hold
on PostgreSQL too (CAMSITE_TEST_DB=postgres runs these there). Each thread has its own connection, as each
gunicorn thread and worker process does, and a barrier starts them together."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection
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
