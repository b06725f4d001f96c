"""The hot lookups and writes compiled once (capture.hot_queries) do what the ORM does, per host and camera."""

from __future__ import annotations

import threading
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from capture.hot_queries import first_row, insert_row, save_columns
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


def test_insert_row_stores_what_create_stores(db):
    fields = {"format": "mp4", "width": 1920, "height": 1080, "fps": 25, "duration_sec": 2.5,
              "requested_at": timezone.now(), "backend": "rpicam", "controls": {"awbGains": [1.5, 1.2]}}  # fmt: skip
    by_orm = Capture.objects.create(**fields)
    compiled = Capture(**fields)
    insert_row(compiled)
    insert_row(second := Capture(**fields))  # the compiled statement, run again

    assert compiled.pk and second.pk == compiled.pk + 1 and not compiled._state.adding
    exclude = {"id"}
    stored = Capture.objects.values().get(pk=compiled.pk)
    expected = Capture.objects.values().get(pk=by_orm.pk)
    assert {k: v for k, v in stored.items() if k not in exclude} == {
        k: v for k, v in expected.items() if k not in exclude
    }
    assert stored["controls"] == {"awbGains": [1.5, 1.2]} and stored["status"] == Capture.Status.RUNNING


def test_a_capture_saves_only_the_columns_it_changed(db):
    row = make(status=Capture.Status.RUNNING, finished_at=None)
    saved = row.column_values()
    # Meanwhile someone else pins the row; a whole-row save would put pinned back to False.
    Capture.objects.filter(pk=row.pk).update(pinned=True)
    row.status, row.size_bytes, row.commands = Capture.Status.OK, 1234, [{"argv": ["rpicam-still"], "exitCode": 0}]
    row.finished_at = timezone.now()

    changed = row.changed_columns(saved)
    assert sorted(changed) == ["commands", "finished_at", "size_bytes", "status"]
    assert save_columns(row, changed)
    stored = Capture.objects.get(pk=row.pk)
    assert (stored.status, stored.size_bytes, stored.finished_at) == (Capture.Status.OK, 1234, row.finished_at)
    assert stored.commands == [{"argv": ["rpicam-still"], "exitCode": 0}]
    assert stored.pinned  # left alone

    Capture.objects.filter(pk=row.pk).delete()
    assert not save_columns(row, ["status"])  # the row is gone: False, not a new row
    assert not Capture.objects.filter(pk=row.pk).exists()


def test_a_change_made_in_place_counts_as_changed(db):
    row = make(status=Capture.Status.RUNNING, controls={"ev": 1.0})
    saved = row.column_values()
    row.controls["ev"] = 2.0  # the snapshot is a copy, so this shows
    assert row.changed_columns(saved) == ["controls"]
