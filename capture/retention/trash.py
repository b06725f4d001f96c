"""Restoring a deletion from the trash: its file comes back, and its capture's row with its id."""

from __future__ import annotations

from django.core import serializers
from django.db import IntegrityError, transaction
from django.utils import timezone

from capture import storage
from capture.models import Capture, Deletion, this_host
from capture.retention.reconcile import adopt


def restore(deletion: Deletion, *, by: str = "") -> Capture:
    """Put the deleted file back (under another name if a new capture took it meanwhile) with its row as it
    was (its analysis jobs are not restored); an orphan file reconcile trashed is adopted again.
    storage.NotInTrash when there is nothing to restore (purged, restored already)."""
    with storage.files_lock():
        deletion.refresh_from_db()
        if not deletion.in_trash:
            raise storage.NotInTrash(f"{deletion} is not in the trash: purged or restored already")
        if deletion.host != this_host():
            raise storage.NotInTrash(f"{deletion} is in {deletion.host}'s trash: restore it on {deletion.host}")
        name = storage.restore_from_trash(deletion.trash_key, deletion.filename)
        capture = _row_back(deletion, name) if deletion.snapshot else adopt(name)
        Deletion.objects.filter(pk=deletion.pk).update(restored_at=timezone.now(), restored_by=by)
    return capture


def _row_back(deletion: Deletion, name: str) -> Capture:
    capture = next(serializers.deserialize("json", deletion.snapshot)).object
    capture.filename = name
    try:
        with transaction.atomic():
            capture.save(force_insert=True)  # ids are never reused, so its own is free
    except IntegrityError:
        capture.pk = None
        capture.save(force_insert=True)
    return capture
