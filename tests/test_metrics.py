"""GET /metrics: Prometheus's text format, computed from the database; a read token or an allowed address."""

from __future__ import annotations

import ipaddress

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from capture import prometheus
from capture.models import AnalysisJob, ApiToken, Capture, Event, EventDelivery

CAPTURE = {"format": "jpg", "width": 320, "height": 240, "durationSec": 0.2}


def samples(text: str) -> dict[tuple, float]:
    """{(sample name, sorted label items): value}"""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(api, **extra) -> dict[tuple, float]:
    response = api.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return samples(response.content.decode())


def make_capture(status: str, fmt: str = "jpg", total_ms: int = 1500, camera: int = 0, source: str = "api") -> Capture:
    return Capture.objects.create(
        format=fmt, width=1, height=1, fps=1, duration_sec=1, requested_at=timezone.now(), status=status,
        total_ms=total_ms, camera_index=camera, source=source,
    )  # fmt: skip


def test_it_counts_captures_by_camera_status_format_and_source(api, post_json):
    for _ in range(2):
        assert post_json("/api/camera/capture", CAPTURE).status_code == 200
    make_capture("failed", fmt="mp4", camera=1, source="cli")
    got = scrape(api)
    ok = ("camsite_captures", (("camera", "0"), ("format", "jpg"), ("source", "api"), ("status", "ok")))
    failed = ("camsite_captures", (("camera", "1"), ("format", "mp4"), ("source", "cli"), ("status", "failed")))
    assert got[ok] == 2
    assert got[failed] == 1


def test_the_capture_time_histogram_and_busy_seconds(db, api):
    for ms in (400, 1500, 1500, 45_000):
        make_capture("ok", total_ms=ms)
    make_capture("running", total_ms=None)
    got = scrape(api)
    bucket = {
        le: got[("camsite_capture_seconds_bucket", (("format", "jpg"), ("le", le)))]
        for le in ("0.5", "2.0", "60.0", "+Inf")
    }
    assert bucket == {"0.5": 1, "2.0": 3, "60.0": 4, "+Inf": 4}
    assert got[("camsite_capture_seconds_count", (("format", "jpg"),))] == 4
    assert got[("camsite_capture_seconds_sum", (("format", "jpg"),))] == pytest.approx(48.4)
    assert got[("camsite_camera_busy_seconds_total", (("camera", "0"),))] == pytest.approx(48.4)
    assert got[("camsite_camera_capturing", (("camera", "0"),))] == 1


def test_analysis_queue_depth_and_outcomes(db, api):
    for status in ("queued", "queued", "done", "failed", "running"):
        AnalysisJob.objects.create(filename="x.jpg", status=status)
    got = scrape(api)
    assert got[("camsite_analysis_queue_depth", ())] == 2
    assert got[("camsite_analysis_jobs", (("status", "done"),))] == 1
    assert got[("camsite_analysis_jobs", (("status", "failed"),))] == 1


def test_deliveries_and_failed_attempts(db, api):
    def delivery(status: str, attempts: int) -> None:
        EventDelivery.objects.create(
            event=Event.CAPTURE_FINISHED, target="webhook", payload={}, status=status, attempts=attempts
        )

    delivery("delivered", 3)  # two failed attempts, then delivered
    delivery("failed", 4)
    delivery("pending", 1)
    got = scrape(api)
    key = ("camsite_event_deliveries", (("event", "capture.finished"), ("status", "delivered"), ("target", "webhook")))
    assert got[key] == 1
    assert got[("camsite_event_delivery_failures_total", (("target", "webhook"),))] == 2 + 4 + 1
    assert got[("camsite_event_delivery_failures_total", (("target", "mqtt"),))] == 0


def test_the_preview_hook_feeds_the_preview_metrics(db, api, monkeypatch):
    assert not [key for key in scrape(api) if key[0].startswith("camsite_preview")]  # nothing to report yet
    monkeypatch.setattr(prometheus, "preview_stats", lambda: {0: {"viewers": 2, "fps": 12.5}})
    got = scrape(api)
    assert got[("camsite_preview_viewers", (("camera", "0"),))] == 2
    assert got[("camsite_preview_fps", (("camera", "0"),))] == 12.5


@pytest.fixture
def protected(settings, db):
    settings.AUTH_TOKEN = "env-token"


def test_with_auth_on_it_needs_a_read_token(api, protected):
    _, read = ApiToken.objects.create_with_secret("grafana", ["read"])
    _, capture = ApiToken.objects.create_with_secret("shooter", ["capture"])
    assert api.get("/metrics").status_code == 401
    assert api.get("/metrics").json()["ok"] is False
    assert api.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {capture}").status_code == 403
    assert api.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    scrape(api, HTTP_AUTHORIZATION=f"Bearer {read}")
    scrape(api, data={"token": read})  # a read token may be in the URL (a scraper's params)


def test_an_allowed_address_needs_no_token(api, protected, settings):
    settings.METRICS_ALLOWED_IPS = [ipaddress.ip_network("10.0.0.0/8")]
    scrape(api, REMOTE_ADDR="10.1.2.3")
    assert api.get("/metrics", REMOTE_ADDR="192.168.1.9").status_code == 401


def test_other_methods_get_a_json_405(api):
    response = api.post("/metrics")
    assert response.status_code == 405 and response.json()["ok"] is False


def test_the_allowed_addresses_setting_is_strict(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from camsite.env import env_networks

    monkeypatch.setenv("METRICS_ALLOWED_IPS", "127.0.0.1, 192.168.1.0/24, ::1")
    assert [str(n) for n in env_networks("METRICS_ALLOWED_IPS")] == ["127.0.0.1/32", "192.168.1.0/24", "::1/128"]
    monkeypatch.setenv("METRICS_ALLOWED_IPS", "127.0.0.1, my-laptop")
    with pytest.raises(ImproperlyConfigured, match="METRICS_ALLOWED_IPS.*'my-laptop'"):
        env_networks("METRICS_ALLOWED_IPS")
