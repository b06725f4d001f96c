"""Applying the rules: deleting what capture.retention.rules chose, the trash's purge, and the 507.

Every deletion goes through Capture.delete_with_files(), so it is recorded as a Deletion. Deletions for age and
total size go to the trash (restorable for TRASH_RETENTION_DAYS); deletions for the free-space floor are purged
at once, since the trash is on the same disk and would free nothing, and the trash itself is emptied (oldest
first) before any capture is deleted for the floor.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from capture import storage
from capture.camera.request import CaptureRequest
from capture.errors import CaptureRunning, InsufficientStorage
from capture.models import Capture, Deletion
from capture.retention.rules import (
    Doomed,
    Rule,
    all_rules,
    expired,
    floor_for,
    floor_rules,
    for_free_space,
    over_budget,
    reclaimable_bytes,
)
from capture.retention.space import estimate_bytes

log = logging.getLogger(__name__)

# Deletions by age before one capture: the periodic sweep does the rest, so a changed rule never stalls a capture.
BEFORE_CAPTURE_BATCH = 50
# Rounds of "delete by the rows' sizes, measure again" for the floor (a row's size may not be what the disk frees).
FLOOR_ROUNDS = 5


def delete(doomed: Iterable[Doomed], *, purge: bool = False) -> int:
    """Delete the chosen captures (trash, or purged at once) with their audit rows; return how many went."""
    deleted = 0
    for chosen in doomed:
        try:
            Capture(pk=chosen.capture_id).delete_with_files(reason=chosen.reason, rule=chosen.rule, purge=purge)
        except CaptureRunning:
            continue  # started again? never mind: the next sweep decides
        deleted += 1
    if deleted:
        log.info("retention deleted %d capture(s)%s", deleted, " (purged: free-space floor)" if purge else "")
    return deleted


def sweep(now: datetime | None = None) -> dict[str, int]:
    """The periodic job: every rule, then the trash's purge. Returns counts by reason, and `purged`."""
    now = now or timezone.now()
    rules = all_rules()
    counts: Counter[str] = Counter()
    aged = expired(rules, now)
    counts[Deletion.Reason.MAX_AGE] += delete(aged)
    counts[Deletion.Reason.MAX_TOTAL] += delete(over_budget(rules, aged))
    counts[Deletion.Reason.MIN_FREE] += make_room(rules)[1]
    counts["purged"] = purge_expired_trash(now)
    return dict(counts)


def before_capture(request: CaptureRequest, source: str) -> None:
    """Before the camera starts: delete what has aged out, make room by the floors, and refuse with
    InsufficientStorage (507) a capture that would still take the free space below its floor."""
    rules = all_rules()
    delete(expired(rules, timezone.now(), limit=BEFORE_CAPTURE_BATCH))
    floor = floor_for(request.camera, source, rules)
    if floor is None:
        return
    need = estimate_bytes(request)
    free, _ = make_room(rules, need, floor=floor.min_free_bytes)
    if free - need < floor.min_free_bytes:
        raise InsufficientStorage(
            f"Insufficient storage: {_size(free)} free in {settings.MEDIA_ROOT}, and this capture may take up to "
            f"{_size(need)}, which would leave less than the floor of {_size(floor.min_free_bytes)} "
            f"({_floor_name(floor)}). Retention can't make that room with the captures it may delete (pinned ones are "
            "kept, and none is deleted when deleting them all would still not be enough)."
        )


def make_room(rules: list[Rule], need: int = 0, floor: int | None = None) -> tuple[int, int]:
    """Free space until every floor holds with `need` more bytes written: the trash first, then the oldest
    captures each floor covers. Returns (free bytes now, captures deleted).

    Nothing is deleted when even deleting all it may could not bring the free space to `floor` (the capture's
    own floor; for the sweep, the lowest): a floor set too high, or a disk filled by something else, must not
    empty the card in vain."""
    floors = floor_rules(rules)
    free = storage.free_bytes()
    if not floors or free >= floors[0].min_free_bytes + need:
        return free, 0
    floor = floors[-1].min_free_bytes if floor is None else floor
    if free + storage.trash_bytes() + reclaimable_bytes(rules) < floor + need:
        log.warning(
            "retention: the free-space floor of %s can't be reached by deleting captures; none deleted", _size(floor)
        )
        return free, 0
    free = _purge_trash_until(floors[0].min_free_bytes + need, free)
    deleted = 0
    for _ in range(FLOOR_ROUNDS):
        doomed = for_free_space(rules, free, need)
        if not doomed:
            break
        deleted += delete(doomed, purge=True)
        free = storage.free_bytes()
    return free, deleted


def purge_expired_trash(now: datetime | None = None) -> int:
    """Purge what has waited in this host's trash for TRASH_RETENTION_DAYS, and folders no deletion of this
    host claims (a crash between moving a file and recording it); return how many deletions were purged."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.TRASH_RETENTION_DAYS)
    due = list(Deletion.objects.on_host().in_trash().filter(deleted_at__lt=cutoff))
    for deletion in due:
        _purge(deletion)
    waiting = set(Deletion.objects.on_host().in_trash().values_list("trash_key", flat=True))
    for key in storage.trash_keys():
        folder = storage.trash_root() / key
        if key not in waiting and folder.stat().st_mtime < cutoff.timestamp():
            storage.purge_trash(key)
    return len(due)


def _purge_trash_until(target: int, free: int) -> int:
    for deletion in Deletion.objects.on_host().in_trash().order_by("deleted_at", "id"):
        if free >= target:
            break
        _purge(deletion)
        free = storage.free_bytes()
    return free


def _purge(deletion: Deletion) -> None:
    storage.purge_trash(deletion.trash_key)
    Deletion.objects.filter(pk=deletion.pk, purged_at__isnull=True).update(purged_at=timezone.now())


def _floor_name(rule: Rule) -> str:
    return "RETENTION_MIN_FREE_BYTES" if rule.label == "settings" else rule.label


def _size(size: int) -> str:
    return f"{filesizeformat(size)} ({size} bytes)".replace("\xa0", " ")
