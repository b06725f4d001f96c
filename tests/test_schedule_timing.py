"""When schedules run: intervals, cron across DST changes, daylight windows across DST and at the poles, and
counting what a worker that was down missed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from capture.schedules.timing import When, count_missed, daylight_window, next_run

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 3, 28, 10, 0, tzinfo=UTC)


def interval(every: int, **kwargs) -> When:
    return When(anchor=T0, tz=UTC, every_sec=every, **kwargs)


def test_interval_runs_are_anchored_and_strictly_after():
    when = interval(60)
    assert next_run(when, T0, inclusive=True) == T0
    assert next_run(when, T0) == T0 + timedelta(seconds=60)
    assert next_run(when, T0 + timedelta(seconds=61)) == T0 + timedelta(seconds=120)
    assert next_run(when, T0 + timedelta(seconds=120), inclusive=True) == T0 + timedelta(seconds=120)


def test_interval_respects_start_and_end():
    start = T0 + timedelta(hours=1)
    when = interval(60, start_at=start, end_at=start + timedelta(minutes=2))
    assert next_run(when, T0) == start
    assert next_run(when, start + timedelta(minutes=1)) == start + timedelta(minutes=2)
    assert next_run(when, start + timedelta(minutes=2)) is None


def test_cron_stays_at_local_noon_across_the_spring_dst_change():
    when = When(anchor=T0, tz=BERLIN, cron="0 12 * * *")
    saturday = next_run(when, datetime(2026, 3, 28, 9, 0, tzinfo=UTC))
    sunday = next_run(when, saturday)
    assert saturday.astimezone(BERLIN).hour == sunday.astimezone(BERLIN).hour == 12
    # Clocks went forward in between: 23 hours of real time.
    assert sunday - saturday == timedelta(hours=23)
    assert saturday.astimezone(UTC).hour == 11 and sunday.astimezone(UTC).hour == 10


def test_cron_at_a_time_the_dst_change_skips_still_runs_that_day_and_once_in_autumn():
    when = When(anchor=T0, tz=BERLIN, cron="30 2 * * *")
    spring = [next_run(when, datetime(2026, 3, 28, 12, 0, tzinfo=UTC))]
    spring.append(next_run(when, spring[0]))
    assert [run.astimezone(BERLIN).date() for run in spring] == [date(2026, 3, 29), date(2026, 3, 30)]
    autumn = [next_run(when, datetime(2026, 10, 24, 12, 0, tzinfo=UTC))]
    for _ in range(2):
        autumn.append(next_run(when, autumn[-1]))
    # 02:30 happens twice on 25 October: one run, not two.
    assert [run.astimezone(BERLIN).date() for run in autumn] == [date(2026, 10, d) for d in (25, 26, 27)]


def daylight(lat: float, lon: float, every: int = 600, tz=BERLIN, **kwargs) -> When:
    return When(anchor=T0, tz=tz, every_sec=every, daylight=True, latitude=lat, longitude=lon, **kwargs)


def test_daylight_runs_fall_inside_each_days_window_across_the_dst_change():
    when = daylight(52.52, 13.40)  # Berlin
    run = datetime(2026, 3, 27, 0, 0, tzinfo=UTC)
    days: dict[date, list[datetime]] = {}
    while run < datetime(2026, 3, 31, tzinfo=UTC):
        run = next_run(when, run)
        days.setdefault(run.astimezone(BERLIN).date(), []).append(run)
    assert len(days) >= 4
    for day, runs in days.items():
        start, end = daylight_window(when, day)
        assert all(start <= r <= end for r in runs)
        assert runs[0] == start  # the first run is at sunrise
        assert all(b - a == timedelta(seconds=600) for a, b in zip(runs, runs[1:], strict=False))
    # Sunrise by the clock jumps about an hour later when the clocks go forward.
    saturday = days[date(2026, 3, 28)][0].astimezone(BERLIN)
    sunday = days[date(2026, 3, 29)][0].astimezone(BERLIN)
    assert timedelta(minutes=50) < (sunday - sunday.replace(hour=0, minute=0)) - (
        saturday - saturday.replace(hour=0, minute=0)
    )


def test_daylight_offsets_move_the_window():
    plain = daylight(52.52, 13.40)
    early = daylight(52.52, 13.40, sunrise_offset_min=-30, sunset_offset_min=45)
    (start, end), (early_start, late_end) = (
        daylight_window(plain, date(2026, 6, 1)),
        daylight_window(early, date(2026, 6, 1)),
    )
    assert early_start == start - timedelta(minutes=30) and late_end == end + timedelta(minutes=45)


def test_polar_night_has_no_run_and_no_error_and_the_next_run_is_after_it():
    when = daylight(85.0, 0.0, tz=UTC)
    assert daylight_window(when, date(2026, 12, 21)) is None
    run = next_run(when, datetime(2026, 12, 21, tzinfo=UTC))
    assert run is not None
    # The sun comes back in late February at 85° N: the next run is then, by daylight's rules.
    assert datetime(2027, 2, 1, tzinfo=UTC) < run < datetime(2027, 4, 1, tzinfo=UTC)
    assert daylight_window(when, run.date())[0] <= run


def test_midnight_sun_runs_all_day():
    when = daylight(85.0, 0.0, every=3600, tz=UTC)
    start, end = daylight_window(when, date(2026, 6, 21))
    assert (start, end) == (datetime(2026, 6, 21, tzinfo=UTC), datetime(2026, 6, 22, tzinfo=UTC))
    assert next_run(when, datetime(2026, 6, 21, 23, 30, tzinfo=UTC)) == datetime(2026, 6, 22, tzinfo=UTC)


def test_the_south_pole_in_its_winter_reports_no_window_but_a_run_in_its_spring():
    when = daylight(-89.5, 0.0, tz=UTC)
    assert daylight_window(when, date(2026, 6, 21)) is None
    run = next_run(when, datetime(2026, 6, 21, tzinfo=UTC))
    assert datetime(2026, 9, 1, tzinfo=UTC) < run < datetime(2026, 10, 31, tzinfo=UTC)


def test_a_worker_down_for_a_minute_misses_each_interval_run_once():
    when = interval(2)
    missed, upcoming = count_missed(when, T0, T0 + timedelta(seconds=61))
    # Runs at 0, 2, ..., 60 s were due; the next one is at 62 s.
    assert missed == 31
    assert upcoming == T0 + timedelta(seconds=62)


def test_missed_cron_runs_are_counted_up_to_now():
    when = When(anchor=T0, tz=UTC, cron="*/10 * * * *")
    missed, upcoming = count_missed(when, T0, T0 + timedelta(minutes=35))
    assert missed == 4  # 10:00, 10:10, 10:20, 10:30
    assert upcoming == T0 + timedelta(minutes=40)


@pytest.mark.parametrize("tz", [UTC, BERLIN])
def test_missed_daylight_runs_resume_at_the_next_window(tz):
    when = daylight(52.52, 13.40, every=3600, tz=tz)
    first = next_run(when, datetime(2026, 6, 1, tzinfo=UTC))
    missed, upcoming = count_missed(when, first, first + timedelta(days=1, minutes=1))
    assert missed > 10
    assert upcoming > first + timedelta(days=1)
