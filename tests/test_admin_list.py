"""The admin's capture list: columns, filters, search, pages, the summary, and its cost with many rows."""

from __future__ import annotations

import re
import subprocess
from datetime import datetime, timedelta
from urllib.parse import quote

import pytest
from django.db import connection
from django.template.defaultfilters import filesizeformat
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from capture.models import Capture
from capture.summary import capture_summary
from tests.captures import make_row, row_fields, take

URL = "/admin/capture/capture/"


def rows_on_page(response) -> int:
    return len(re.findall(r'<tr>\s*<td class="action-checkbox">', response.content.decode()))


def test_it_needs_a_staff_login(client, db):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_each_row_shows_the_capture_at_a_glance(admin_client):
    capture = take("mp4", width=320, height=240, duration=1)
    failed = make_row(format="h264", status="failed", filename="", error="rpicam-vid failed: no camera", total_ms=42)
    page = admin_client.get(URL).content.decode()

    thumb = f"/admin/capture/capture/{capture.pk}/thumbnail/small.jpg"
    assert re.search(rf'<img class="capture-thumb" src="{thumb}" width="112" height="84" loading="lazy"', page)
    assert f'<a href="/uploads/{capture.filename}">{capture.filename}</a>' in page
    assert '<td class="field-format_label">MP4</td>' in page
    assert '<td class="field-resolution">320×240</td>' in page
    assert '<td class="field-fps">10</td>' in page
    assert '<td class="field-duration">1 s</td>' in page
    assert '<span class="capture-status capture-status-ok" title="">ok</span>' in page
    assert f'<td class="field-total_ms">{capture.total_ms}</td>' in page
    assert '<td class="field-source_name">api</td>' in page
    local = timezone.localtime(capture.requested_at)
    assert f'<td class="field-created">{local:%Y-%m-%d}<br><span class="capture-time">{local:%H:%M:%S}</span>' in page
    assert f'<td class="field-size">{filesizeformat(capture.size_bytes)}</td>' in page

    # A failed capture has no file: no thumbnail request, no link, and its error on hover.
    assert '<span class="capture-thumb capture-thumb-none">no file</span>' in page
    assert f"/admin/capture/capture/{failed.pk}/thumbnail/" not in page
    assert '<span class="capture-status capture-status-failed" title="rpicam-vid failed: no camera">' in page


def test_there_is_no_add_button_but_a_take_a_capture_button(admin_client, db):
    page = admin_client.get(URL).content.decode()
    assert "/admin/capture/capture/add/" not in page
    assert '<a href="/admin/capture/capture/take/" class="addlink" id="take-capture">Take a capture</a>' in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("format__exact=mp4", {"v.mp4"}),
        ("status__exact=failed", {"f.h264"}),
        ("source=admin", {"a.jpg"}),
        ("backend__exact=rpicam", {"a.jpg"}),
        ("q=v.mp", {"v.mp4"}),
        ("requested_at__gte={today}", {"a.jpg", "v.mp4"}),  # the date filter's "Today"
        ("requested_at__year={last_year}", {"f.h264"}),  # the date hierarchy
    ],
)
def test_filters_search_and_date_hierarchy(admin_client, db, query, expected):
    now = timezone.now()
    make_row(filename="a.jpg", source="admin", backend="rpicam", requested_at=now)
    make_row(filename="v.mp4", format="mp4", requested_at=now)
    make_row(filename="f.h264", format="h264", status="failed", requested_at=now - timedelta(days=400))
    midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    query = query.format(today=quote(str(midnight)), last_year=midnight.year - 1)
    page = admin_client.get(f"{URL}?{query}")
    shown = set(re.findall(r'<a href="/uploads/([^"]+)">', page.content.decode()))
    assert shown == expected


def test_the_filters_offer_format_status_source_and_date(admin_client, db):
    page = admin_client.get(URL).content.decode()
    for title in ("By format", "By status", "By source", "By date"):
        assert title in page
    assert '<a href="?source=api-analyze">api-analyze</a>' in page
    assert '<nav class="toplinks">' in page  # the date hierarchy


def test_the_list_is_paginated_by_50(admin_client, db):
    Capture.objects.bulk_create([Capture(**row_fields(filename=f"c{i}.jpg")) for i in range(120)])
    assert rows_on_page(admin_client.get(URL)) == 50
    assert rows_on_page(admin_client.get(URL + "?p=3")) == 20


def test_thousands_of_rows_cost_the_same_few_queries_as_a_handful(admin_client, db):
    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(URL).status_code == 200
        return len(queries)

    Capture.objects.bulk_create([Capture(**row_fields(filename=f"few{i}.jpg")) for i in range(3)])
    few = queries_for_list()
    now = timezone.now()
    Capture.objects.bulk_create(
        [
            Capture(**row_fields(filename=f"many{i}.mp4", format="mp4", requested_at=now - timedelta(hours=i % 500)))
            for i in range(3000)
        ]
    )
    many = queries_for_list()
    assert many == few  # nothing per row
    # session, user, 2 counts, a page of rows, date hierarchy 2, filters' choices 3 (backend, host, schedule),
    # summary 2
    assert many <= 13


def test_rendering_the_list_runs_no_subprocess(admin_client, db, monkeypatch):
    Capture.objects.bulk_create([Capture(**row_fields(filename=f"c{i}.mp4", format="mp4")) for i in range(60)])

    def no_subprocess(*args, **kwargs):
        raise AssertionError("the list page started a process")

    monkeypatch.setattr(subprocess, "Popen", no_subprocess)
    response = admin_client.get(URL)
    assert response.status_code == 200
    assert rows_on_page(response) == 50


# --- The summary ---

NOON = timezone.make_aware(datetime(2026, 3, 10, 12, 0))


def test_the_summary_counts_today_the_failure_rate_and_the_median(db):
    for total_ms, status in [(100, "ok"), (200, "ok"), (900, "ok"), (50, "failed"), (None, "running")]:
        make_row(requested_at=NOON - timedelta(hours=1), total_ms=total_ms, status=status)
    make_row(requested_at=NOON - timedelta(days=1), total_ms=400)  # yesterday
    make_row(requested_at=NOON - timedelta(days=3), status="timeout", total_ms=5000)
    make_row(requested_at=NOON - timedelta(days=10), status="failed")  # outside the 7 days, inside the chart
    make_row(requested_at=NOON - timedelta(days=30), total_ms=1)  # outside everything
    make_row(requested_at=NOON + timedelta(days=1), total_ms=1)  # tomorrow (a clock that jumped)

    summary = capture_summary(NOON)

    assert (summary.today.total, summary.today.ok, summary.today.failed) == (5, 3, 1)
    assert (summary.week_failed, summary.week_finished) == (2, 6)
    assert summary.failure_rate == pytest.approx(100 * 2 / 6)
    assert summary.median_ms == 300  # of 100, 200, 400, 900
    assert summary.median_of == 4
    assert len(summary.days) == 14 and summary.days[-1].day == NOON.date()
    assert [d.ok + d.failed for d in summary.days].count(0) == 14 - 4
    assert summary.days[-1].ok_height + summary.days[-1].failed_height == 100  # the busiest day fills the chart
    assert summary.days[-1].ok_height == 75
    assert summary.days[-4].failed_height == pytest.approx(100 / 4, abs=0.1)


def test_the_median_of_an_odd_count_is_the_middle_one(db):
    for total_ms in (300, 100, 200):
        make_row(requested_at=NOON, total_ms=total_ms)
    assert capture_summary(NOON).median_ms == 200


def test_an_empty_summary_says_so(admin_client, db):
    summary = capture_summary()
    assert summary.failure_rate is None and summary.median_ms is None and summary.today.total == 0
    page = admin_client.get(URL).content.decode()
    assert '<div class="capture-card-value" id="summary-failure-rate">—</div>' in page
    assert "no finished captures" in page


def test_the_summary_is_on_top_of_the_list(admin_client, db):
    now = timezone.now()
    make_row(requested_at=now, total_ms=1200)
    make_row(requested_at=now, total_ms=1400)
    make_row(requested_at=now, status="failed", total_ms=10)
    make_row(requested_at=now, status="failed", total_ms=10)
    page = admin_client.get(URL).content.decode()
    assert '<div class="capture-card-value" id="summary-today">4</div>' in page
    assert 'id="summary-failure-rate">50%</div>' in page
    assert '<div class="capture-card-value" id="summary-median">1300 ms</div>' in page
    assert page.index('class="capture-summary"') < page.index('id="result_list"')


def test_days_are_the_local_time_zones_days(db, settings):
    settings.TIME_ZONE = "Pacific/Auckland"  # UTC+13 in March: local midnight is 11:00 UTC the day before
    zone = timezone.get_current_timezone()
    noon = datetime(2026, 3, 10, 12, 0, tzinfo=zone)
    make_row(requested_at=datetime(2026, 3, 10, 0, 30, tzinfo=zone), total_ms=100)  # 11:30 UTC on the 9th
    make_row(requested_at=datetime(2026, 3, 9, 23, 30, tzinfo=zone), total_ms=100, status="failed")
    summary = capture_summary(noon)
    assert (summary.today.day.isoformat(), summary.today.ok, summary.today.failed) == ("2026-03-10", 1, 0)
    assert (summary.days[-2].ok, summary.days[-2].failed) == (0, 1)
