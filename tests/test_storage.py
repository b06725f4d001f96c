"""capture.storage: temporary names, publishing, "a finished file", the directory's state, deletion.

/uploads' answers for every kind of name are tests/test_uploads.py; the analyzer's are test_analyze_api.py;
the admin's deletion is test_admin_delete.py and the API's test_api_delete.py. Here: the module's own rules.
"""

from __future__ import annotations

import errno
import os

import pytest
from django.conf import settings

from capture import storage
from capture.errors import CaptureFailed, CaptureRunning
from capture.models import AnalysisJob
from tests.captures import make_row


def write(name: str, content: bytes = b"\xff\xd8data"):
    path = settings.MEDIA_ROOT / name
    path.write_bytes(content)
    return path


# --- Files being written ---


def test_partial_names_are_hidden_and_numbered_by_capture():
    path = storage.partial_path(12, 0, "h264")
    assert path == settings.MEDIA_ROOT / ".partial-12-0.h264"
    assert path.name.startswith(".")


def test_remove_partials_removes_only_that_captures_partials():
    for n in (0, 1):
        write(storage.partial_path(7, n, "mp4").name)
    other = write(storage.partial_path(70, 0, "mp4").name)
    finished = write("7-0.mp4")
    assert storage.remove_partials(7) == 2
    assert sorted(p.name for p in settings.MEDIA_ROOT.iterdir()) == [other.name, finished.name]


def test_publishing_never_overwrites():
    write("shot.jpg", b"first")
    for content in (b"second", b"third"):
        temp = write(".partial", content)
        storage.publish(temp, "shot.jpg")
    assert (settings.MEDIA_ROOT / "shot.jpg").read_bytes() == b"first"
    assert (settings.MEDIA_ROOT / "shot_1.jpg").read_bytes() == b"second"
    assert (settings.MEDIA_ROOT / "shot_2.jpg").read_bytes() == b"third"
    assert not (settings.MEDIA_ROOT / ".partial").exists()


def test_without_hard_links_publishing_renames_and_still_never_overwrites(monkeypatch):
    def no_links(source, target):
        raise OSError(errno.EPERM, "Operation not permitted")  # what vfat answers

    monkeypatch.setattr(os, "link", no_links)
    write("shot.jpg", b"first")
    temp = write(".partial", b"second")
    assert storage.publish(temp, "shot.jpg") == "shot_1.jpg"
    assert (settings.MEDIA_ROOT / "shot.jpg").read_bytes() == b"first"
    assert (settings.MEDIA_ROOT / "shot_1.jpg").read_bytes() == b"second"
    assert not temp.exists()


# --- Finished files ---


def test_a_finished_file_is_its_resolved_path():
    path = write("a.jpg")
    assert storage.finished_file("a.jpg") == path.resolve()
    os.symlink(path, settings.MEDIA_ROOT / "alias.jpg")
    assert storage.finished_file("alias.jpg") == path.resolve()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "is not a file name"),
        ("../a.jpg", "is not a file name"),
        ("sub\\a.jpg", "is not a file name"),
        ("a.jpg\x00", "is not a file name"),
        (".partial-1-0.jpg", "is hidden: a file still being written"),
        (".thumbnails", "is hidden"),
        ("missing.jpg", "No finished file missing.jpg in /uploads/"),
        ("folder", "No finished file folder"),
        ("out.jpg", "No finished file out.jpg"),
        ("to-partial.jpg", "No finished file to-partial.jpg"),
    ],
)
def test_anything_else_is_not_a_finished_file(name, message):
    write(".partial-1-0.jpg")
    (settings.MEDIA_ROOT / "folder").mkdir()
    (settings.MEDIA_ROOT.parent / "outside.jpg").write_bytes(b"x")
    os.symlink(settings.MEDIA_ROOT.parent / "outside.jpg", settings.MEDIA_ROOT / "out.jpg")
    os.symlink(settings.MEDIA_ROOT / ".partial-1-0.jpg", settings.MEDIA_ROOT / "to-partial.jpg")
    with pytest.raises(storage.NotAFinishedFile, match=message):
        storage.finished_file(name)


# --- The directory ---


def test_a_missing_or_read_only_upload_dir_is_refused(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "gone"
    with pytest.raises(CaptureFailed, match="does not exist"):
        storage.check_upload_dir()
    settings.MEDIA_ROOT.mkdir(mode=0o500)
    if os.geteuid() != 0:  # root writes anywhere
        with pytest.raises(CaptureFailed, match="is not writable"):
            storage.check_upload_dir()


def test_the_upload_dir_is_full_below_the_low_disk_mark(monkeypatch):
    assert storage.upload_dir_full() is False
    monkeypatch.setattr(storage, "LOW_DISK_BYTES", 1 << 62)
    assert storage.upload_dir_full() is True


def test_thumbnails_live_in_a_hidden_directory():
    path = storage.thumbnail_path("a.jpg", "large")
    assert path == settings.MEDIA_ROOT / ".thumbnails" / "a.jpg.large.jpg"
    with pytest.raises(storage.NotAFinishedFile):
        storage.finished_file(path.parent.name)


# --- Deletion ---


def thumbnails_of(name: str) -> list:
    directory = settings.MEDIA_ROOT / ".thumbnails"
    directory.mkdir(exist_ok=True)
    made = [storage.thumbnail_path(name, "small"), storage.thumbnail_path(name, "large")]
    for path in made:
        path.write_bytes(b"\xff\xd8")
    marker = storage.failure_marker(made[1])
    marker.write_text("1 2")
    return [*made, marker]


def test_deleting_a_captures_files_counts_files_and_thumbnails(db):
    write("a.jpg")
    cached = thumbnails_of("a.jpg")
    assert storage.delete_capture_files(make_row(filename="a.jpg")) == (1, 2)  # the failure marker goes too
    assert not (settings.MEDIA_ROOT / "a.jpg").exists()
    assert not any(path.exists() for path in cached)


def test_a_file_already_gone_still_loses_its_thumbnails(db):
    cached = thumbnails_of("gone.jpg")
    assert storage.delete_capture_files(make_row(filename="gone.jpg")) == (0, 2)
    assert not any(path.exists() for path in cached)


def test_deleting_a_symlinked_capture_removes_the_link_not_its_target(db):
    target = write("other.jpg")
    os.symlink(target, settings.MEDIA_ROOT / "alias.jpg")
    assert storage.delete_capture_files(make_row(filename="alias.jpg")) == (1, 0)
    assert not (settings.MEDIA_ROOT / "alias.jpg").is_symlink()
    assert target.exists()


@pytest.mark.parametrize("name", ["../precious.jpg", ".partial-3-0.jpg", ""])
def test_a_stored_name_that_is_not_a_plain_visible_name_deletes_nothing(db, name):
    (settings.MEDIA_ROOT.parent / "precious.jpg").write_bytes(b"keep")
    write(".partial-3-0.jpg")
    before = sorted(settings.MEDIA_ROOT.parent.rglob("*"))
    assert storage.delete_capture_files(make_row(filename=name)) == (0, 0)
    assert sorted(settings.MEDIA_ROOT.parent.rglob("*")) == before


# --- Capture.delete_with_files() ---


def test_delete_with_files_removes_the_row_its_jobs_and_its_files(db):
    write("a.jpg")
    thumbnails_of("a.jpg")
    row = make_row(filename="a.jpg")
    AnalysisJob.objects.create(filename="a.jpg", capture=row)
    assert row.delete_with_files() == (1, 2)
    assert not type(row).objects.exists() and not AnalysisJob.objects.exists()
    assert not (settings.MEDIA_ROOT / "a.jpg").exists()


def test_a_running_capture_is_refused_and_kept(db):
    row = make_row(status="running", filename="")
    with pytest.raises(CaptureRunning, match=f"Capture {row.pk} is still running") as raised:
        row.delete_with_files()
    assert raised.value.status_code == 409
    assert type(row).objects.filter(pk=row.pk).exists()


def test_the_database_decides_whether_it_is_running(db):
    row = make_row(status="running", filename="")
    type(row).objects.filter(pk=row.pk).update(status="ok")  # it finished after this copy was read
    assert row.delete_with_files() == (0, 0)
    assert not type(row).objects.exists()


def test_a_name_a_newer_capture_reuses_keeps_the_newer_captures_file(db):
    old = make_row(filename="shot.jpg")  # its file was deleted by hand...
    write("shot.jpg", b"new")
    make_row(filename="shot.jpg")  # ...and a new capture took the name
    assert old.delete_with_files() == (0, 0)
    assert (settings.MEDIA_ROOT / "shot.jpg").read_bytes() == b"new"


def test_a_row_deleted_meanwhile_touches_no_file(db):
    write("a.jpg")
    row = make_row(filename="a.jpg")
    type(row).objects.filter(pk=row.pk).delete()
    assert row.delete_with_files() == (0, 0)
    assert (settings.MEDIA_ROOT / "a.jpg").exists()
