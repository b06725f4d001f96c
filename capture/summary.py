"""The numbers at the top of the admin's capture list: today's captures, the failure rate, the median time.

Two queries whatever the number of rows: per-day counts for the chart (from which today and the week are
summed), and the median, read with LIMIT/OFFSET since SQLite has no median aggregate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from capture.models import Capture

CHART_DAYS = 14
RATE_DAYS = 7
UNSUCCESSFUL = [Capture.Status.FAILED, Capture.Status.TIMEOUT, Capture.Status.INTERRUPTED]


@dataclass
class Day:
    day: date
    ok: int = 0
    failed: int = 0
    total: int = 0  # includes running ones
    timed_ok: int = 0  # ok captures with a total_ms
    ok_height: float = 0  # bar heights, percent of the busiest day
    failed_height: float = 0


@dataclass
class Summary:
    today: Day
    days: list[Day]
    week_finished: int
    week_failed: int
    median_ms: float | None
    median_of: int

    @property
    def failure_rate(self) -> float | None:
        return 100 * self.week_failed / self.week_finished if self.week_finished else None


def capture_summary(now: datetime | None = None) -> Summary:
    zone = timezone.get_current_timezone()
    today = timezone.localdate(now, zone)
    first = today - timedelta(days=CHART_DAYS - 1)
    tomorrow = today + timedelta(days=1)
    counted = (
        Capture.objects.filter(requested_at__gte=_start_of(first), requested_at__lt=_start_of(tomorrow))
        .annotate(day=TruncDate("requested_at", tzinfo=zone))
        .values("day")
        .annotate(
            total=Count("id"),
            ok=Count("id", filter=Q(status=Capture.Status.OK)),
            failed=Count("id", filter=Q(status__in=UNSUCCESSFUL)),
            timed_ok=Count("total_ms", filter=Q(status=Capture.Status.OK)),
        )
        .order_by()
    )
    by_day = {row["day"]: row for row in counted}
    days = [Day(first + timedelta(days=n)) for n in range(CHART_DAYS)]
    for day in days:
        row = by_day.get(day.day, {})
        day.ok, day.failed, day.total, day.timed_ok = (row.get(k, 0) for k in ("ok", "failed", "total", "timed_ok"))
    busiest = max((day.ok + day.failed for day in days), default=0) or 1
    for day in days:
        day.ok_height = round(100 * day.ok / busiest, 1)
        day.failed_height = round(100 * day.failed / busiest, 1)

    week = days[-RATE_DAYS:]
    timed = sum(day.timed_ok for day in week)
    return Summary(
        today=days[-1],
        days=days,
        week_finished=sum(day.ok + day.failed for day in week),
        week_failed=sum(day.failed for day in week),
        median_ms=_median_total_ms(_start_of(week[0].day), _start_of(tomorrow), timed),
        median_of=timed,
    )


def _median_total_ms(since: datetime, until: datetime, count: int) -> float | None:
    if not count:
        return None
    middle = list(
        Capture.objects.filter(
            requested_at__gte=since, requested_at__lt=until, status=Capture.Status.OK, total_ms__isnull=False
        )
        .order_by("total_ms")
        .values_list("total_ms", flat=True)[(count - 1) // 2 : count // 2 + 1]
    )
    return sum(middle) / len(middle) if middle else None


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())
