"""The hot lookups compiled once (capture.hot_queries) answer what the ORM answers, per host and camera."""

from __future__ import annotations

import threading
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from capture.hot_queries import first_row
from capture.models import Capture


def make(**fields) -> Capture:
    defaults = {"format": "jpg", "width": 640, "height": 480, "fps": 30, "duration_sec": 1,
                "status": Capture.Status.OK, "finished_at": timezone.now(), "requested_at": timezone.now(),
                "backend": "simulated"}  # fmt: skip
    return Capture.objects.create(**{**defaults, **fields})


def test_the_compiled_lookups_match_the_orm_as_rows_come_and_go(db, settings):
    assert Capture.objects.last_success_at(0) is None
    assert Capture.objects.last_error(0) is None
    assert not Capture.objects.any_running(0)

    older = make(finished_at=timezone.now() - timedelta(hours=1))
    newest = make()
    make(camera_index=1, finished_at=timezone.now() + timedelta(hours=1))  # another camera
    make(host="other-pi", finished_at=timezone.now() + timedelta(hours=2))  # another host, same camera
    assert Capture.objects.last_success_at(0) == newest.finished_at  # an aware datetime, as the ORM gives it
    assert Capture.objects.last_success_at(0) != older.finished_at
    assert Capture.objects.last_success_at(0).tzinfo is not None

    failed = make(status=Capture.Status.FAILED, error="Capture failed: no camera")
    assert Capture.objects.last_error(0) == ("Capture failed: no camera", failed.finished_at)
    forwarded = make(analyze_error="Analyze request failed: refused")
    assert Capture.objects.last_error(0) == ("Analyze request failed: refused", forwarded.finished_at)

    make(status=Capture.Status.RUNNING, finished_at=None)
    assert Capture.objects.any_running(0) and not Capture.objects.any_running(1)

    settings.CAMSITE_HOST = "other-pi"  # the host is part of each lookup's key
    assert Capture.objects.last_success_at(0) == Capture.objects.on_host("other-pi").get().finished_at
    assert Capture.objects.last_error(0) is None


def test_each_thread_compiles_its_own(transactional_db):
    make()
    key = ("test-count", 0)
    answers = []

    def ask():
        answers.append(first_row(key, lambda: Capture.objects.filter(camera_index=0).values_list("width")))
        if threading.current_thread() is not threading.main_thread():
            connection.close()

    ask()
    thread = threading.Thread(target=ask)
    thread.start()
    thread.join()
    assert answers == [(640,), (640,)]
