"""Retention and reconcile on a shared database (CAMSITE_HOST): each host sweeps, makes room, purges its trash
and reconciles only its own captures and files. pi-a must never delete pi-b's captures, count them against its
budget, or mark them missing because their files are not on pi-a's disk.

The other host is rows written as `pi-b` would write them (and, where it acts, CAMSITE_HOST and MEDIA_ROOT
switched to pi-b's in the same process), as in tests/test_host_identity.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from capture import storage
from capture.models import Capture, Deletion
from capture.retention import apply, reconcile
from capture.retention.trash import restore
from tests.captures import make_row
from tests.disk import file_row

pytestmark = pytest.mark.django_db

MB = 1 << 20


@pytest.fixture(autouse=True)
def pi_a(settings):
    settings.CAMSITE_HOST = "pi-a"
    return settings.MEDIA_ROOT


@pytest.fixture
def pi_b_media(settings, tmp_path):
    """pi-b's own upload directory (its disk), for the moments the test acts as pi-b."""
    media = tmp_path / "pi-b-uploads"
    media.mkdir()
    return media


def theirs(name: str, *, days_old: float = 0, size: int = 1000, **fields) -> Capture:
    """pi-b's finished capture: a row whose file is on pi-b's disk, not here."""
    when = timezone.now() - timedelta(days=days_old)
    return make_row(host="pi-b", filename=name, size_bytes=size, requested_at=when, **fields)


def act_as_pi_b(settings, media) -> None:
    settings.CAMSITE_HOST = "pi-b"
    settings.MEDIA_ROOT = media


def test_the_sweep_deletes_only_this_hosts_aged_captures(settings, pi_b_media):
    settings.RETENTION_MAX_AGE_DAYS = 30
    mine = file_row("old.jpg", days_old=40)
    other = theirs("old.jpg", days_old=40)  # the same name on pi-b: another file, on another disk
    (pi_b_media / "old.jpg").write_bytes(b"\xff\xd8pi-b")

    counts = apply.sweep()

    assert counts["max-age"] == 1
    assert not Capture.objects.filter(pk=mine.pk).exists()
    assert Capture.objects.filter(pk=other.pk).exists()
    deletion = Deletion.objects.get()
    assert (deletion.capture_id, deletion.host, deletion.reason) == (mine.pk, "pi-a", "max-age")

    act_as_pi_b(settings, pi_b_media)
    assert apply.sweep()["max-age"] == 1
    assert not Capture.objects.exists()
    by_host = dict(Deletion.objects.values_list("capture_id", "host"))
    assert by_host == {mine.pk: "pi-a", other.pk: "pi-b"}
    assert (pi_b_media / ".trash" / str(Deletion.objects.get(host="pi-b").trash_key) / "old.jpg").exists()


def test_a_total_size_budget_counts_only_this_hosts_captures(settings):
    settings.RETENTION_MAX_TOTAL_BYTES = 2500
    for n in range(2):
        file_row(f"mine{n}.jpg", size=1000, days_old=2 - n)
    for n in range(3):
        theirs(f"theirs{n}.jpg", size=1000, days_old=5)

    assert apply.sweep()["max-total"] == 0  # pi-a's 2,000 bytes fit its budget; pi-b's are on pi-b's disk
    assert Capture.objects.count() == 5

    file_row("mine2.jpg", size=1000)
    assert apply.sweep()["max-total"] == 1
    assert not Capture.objects.filter(filename="mine0.jpg").exists()  # pi-a's oldest
    assert Capture.objects.filter(host="pi-b").count() == 3


def test_the_floor_before_a_capture_never_deletes_another_hosts_captures(post_json, standins, settings, monkeypatch):
    settings.RETENTION_MIN_FREE_BYTES = 10 * MB
    monkeypatch.setattr(storage, "free_bytes", lambda: 10 * MB)  # pi-a's disk is at its floor
    for n in range(3):
        theirs(f"theirs{n}.jpg", size=5 * MB, days_old=10)

    response = post_json("/api/camera/capture", {"format": "jpg", "width": 640, "height": 480, "durationSec": 0.2})

    assert response.status_code == 507, response.json()
    assert "Insufficient storage" in response.json()["error"]
    assert Capture.objects.filter(host="pi-b").count() == 3  # deleting them would free nothing on pi-a
    assert not Deletion.objects.exists()


def test_the_free_space_floor_deletes_this_hosts_oldest_first_not_another_hosts_older(settings, monkeypatch):
    settings.RETENTION_MIN_FREE_BYTES = 10_000
    file_row("mine-old.jpg", size=4000, days_old=3)
    file_row("mine-new.jpg", size=4000, days_old=1)
    theirs("theirs-oldest.jpg", size=4000, days_old=9)
    # pi-a's disk: 7,000 bytes free, 4,000 more once its oldest capture is gone.
    monkeypatch.setattr(storage, "free_bytes", lambda: 11_000 - 4000 * (settings.MEDIA_ROOT / "mine-old.jpg").exists())

    assert apply.sweep()["min-free"] == 1

    assert sorted(Capture.objects.values_list("host", "filename")) == [
        ("pi-a", "mine-new.jpg"),
        ("pi-b", "theirs-oldest.jpg"),
    ]


def test_the_trash_purge_leaves_another_hosts_trash_alone(settings, pi_b_media):
    settings.TRASH_RETENTION_DAYS = 7
    pi_a_media = settings.MEDIA_ROOT
    file_row("mine.jpg").delete_with_files(by="test")
    act_as_pi_b(settings, pi_b_media)
    (pi_b_media / "theirs.jpg").write_bytes(b"\xff\xd8pi-b")
    theirs("theirs.jpg").delete_with_files(by="test")
    assert Deletion.objects.filter(host="pi-b").get().in_trash
    settings.CAMSITE_HOST, settings.MEDIA_ROOT = "pi-a", pi_a_media
    Deletion.objects.update(deleted_at=timezone.now() - timedelta(days=8))

    assert apply.purge_expired_trash() == 1  # pi-a's own

    assert not Deletion.objects.get(host="pi-a").in_trash
    assert not (pi_a_media / ".trash" / Deletion.objects.get(host="pi-a").trash_key).exists()
    kept = Deletion.objects.get(host="pi-b")
    assert kept.in_trash and kept.purged_at is None  # pi-b's worker purges it, from pi-b's disk
    assert (pi_b_media / ".trash" / kept.trash_key / "theirs.jpg").exists()


def test_the_floor_purges_only_this_hosts_trash(settings, monkeypatch):
    settings.RETENTION_MIN_FREE_BYTES = 10_000
    other = Deletion.objects.create(host="pi-b", filename="theirs.jpg", reason="manual", trash_key="1", size_bytes=5000)
    monkeypatch.setattr(storage, "free_bytes", lambda: 5000)

    apply.make_room(apply.all_rules())

    other.refresh_from_db()
    assert other.in_trash  # purging pi-b's trash would free nothing on pi-a's disk


def test_deletion_audit_rows_record_the_host_and_the_api_shows_and_filters_it(api, settings):
    file_row("mine.jpg").delete_with_files(by="test")
    theirs("theirs.jpg").delete_with_files(by="central admin")

    rows = api.get("/api/deletions/").json()["results"]
    assert sorted((row["filename"], row["host"]) for row in rows) == [("mine.jpg", "pi-a"), ("theirs.jpg", "pi-b")]
    only_b = api.get("/api/deletions/?host=pi-b").json()["results"]
    assert [(row["filename"], row["files"], row["inTrash"]) for row in only_b] == [("theirs.jpg", 0, False)]
    bad = api.get("/api/deletions/?host=pi%20b")
    assert bad.status_code == 400 and bad.json()["ok"] is False and "host" in bad.json()["error"]


def test_deleting_another_hosts_capture_never_takes_this_hosts_file_of_that_name(settings):
    mine = file_row("same.jpg")
    other = theirs("same.jpg")

    assert other.delete_with_files(by="test") == (0, 0)

    assert mine.path.exists() and Capture.objects.filter(pk=mine.pk).exists()
    deletion = Deletion.objects.get()
    assert (deletion.host, deletion.files, deletion.trash_key) == ("pi-b", 0, "")


def test_another_hosts_deletion_is_not_restored_here(settings, pi_b_media):
    act_as_pi_b(settings, pi_b_media)
    (pi_b_media / "theirs.jpg").write_bytes(b"\xff\xd8pi-b")
    theirs("theirs.jpg").delete_with_files(by="test")
    settings.CAMSITE_HOST = "pi-a"
    deletion = Deletion.objects.get()

    with pytest.raises(storage.NotInTrash, match="pi-b's trash"):
        restore(deletion, by="test")

    assert not Capture.objects.exists()
    deletion.refresh_from_db()
    assert deletion.in_trash


def test_reconcile_compares_only_this_hosts_rows_with_this_hosts_files(monkeypatch):
    monkeypatch.setattr(reconcile, "ORPHAN_MIN_AGE_SEC", 0)
    mine = file_row("mine.jpg")
    other = theirs("theirs.jpg")  # its file is on pi-b: not missing
    theirs("stray.jpg")  # pi-b's row does not make pi-a's file of that name a capture of pi-a's
    (settings.MEDIA_ROOT / "stray.jpg").write_bytes(b"\xff\xd8stray")

    report = reconcile.reconcile()

    assert report.missing == [] and report.adopted == ["stray.jpg"]
    other.refresh_from_db()
    assert other.status == Capture.Status.OK and other.error == ""
    adopted = Capture.objects.get(filename="stray.jpg", source=Capture.Source.ADOPTED)
    assert adopted.host == "pi-a"
    assert Capture.objects.get(pk=mine.pk).status == Capture.Status.OK


def test_reconcile_marks_missing_only_this_hosts_rows(monkeypatch):
    monkeypatch.setattr(reconcile, "ORPHAN_MIN_AGE_SEC", 0)
    gone = file_row("gone.jpg")
    (settings.MEDIA_ROOT / "gone.jpg").unlink()
    other = theirs("gone-too.jpg")
    missing_there = theirs("back.jpg", status=Capture.Status.MISSING)
    (settings.MEDIA_ROOT / "back.jpg").write_bytes(b"\xff\xd8pi-a")  # pi-a's file: not pi-b's capture back

    report = reconcile.reconcile()

    assert report.missing == [(gone.pk, "gone.jpg")]
    assert report.found == []
    other.refresh_from_db()
    missing_there.refresh_from_db()
    assert other.status == Capture.Status.OK
    assert missing_there.status == Capture.Status.MISSING


def test_the_deletions_admin_shows_and_filters_the_host(admin_client):
    file_row("mine.jpg").delete_with_files(by="test")
    theirs("theirs.jpg").delete_with_files(by="test")

    everything = admin_client.get("/admin/capture/deletion/").content.decode()
    assert "By host" in everything and "column-host" in everything

    page = admin_client.get("/admin/capture/deletion/?host=pi-b").content.decode()
    assert "theirs.jpg" in page and "mine.jpg" not in page


def test_a_capture_deleted_on_another_server_has_its_file_trashed_here_not_adopted_back(
    settings, pi_b_media, monkeypatch
):
    settings.RECONCILE_ORPHANS = "adopt"
    act_as_pi_b(settings, pi_b_media)
    capture = file_row("theirs.jpg", size=1234)
    settings.CAMSITE_HOST = "central"  # the central admin deletes pi-b's capture: the row, never pi-b's file
    Capture.objects.get(pk=capture.pk).delete_with_files(by="admin user ann")
    assert (pi_b_media / "theirs.jpg").exists()

    settings.CAMSITE_HOST = "pi-b"
    monkeypatch.setattr(reconcile, "ORPHAN_MIN_AGE_SEC", 0)
    report = reconcile.reconcile()

    deletion = Deletion.objects.get()
    assert report.adopted == [] and report.deleted_elsewhere == [(deletion.pk, "theirs.jpg")]
    assert not Capture.objects.exists()
    assert (deletion.host, deletion.files, deletion.size_bytes, deletion.in_trash) == ("pi-b", 1, 1234, True)
    assert (pi_b_media / ".trash" / deletion.trash_key / "theirs.jpg").exists()
    assert restore(deletion, by="test").pk == capture.pk  # restorable on pi-b, with its row
