"""Deleting through the trash: files and thumbnails move to UPLOAD_DIR/.trash/<deletion id>/, every deletion has
its audit row, restore brings back the file and the row, the trash is purged after TRASH_RETENTION_DAYS, and
/uploads never serves it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from capture import storage
from capture.models import AnalysisJob, Capture, Deletion
from capture.retention import apply
from capture.retention.tasks import retention_sweep
from capture.retention.trash import restore
from capture.thumbnails import ensure_thumbnail
from tests.captures import take
from tests.disk import file_row

pytestmark = pytest.mark.django_db


def trash_files() -> list[str]:
    root = storage.trash_root()
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()) if root.exists() else []


def test_a_deletion_moves_the_file_and_its_thumbnails_to_the_trash_and_records_it():
    capture = take("jpg")
    thumbnail = ensure_thumbnail(capture)
    AnalysisJob.objects.create(filename=capture.filename, capture=capture)

    assert capture.delete_with_files(by="token phone") == (1, 1)

    deletion = Deletion.objects.get()
    assert not capture.path.exists() and not thumbnail.exists()
    assert trash_files() == [f"{deletion.pk}/.thumbnails/{thumbnail.name}", f"{deletion.pk}/{capture.filename}"]
    assert (deletion.capture_id, deletion.filename, deletion.camera_index, deletion.source) == (
        capture.pk,
        capture.filename,
        0,
        "api",
    )
    assert (deletion.reason, deletion.by, deletion.rule) == ("manual", "token phone", "")
    assert deletion.size_bytes == capture.size_bytes > 0
    assert deletion.in_trash and deletion.trash_key == str(deletion.pk)
    assert not Capture.objects.exists() and not AnalysisJob.objects.exists()


def test_restore_brings_back_the_file_its_thumbnails_and_the_row_with_its_id():
    capture = take("jpg")
    thumbnail = ensure_thumbnail(capture)
    content = capture.path.read_bytes()
    capture.delete_with_files(by="admin user ann")
    deletion = Deletion.objects.get()

    restored = restore(deletion, by="admin user bob")

    assert restored.pk == capture.pk and restored.filename == capture.filename
    assert Capture.objects.get(pk=capture.pk).size_bytes == capture.size_bytes
    assert capture.path.read_bytes() == content and thumbnail.exists()
    assert trash_files() == []
    deletion.refresh_from_db()
    assert deletion.restored_by == "admin user bob" and deletion.restored_at and not deletion.in_trash
    with pytest.raises(storage.NotInTrash):
        restore(deletion)


def test_a_name_taken_meanwhile_restores_under_another_name():
    capture = take("jpg", filename="shot.jpg")
    capture.delete_with_files()
    newer = take("jpg", filename="shot.jpg")
    restored = restore(Deletion.objects.get())
    assert newer.filename == "shot.jpg" and restored.filename == "shot_1.jpg"
    assert (settings.MEDIA_ROOT / "shot_1.jpg").exists()


def test_the_trash_is_purged_after_trash_retention_days(settings):
    settings.TRASH_RETENTION_DAYS = 7
    old, recent = file_row("old.jpg"), file_row("recent.jpg")
    old.delete_with_files()
    recent.delete_with_files()
    Deletion.objects.filter(filename="old.jpg").update(deleted_at=timezone.now() - timedelta(days=8))

    assert apply.purge_expired_trash() == 1

    purged, waiting = Deletion.objects.get(filename="old.jpg"), Deletion.objects.get(filename="recent.jpg")
    assert purged.purged_at and not purged.in_trash
    assert trash_files() == [f"{waiting.pk}/recent.jpg"]
    with pytest.raises(storage.NotInTrash):
        restore(purged)


def test_a_trash_folder_no_deletion_claims_is_purged_once_old(settings):
    stray = storage.trash_root() / "999"
    stray.mkdir(parents=True)
    (stray / "left.jpg").write_bytes(b"x")
    apply.purge_expired_trash()
    assert stray.exists()  # maybe a deletion being recorded right now
    apply.purge_expired_trash(timezone.now() + timedelta(days=settings.TRASH_RETENTION_DAYS + 1))
    assert not stray.exists()


def test_with_trash_retention_0_files_are_removed_at_once(settings):
    settings.TRASH_RETENTION_DAYS = 0
    file_row("a.jpg", 1234).delete_with_files()
    deletion = Deletion.objects.get()
    assert trash_files() == [] and not (settings.MEDIA_ROOT / "a.jpg").exists()
    assert deletion.purged_at and deletion.size_bytes == 1234 and not deletion.in_trash


def test_uploads_never_serves_the_trash(client):
    capture = file_row("a.jpg")
    assert client.get("/uploads/a.jpg").status_code == 200
    capture.delete_with_files()
    key = Deletion.objects.get().trash_key
    for path in ["/uploads/a.jpg", "/uploads/.trash", f"/uploads/.trash/{key}/a.jpg", f"/uploads/{key}/a.jpg"]:
        assert client.get(path).status_code == 404, path


def test_a_rule_deletion_records_its_rule_and_no_user(settings):
    settings.RETENTION_MAX_AGE_DAYS = 5
    file_row("old.jpg", 500, days_old=6)
    file_row("new.jpg", 500, days_old=1)
    counts = apply.sweep()
    assert counts["max-age"] == 1
    deletion = Deletion.objects.get()
    assert (deletion.filename, deletion.reason, deletion.rule, deletion.by) == (
        "old.jpg",
        "max-age",
        "settings: max age 5 days",
        "",
    )
    assert deletion.in_trash and deletion.size_bytes == 500
    assert list(Capture.objects.values_list("filename", flat=True)) == ["new.jpg"]


def test_the_sweep_applies_budgets_and_floors_and_purges_for_space(settings, monkeypatch):
    settings.RETENTION_MAX_TOTAL_BYTES = 2000
    settings.RETENTION_MIN_FREE_BYTES = 10_000
    for n in range(4):
        file_row(f"{n}.jpg", 1000, days_old=4 - n)
    free = {"bytes": 100_000}
    monkeypatch.setattr(storage, "free_bytes", lambda: free["bytes"])
    assert apply.sweep()["max-total"] == 2
    assert sorted(Capture.objects.values_list("filename", flat=True)) == ["2.jpg", "3.jpg"]
    assert len(trash_files()) == 2

    # Now the disk runs short: the trash goes first (it frees nothing while it waits), then the oldest capture,
    # purged at once for the same reason.
    def free_now() -> int:
        return 7_000 + 1000 * (2 - len(trash_files())) + 1000 * (2 - len(list(settings.MEDIA_ROOT.glob("*.jpg"))))

    monkeypatch.setattr(storage, "free_bytes", free_now)
    assert apply.sweep()["min-free"] == 1
    assert trash_files() == []
    assert list(Capture.objects.values_list("filename", flat=True)) == ["3.jpg"]
    floor = Deletion.objects.get(filename="2.jpg")
    assert (floor.reason, floor.rule, floor.size_bytes) == ("min-free", "settings: min free 10000 bytes", 1000)
    assert floor.purged_at and not floor.in_trash


def test_the_periodic_job_sweeps(settings):
    settings.RETENTION_MAX_AGE_DAYS = 1
    file_row("old.jpg", days_old=2)
    retention_sweep.call_local()
    assert Deletion.objects.get().filename == "old.jpg" and not Capture.objects.exists()
