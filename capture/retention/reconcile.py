"""Reconcile: make the upload directory and the capture rows agree.

- A finished file without a row (a crash between deleting a row and its file, a file copied in by hand) is
  adopted as a capture with source `adopted` (RECONCILE_ORPHANS=adopt, the default: nothing is lost), or moved
  to the trash with a Deletion (RECONCILE_ORPHANS=trash). A file whose name says no capture format (notes.txt)
  is only reported in adopt mode. Files changed in the last ORPHAN_MIN_AGE_SEC are left for the next run: a
  capture's file is published a moment before its row is written.
- A row whose file is gone is marked `missing`; a `missing` row whose file is back is `ok` again.
- A file whose capture another server deleted (the central admin, on a shared database: it removes the row and
  the bucket's objects, never this host's files) goes to this host's trash under that deletion, restorable,
  whatever RECONCILE_ORPHANS says: the capture was deleted on purpose, so it is not adopted back.

Hidden entries (files being written, thumbnails, the trash) are never looked at. Only this host's rows are
compared with this host's upload directory: on a shared database, another host's rows name files on its disk.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace

from django.conf import settings
from django.utils import timezone

from capture import storage
from capture.formats import format_of
from capture.lib.media_size import pixel_size
from capture.models import Capture, Deletion

ORPHAN_MIN_AGE_SEC = 600


@dataclass
class Report:
    dry_run: bool
    orphans: str  # adopt | trash
    adopted: list[str] = field(default_factory=list)
    trashed: list[str] = field(default_factory=list)
    not_captures: list[str] = field(default_factory=list)
    too_new: list[str] = field(default_factory=list)
    missing: list[tuple[int, str]] = field(default_factory=list)
    found: list[tuple[int, str]] = field(default_factory=list)
    deleted_elsewhere: list[tuple[int, str]] = field(default_factory=list)  # (deletion id, file name)

    @property
    def changes(self) -> int:
        return len(self.adopted) + len(self.trashed) + len(self.missing) + len(self.found) + len(self.deleted_elsewhere)

    def lines(self) -> list[str]:
        would = "would " if self.dry_run else ""
        out = [f"{would}adopt {name}" for name in self.adopted]
        out += [f"{would}move to the trash {name} (no capture row)" for name in self.trashed]
        out += [
            f"{would}move to the trash {name} (its capture was deleted on another server: deletion #{pk})"
            for pk, name in self.deleted_elsewhere
        ]
        out += [f"left alone {name}: not a capture format" for name in self.not_captures]
        out += [f"left for the next run {name}: changed less than {ORPHAN_MIN_AGE_SEC} s ago" for name in self.too_new]
        out += [f"{would}mark capture #{pk} missing: {name} is gone" for pk, name in self.missing]
        out += [f"{would}mark capture #{pk} ok again: {name} is back" for pk, name in self.found]
        return out or ["the upload directory and the database agree"]


def reconcile(*, dry_run: bool = False, orphans: str | None = None) -> Report:
    """Compare the upload directory with the rows and fix what differs (or only say so, `dry_run`)."""
    report = Report(dry_run=dry_run, orphans=orphans or settings.RECONCILE_ORPHANS)
    with storage.files_lock():
        on_disk = {entry.name: entry for entry in storage.finished_files()}
        mine = Capture.objects.on_host()
        named = set(mine.exclude(filename="").values_list("filename", flat=True))
        now = time.time()
        orphan_names = sorted(on_disk.keys() - named)
        waiting = _deleted_elsewhere(orphan_names)
        for name in orphan_names:
            if now - on_disk[name].stat(follow_symlinks=False).st_ctime < ORPHAN_MIN_AGE_SEC:
                report.too_new.append(name)
            elif name in waiting:
                report.deleted_elsewhere.append((waiting[name], name))
            elif report.orphans == "trash":
                report.trashed.append(name)
            elif format_of(name) is None:
                report.not_captures.append(name)
            else:
                report.adopted.append(name)
        with_file = mine.filter(status=Capture.Status.OK).exclude(filename="")
        report.missing = [(pk, name) for pk, name in with_file.values_list("pk", "filename") if name not in on_disk]
        gone = mine.filter(status=Capture.Status.MISSING)
        report.found = [(pk, name) for pk, name in gone.values_list("pk", "filename") if name in on_disk]
        if not dry_run:
            _fix(report)
    return report


def adopt(name: str) -> Capture:
    """A row for the finished file `name`, as if it had been captured when it was last written."""
    path = storage.finished_file(name)
    stat = path.stat()
    when = datetime.fromtimestamp(stat.st_mtime, tz=UTC)
    width, height = pixel_size(path) or (None, None)
    fmt = format_of(name)
    return Capture.objects.create(
        format=fmt.name if fmt else "",
        width=width or 0,
        height=height or 0,
        fps=0,
        duration_sec=0,
        filename=name,
        status=Capture.Status.OK,
        source=Capture.Source.ADOPTED,
        backend="",
        size_bytes=stat.st_size,
        file_width=width,
        file_height=height,
        requested_at=when,
        started_at=when,
        finished_at=when,
    )


def _deleted_elsewhere(names: list[str]) -> dict[str, int]:
    """This host's captures deleted without their file (by another server; or here, the file already gone), not
    purged or restored, by file name: the newest deletion of each name."""
    deletions = Deletion.objects.on_host().filter(
        filename__in=names,
        capture_id__isnull=False,
        files=0,
        trash_key="",
        purged_at__isnull=True,
        restored_at__isnull=True,
    )
    return dict(deletions.order_by("deleted_at", "id").values_list("filename", "pk"))


def _fix(report: Report) -> None:
    for name in report.adopted:
        adopt(name)
    for name in report.trashed:
        _trash_orphan(name)
    for pk, name in report.deleted_elsewhere:
        _take_for(Deletion.objects.get(pk=pk), name)
    if report.missing:
        error = f"File gone: reconcile found no file at {timezone.now():%Y-%m-%d %H:%M} UTC"
        Capture.objects.filter(pk__in=[pk for pk, _ in report.missing], status=Capture.Status.OK).update(
            status=Capture.Status.MISSING, error=error
        )
    if report.found:
        Capture.objects.filter(pk__in=[pk for pk, _ in report.found], status=Capture.Status.MISSING).update(
            status=Capture.Status.OK, error=""
        )


def _trash_orphan(name: str) -> None:
    deletion = Deletion.objects.create(
        filename=name, reason=Deletion.Reason.RECONCILE, rule="reconcile: a file without a capture row", by="reconcile"
    )
    _take_for(deletion, name)


def _take_for(deletion: Deletion, name: str) -> None:
    """Move the file `name` and its thumbnails to the trash under `deletion`, and record what went."""
    deletion.trash_key = str(deletion.pk)
    removed = storage.trash_capture_files(SimpleNamespace(filename=name), deletion.trash_key)
    deletion.files, deletion.thumbnails, deletion.size_bytes = removed.files, removed.thumbnails, removed.size_bytes
    deletion.save(update_fields=["trash_key", "files", "thumbnails", "size_bytes"])
