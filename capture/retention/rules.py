"""Retention rules, and which captures they choose. Choosing deletes nothing: capture.retention.apply does.

Where rules come from: the settings (RETENTION_MAX_AGE_DAYS, RETENTION_MAX_TOTAL_BYTES,
RETENTION_MIN_FREE_BYTES) are one rule covering every capture, the default; each enabled RetentionRule made in
the admin covers the captures of its camera and/or source (blank: any). How they combine, per kind of limit:

- Maximum age: the most specific rule that sets one decides, so a rule can shorten or lengthen the default
  (schedule frames 7 days, API captures 90, everything else the settings' 30). Specificity: camera and
  source > source > camera > neither; an admin rule beats the settings at equal scope; between two rules of the
  same scope the shorter age wins.
- Maximum total size: every rule is a budget for the captures it covers, and every budget must hold (the
  settings' for everything, a rule's for its part). Pinned captures count against a budget but are never
  deleted to meet it.
- Free-space floor: every rule keeps the disk's free space above its floor by deleting the captures it
  covers, highest floor first; so a high floor on schedule frames sacrifices them first, while other captures
  go only below the settings' lower floor. A new capture is refused (507) if it would leave less free space
  than the highest floor among the rules that cover it.

Never chosen: pinned captures, running captures, another host's captures. Always oldest first (by when they
were requested), so the newest survive. Rules are shared by every host on the database, but each host applies
them to its own captures, on its own disk: its budgets count only its captures, its floors its own free space.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet, Sum

from capture.hot_queries import first_row
from capture.models import Capture, Deletion, RetentionRule

SETTINGS_SPECIFICITY = -1


@dataclass(frozen=True)
class Rule:
    label: str
    camera: int | None = None
    source: str = ""
    max_age_days: float | None = None
    max_total_bytes: int | None = None
    min_free_bytes: int | None = None
    specificity: int = SETTINGS_SPECIFICITY

    def covers(self, camera: int, source: str) -> bool:
        return (self.camera is None or self.camera == camera) and (not self.source or self.source == source)

    def scope(self) -> Q:
        q = Q()
        if self.camera is not None:
            q &= Q(camera_index=self.camera)
        if self.source:
            q &= Q(source=self.source)
        return q


@dataclass(frozen=True)
class Doomed:
    """A capture a rule chose: why (Deletion.Reason) and which rule."""

    capture_id: int
    reason: str
    rule: str
    size_bytes: int = 0
    camera: int = 0
    source: str = ""


def settings_rule() -> Rule:
    return Rule(
        label="settings",
        max_age_days=settings.RETENTION_MAX_AGE_DAYS or None,
        max_total_bytes=settings.RETENTION_MAX_TOTAL_BYTES or None,
        min_free_bytes=settings.RETENTION_MIN_FREE_BYTES or None,
    )


def admin_rule(row: RetentionRule) -> Rule:
    specificity = (2 if row.source else 0) + (1 if row.camera_index is not None else 0)
    return Rule(
        label=f"rule #{row.pk} “{row.name}”",
        camera=row.camera_index,
        source=row.source,
        max_age_days=row.max_age_days or None,
        max_total_bytes=row.max_total_bytes or None,
        min_free_bytes=row.min_free_bytes or None,
        specificity=specificity,
    )


def all_rules() -> list[Rule]:
    """The settings' rule and every enabled admin rule (one query)."""
    if (
        first_row(("retention_rules_enabled",), lambda: RetentionRule.objects.filter(enabled=True).values_list("pk"))
        is None
    ):
        return [settings_rule()]  # most Pis: asked at every capture, at the cost of the query alone
    return [settings_rule(), *(admin_rule(row) for row in RetentionRule.objects.filter(enabled=True))]


def deletable() -> QuerySet[Capture]:
    """What retention may ever delete here: this host's captures, not pinned, not being taken."""
    return Capture.objects.on_host().filter(pinned=False).exclude(status=Capture.Status.RUNNING)


def _with_files() -> Q:
    return Q(status=Capture.Status.OK, size_bytes__isnull=False)


def _oldest_first(queryset: QuerySet[Capture]) -> QuerySet[Capture]:
    return queryset.order_by("requested_at", "id")


# --- Maximum age ---------------------------------------------------------------------------------------------


def age_rule_for(camera: int, source: str, rules: Iterable[Rule]) -> Rule | None:
    """The rule whose maximum age applies to a capture of this camera and source (None: kept forever)."""
    candidates = [rule for rule in rules if rule.max_age_days and rule.covers(camera, source)]
    if not candidates:
        return None
    return max(candidates, key=lambda rule: (rule.specificity, -rule.max_age_days))


def expired(rules: list[Rule], now: datetime, *, limit: int | None = None) -> list[Doomed]:
    """Captures older than the maximum age that applies to each, oldest first (at most `limit`)."""
    ages = [rule.max_age_days for rule in rules if rule.max_age_days]
    if not ages:
        return []
    # Only captures older than the shortest age can be expired: one indexed range, usually empty.
    candidates = _oldest_first(deletable().filter(requested_at__lt=now - timedelta(days=min(ages))))
    decided: dict[tuple[int, str], Rule | None] = {}
    doomed = []
    for pk, camera, source, requested_at, size in candidates.values_list(
        "pk", "camera_index", "source", "requested_at", "size_bytes"
    ).iterator():
        key = (camera, source)
        if key not in decided:
            decided[key] = age_rule_for(camera, source, rules)
        rule = decided[key]
        if rule is None or requested_at >= now - timedelta(days=rule.max_age_days):
            continue
        label = f"{rule.label}: max age {rule.max_age_days:g} days"
        doomed.append(Doomed(pk, Deletion.Reason.MAX_AGE, label, size or 0, camera, source))
        if limit is not None and len(doomed) >= limit:
            break
    return doomed


# --- Maximum total size ---------------------------------------------------------------------------------------


def over_budget(rules: list[Rule], already: Iterable[Doomed] = ()) -> list[Doomed]:
    """The oldest deletable captures to delete so that every budget holds, counting `already` as gone."""
    gone = {doomed.capture_id: doomed for doomed in already}
    doomed: list[Doomed] = []
    for rule in rules:
        if not rule.max_total_bytes:
            continue
        in_scope = Capture.objects.on_host().filter(rule.scope() & _with_files())
        total = sum(in_scope.values_list("size_bytes", flat=True).iterator())
        total -= sum(d.size_bytes for d in gone.values() if rule.covers(d.camera, d.source))
        if total <= rule.max_total_bytes:
            continue
        label = f"{rule.label}: max total {rule.max_total_bytes} bytes"
        for pk, size, camera, source in _oldest_first(deletable().filter(rule.scope() & _with_files())).values_list(
            "pk", "size_bytes", "camera_index", "source"
        ):
            if total <= rule.max_total_bytes:
                break
            if pk in gone:
                continue
            chosen = Doomed(pk, Deletion.Reason.MAX_TOTAL, label, size, camera, source)
            gone[pk] = chosen
            doomed.append(chosen)
            total -= size
    return doomed


# --- Free-space floor --------------------------------------------------------------------------------------


def floor_rules(rules: Iterable[Rule]) -> list[Rule]:
    """Rules with a floor, highest first (the order they free space in)."""
    return sorted((rule for rule in rules if rule.min_free_bytes), key=lambda rule: -rule.min_free_bytes)


def floor_for(camera: int, source: str, rules: Iterable[Rule]) -> Rule | None:
    """The rule with the highest floor among those covering a capture of this camera and source."""
    return next((rule for rule in floor_rules(rules) if rule.covers(camera, source)), None)


def reclaimable_bytes(rules: list[Rule]) -> int:
    """What deleting every capture some floor covers would free at most, by the rows' sizes."""
    scopes = [rule.scope() for rule in floor_rules(rules)]
    if not scopes:
        return 0
    # A rule for every capture has an empty scope, Q(), which an OR would drop: it covers everything instead.
    covered = Q() if any(not scope for scope in scopes) else Q(*scopes, _connector=Q.OR)
    return deletable().filter(covered & _with_files()).aggregate(total=Sum("size_bytes"))["total"] or 0


def for_free_space(rules: list[Rule], free: int, need: int = 0) -> list[Doomed]:
    """The oldest deletable captures to delete so that, once `need` more bytes are written, the free space is
    still above every rule's floor (by the rows' sizes: the caller measures again after deleting)."""
    doomed: list[Doomed] = []
    chosen: set[int] = set()
    for rule in floor_rules(rules):
        target = rule.min_free_bytes + need
        if free >= target:
            continue
        label = f"{rule.label}: min free {rule.min_free_bytes} bytes"
        rows = _oldest_first(deletable().filter(rule.scope() & _with_files()))
        for pk, size, camera, source in rows.values_list("pk", "size_bytes", "camera_index", "source").iterator():
            if free >= target:
                break
            if pk in chosen:
                continue
            chosen.add(pk)
            doomed.append(Doomed(pk, Deletion.Reason.MIN_FREE, label, size, camera, source))
            free += size
    return doomed
