"""Filling a small disk with a fast stream of captures: retention keeps the free space above the floor, the
newest captures survive, nothing unpinned outlives the maximum age, every deletion has its audit row, and after
reconcile the database and the disk agree.

The disk is a 3 MiB tmpfs where the test may mount one (root); a second run injects the free space through
capture.storage.free_bytes (tests.disk.small_disk), and runs everywhere. Bounded: 24 captures of a 1080p still
(about 100 kB each, estimated at 2.1 MB, so the floor bites after a few).
"""

from __future__ import annotations

import pytest
from django.conf import settings

from capture import storage
from capture.camera.request import CaptureRequest
from capture.camera.service import CaptureService
from capture.errors import InsufficientStorage
from capture.models import Capture, Deletion
from capture.retention import apply, reconcile
from tests.disk import file_row, small_disk

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

DISK = 3 << 20
FLOOR = 512 << 10
CAPTURES = 24
FRAME = CaptureRequest(format="jpg", width=1920, height=1080, fps=10, duration_sec=0.2)


@pytest.fixture(params=["tmpfs", "injected"])
def disk(request, monkeypatch):
    with small_disk(settings.MEDIA_ROOT, DISK, monkeypatch, tmpfs=request.param == "tmpfs") as kind:
        if kind != request.param:
            pytest.skip("cannot mount a tmpfs here (not root, or no mount permission): the injected run covers it")
        yield kind


def test_a_stream_of_captures_never_takes_the_disk_below_the_floor(disk, settings, monkeypatch):
    settings.RETENTION_MIN_FREE_BYTES = FLOOR
    settings.RETENTION_MAX_AGE_DAYS = 2
    monkeypatch.setattr(reconcile, "ORPHAN_MIN_AGE_SEC", 0)
    pinned = file_row("pinned-old.jpg", 40_000, days_old=30, pinned=True)
    old = [file_row(f"old{n}.jpg", 40_000, days_old=3 + n).pk for n in range(2)]

    taken: list[int] = []
    free_after: list[int] = []
    service = CaptureService()
    for n in range(CAPTURES):
        try:
            taken.append(service.capture(FRAME, Capture.Source.SCHEDULE).pk)
        except InsufficientStorage:
            pytest.fail(f"capture {n} refused: retention should have made room ({disk} disk)")
        free_after.append(storage.free_bytes())
        if n % 6 == 5:
            apply.sweep()  # the periodic job, between captures
        if n == CAPTURES // 2:
            (settings.MEDIA_ROOT / "dropped-by-hand.jpg").write_bytes(b"\xff\xd8" + b"x" * 1000)

    # The free space never went below the floor, and the floor did bite.
    assert min(free_after) >= FLOOR, (disk, free_after)
    deleted = set(Deletion.objects.values_list("capture_id", flat=True))
    assert deleted & set(taken), "the disk never filled: nothing was deleted for the floor"
    # The newest survive: what is left of the stream is its end.
    left = list(Capture.objects.filter(pk__in=taken).order_by("pk").values_list("pk", flat=True))
    assert len(left) >= 2 and left == taken[-len(left) :]
    # Nothing unpinned older than the maximum age; the pinned one stays.
    assert not Capture.objects.filter(pk__in=old).exists()
    assert Capture.objects.filter(pk=pinned.pk).exists() and pinned.path.exists()
    # Every deletion has its audit row, once.
    gone = set(old) | (set(taken) - set(left))
    assert deleted == gone
    assert Deletion.objects.filter(capture_id__isnull=False).count() == len(gone)
    assert set(Deletion.objects.filter(capture_id__in=old).values_list("reason", flat=True)) == {"max-age"}

    # A file lost by hand, an orphan dropped in: reconcile makes the database and the disk agree.
    Capture.objects.get(pk=left[0]).path.unlink()
    reconcile.reconcile()
    on_disk = {entry.name for entry in storage.finished_files()}
    with_files = set(Capture.objects.filter(status="ok").values_list("filename", flat=True))
    assert on_disk == with_files and "dropped-by-hand.jpg" in on_disk
    assert Capture.objects.get(pk=left[0]).status == "missing"
    assert reconcile.reconcile(dry_run=True).changes == 0
