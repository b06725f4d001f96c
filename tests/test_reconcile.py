"""Reconcile (`manage.py reconcile`): files without a row are adopted or trashed, rows without a file are marked
`missing`, and --dry-run only says so."""

from __future__ import annotations

import io
import os

import pytest
from django.conf import settings
from django.core.management import call_command

from capture import storage
from capture.models import Capture, Deletion
from capture.retention import reconcile
from capture.retention.tasks import reconcile_uploads
from capture.retention.trash import restore
from tests.captures import take
from tests.disk import file_row

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_grace(monkeypatch):
    monkeypatch.setattr(reconcile, "ORPHAN_MIN_AGE_SEC", 0)


def run(*args: str) -> list[str]:
    out = io.StringIO()
    call_command("reconcile", *args, stdout=out)
    return out.getvalue().splitlines()


def orphan(name: str, content: bytes = b"\xff\xd8orphan") -> None:
    (settings.MEDIA_ROOT / name).write_bytes(content)


def test_dry_run_reports_both_ways_and_changes_nothing():
    kept = file_row("kept.jpg")
    gone = file_row("gone.jpg")
    (settings.MEDIA_ROOT / "gone.jpg").unlink()
    orphan("stray.jpg")

    lines = run("--dry-run")

    assert lines == ["would adopt stray.jpg", f"would mark capture #{gone.pk} missing: gone.jpg is gone"]
    assert sorted(Capture.objects.values_list("filename", "status")) == [("gone.jpg", "ok"), ("kept.jpg", "ok")]
    assert (settings.MEDIA_ROOT / "stray.jpg").exists() and kept.path.exists()


def test_it_adopts_orphans_and_marks_rows_missing():
    real = take("jpg")
    os.link(real.path, settings.MEDIA_ROOT / "copied.jpg")  # a real JPEG, so its size is read
    gone = file_row("gone.jpg")
    (settings.MEDIA_ROOT / "gone.jpg").unlink()

    assert run() == ["adopt copied.jpg", f"mark capture #{gone.pk} missing: gone.jpg is gone"]

    adopted = Capture.objects.get(filename="copied.jpg")
    assert (adopted.source, adopted.status, adopted.format) == ("adopted", "ok", "jpg")
    assert (adopted.file_width, adopted.file_height, adopted.size_bytes) == (320, 240, real.size_bytes)
    gone.refresh_from_db()
    assert gone.status == "missing" and "reconcile found no file" in gone.error
    assert run() == ["the upload directory and the database agree"]


def test_a_missing_file_that_comes_back_makes_its_row_ok_again():
    capture = file_row("back.jpg")
    content = capture.path.read_bytes()
    capture.path.unlink()
    run()
    capture.path.write_bytes(content)
    assert run() == [f"mark capture #{capture.pk} ok again: back.jpg is back"]
    capture.refresh_from_db()
    assert capture.status == "ok" and capture.error == ""


def test_trash_mode_moves_orphans_to_the_trash_with_an_audit_row():
    orphan("stray.jpg", b"x" * 100)
    orphan("notes.txt")
    assert run("--orphans", "trash", "--dry-run") == [
        "would move to the trash notes.txt (no capture row)",
        "would move to the trash stray.jpg (no capture row)",
    ]
    run("--orphans", "trash")
    assert not list(storage.finished_files())
    deletion = Deletion.objects.get(filename="stray.jpg")
    assert (deletion.reason, deletion.by, deletion.size_bytes, deletion.capture_id) == (
        "reconcile",
        "reconcile",
        100,
        None,
    )
    assert (storage.trash_root() / deletion.trash_key / "stray.jpg").exists()
    assert not Capture.objects.exists()


def test_the_setting_chooses_the_default_mode(settings):
    settings.RECONCILE_ORPHANS = "trash"
    orphan("stray.jpg")
    assert run() == ["move to the trash stray.jpg (no capture row)"]


def test_adopt_mode_leaves_files_that_are_no_capture_format():
    orphan("notes.txt")
    assert run() == ["left alone notes.txt: not a capture format"]
    assert (settings.MEDIA_ROOT / "notes.txt").exists() and not Capture.objects.exists()


def test_hidden_entries_are_never_orphans():
    take("jpg").delete_with_files()  # a trash folder
    (settings.MEDIA_ROOT / ".partial-9-0.jpg").write_bytes(b"x")
    (settings.MEDIA_ROOT / ".thumbnails").mkdir(exist_ok=True)
    (settings.MEDIA_ROOT / ".thumbnails" / "x.jpg.small.jpg").write_bytes(b"x")
    assert run() == ["the upload directory and the database agree"]


def test_a_file_changed_just_now_is_left_for_the_next_run(monkeypatch):
    monkeypatch.setattr(reconcile, "ORPHAN_MIN_AGE_SEC", 600)
    orphan("publishing.jpg")  # a capture's file is published a moment before its row is written
    assert run() == ["left for the next run publishing.jpg: changed less than 600 s ago"]
    assert not Capture.objects.exists()


def test_a_restored_orphan_is_adopted():
    orphan("stray.jpg")
    run("--orphans", "trash")
    capture = restore(Deletion.objects.get(), by="admin user ann")
    assert capture.filename == "stray.jpg" and capture.source == "adopted"
    assert (settings.MEDIA_ROOT / "stray.jpg").exists()


def test_the_periodic_job_reconciles(caplog):
    gone = file_row("gone.jpg")
    gone.path.unlink()
    reconcile_uploads.call_local()
    gone.refresh_from_db()
    assert gone.status == "missing"
    assert f"reconcile: mark capture #{gone.pk} missing: gone.jpg is gone" in caplog.text
