"""When a schedule runs: every N seconds, a cron expression, or every N seconds inside a daylight window.

Pure functions of a `When` and moments in time (no database, no settings), so the tricky cases (a DST change,
the poles, a worker that was down for a day) are tested directly. Cron expressions come from cronsim (the
parser healthchecks uses), sunrise and sunset from astral; both work on the local time of `tz`, so "0 12 * * *"
is noon on both sides of a DST change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

import astral
import astral.sun
from cronsim import CronSim, CronSimError

# A daylight window may be months away (the polar night): look this many days ahead, then give up.
DAYLIGHT_SEARCH_DAYS = 370
# Counting missed runs of a cron or daylight schedule stops here (an interval's are counted by arithmetic).
MAX_COUNTED_MISSES = 100_000

__all__ = ["CronSimError", "When", "count_missed", "daylight_window", "next_run", "validate_cron"]


@dataclass(frozen=True)
class When:
    """The timing part of a schedule. Exactly one rule applies: `cron`, else `daylight` (runs every `every_sec`
    from sunrise + sunrise_offset_min to sunset + sunset_offset_min), else every `every_sec` from `anchor`."""

    anchor: datetime  # interval runs are anchor + k * every_sec
    tz: tzinfo  # cron expressions and daylight days are in this zone
    every_sec: int | None = None
    cron: str = ""
    daylight: bool = False
    sunrise_offset_min: int = 0
    sunset_offset_min: int = 0
    latitude: float | None = None
    longitude: float | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None


def validate_cron(expression: str) -> None:
    """CronSimError (with cronsim's message) unless `expression` is a cron expression."""
    CronSim(expression, datetime(2000, 1, 1))


def next_run(when: When, after: datetime, *, inclusive: bool = False) -> datetime | None:
    """The first run after `after` (or at it, if `inclusive`), not before start_at; None past end_at or when
    there is none to find (no daylight within DAYLIGHT_SEARCH_DAYS)."""
    if when.start_at is not None and after < when.start_at:
        after, inclusive = when.start_at, True
    if when.cron:
        # cronsim's runs are strictly after the moment it is given, to the minute.
        start = after - timedelta(microseconds=1) if inclusive else after
        found = next(CronSim(when.cron, start.astimezone(when.tz)))
    elif when.daylight:
        # Without a place (LATITUDE/LONGITUDE unset since the schedule was made) there is no daylight to find.
        found = None if when.latitude is None else _next_daylight_run(when, after, inclusive)
    else:
        found = _next_interval_run(when.anchor, when.every_sec, after, inclusive)
    if found is None or (when.end_at is not None and found > when.end_at):
        return None
    # In UTC: Python subtracts and adds aware datetimes of one zone by the wall clock, wrong across DST.
    return found.astimezone(UTC)


def count_missed(when: When, slot: datetime, now: datetime) -> tuple[int, datetime | None]:
    """Runs from `slot` (included) up to `now` that can no longer be taken on time: how many, and the first
    run at or after `now`. A worker that was down for a day skips a day of frames, it doesn't burst them."""
    if not when.cron and not when.daylight:
        upcoming = next_run(when, now, inclusive=True)
        stop = min(now, upcoming) if upcoming else now
        return max(1, math.ceil((stop - slot).total_seconds() / when.every_sec)), upcoming
    missed, run = 0, slot
    while run is not None and run < now and missed < MAX_COUNTED_MISSES:
        missed += 1
        run = next_run(when, run)
    if run is not None and run < now:
        run = next_run(when, now, inclusive=True)
    return max(1, missed), run


def _next_interval_run(anchor: datetime, every_sec: int, after: datetime, inclusive: bool) -> datetime:
    if after < anchor or (inclusive and after == anchor):
        return anchor
    elapsed = (after - anchor).total_seconds()
    steps = math.ceil(elapsed / every_sec) if inclusive else math.floor(elapsed / every_sec) + 1
    return anchor + timedelta(seconds=steps * every_sec)


def daylight_window(when: When, day: date) -> tuple[datetime, datetime] | None:
    """The window of local date `day` (in UTC), offsets applied, or None without one. Where the sun neither rises nor
    sets that day, the whole day is daylight (midnight sun) or none of it is (polar night): no error."""
    observer = astral.Observer(latitude=when.latitude, longitude=when.longitude)
    midnight = datetime.combine(day, time(0), tzinfo=when.tz)
    next_midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=when.tz)
    try:
        rise = astral.sun.sunrise(observer, day, tzinfo=when.tz)
        fall = astral.sun.sunset(observer, day, tzinfo=when.tz)
    except ValueError:  # astral: "Sun never reaches the horizon on this day, at this location."
        noon = astral.sun.noon(observer, day, tzinfo=when.tz)
        if astral.sun.elevation(observer, noon) <= 0:
            return None
        rise, fall = midnight, next_midnight
    else:
        # Near the poles astral may give a sunset before the sunrise (it belongs to the next day's night).
        if fall <= rise:
            fall = next_midnight
    start = rise.astimezone(UTC) + timedelta(minutes=when.sunrise_offset_min)
    end = fall.astimezone(UTC) + timedelta(minutes=when.sunset_offset_min)
    return (start, end) if start < end else None


def _next_daylight_run(when: When, after: datetime, inclusive: bool) -> datetime | None:
    local_day = after.astimezone(when.tz).date() - timedelta(days=1)  # an offset window may reach past midnight
    for offset in range(DAYLIGHT_SEARCH_DAYS):
        window = daylight_window(when, local_day + timedelta(days=offset))
        if window is None:
            continue
        start, end = window
        found = _next_interval_run(start, when.every_sec, after, inclusive)
        if found <= end:
            return found
    return None
