"""`GET /metrics`: Prometheus's text format, computed from the database at each scrape.

Every number comes from the rows (captures, analysis jobs, event deliveries), not from counters kept in a
process, so any gunicorn worker answers a scrape with the same figures (healthchecks' Prometheus view does
the same). The figures count the rows in the database: deleting captures lowers them, which Prometheus's
rate() takes as a counter reset.

Access: a `read` token (Bearer, Basic or ?token=), or a client address in METRICS_ALLOWED_IPS. Behind nginx
the address is nginx's own (127.0.0.1), so listing that opens /metrics to everyone nginx serves.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from capture import tokens
from capture.camera.preview import preview_status
from capture.camera.registry import all_cameras
from capture.models import AnalysisJob, ApiToken, Capture, EventDelivery

# Capture times (request to file published), in seconds: a still takes about 1-3 s, a video its length plus.
CAPTURE_SECONDS_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)


def preview_stats() -> dict[int, dict[str, float]]:
    """The live preview's figures, {camera index: {"viewers": n, "fps": frames per second}}, asked of each
    camera's owner (the one process that knows them); a camera without a running owner has none."""
    stats = {}
    for camera in all_cameras():
        status = preview_status(camera)
        if status["state"] != "stopped" or status["viewers"]:
            stats[camera.index] = {"viewers": status["viewers"], "fps": status["fps"]}
    return stats


class DatabaseCollector:
    """The server's metrics, read from the database when Prometheus scrapes."""

    def collect(self) -> Iterator[Metric]:
        yield from self._captures()
        yield from self._preview()
        yield from self._analysis()
        yield from self._deliveries()

    def _captures(self) -> Iterator[Metric]:
        captures = GaugeMetricFamily(
            "camsite_captures", "Captures in the history", labels=["camera", "status", "format", "source"]
        )
        rows = Capture.objects.values("camera_index", "status", "format", "source").annotate(n=Count("id"))
        for row in rows.order_by("camera_index", "status", "format", "source"):
            captures.add_metric([str(row["camera_index"]), row["status"], row["format"], row["source"]], row["n"])
        yield captures

        seconds = HistogramMetricFamily(
            "camsite_capture_seconds", "Time from request to published file, of finished captures", labels=["format"]
        )
        buckets = {
            f"le{i}": Count("id", filter=Q(total_ms__lte=le * 1000)) for i, le in enumerate(CAPTURE_SECONDS_BUCKETS)
        }
        timed = Capture.objects.exclude(status=Capture.Status.RUNNING).filter(total_ms__isnull=False)
        for row in timed.values("format").annotate(n=Count("id"), ms=Sum("total_ms"), **buckets).order_by("format"):
            cumulative = [(str(float(le)), row[f"le{i}"]) for i, le in enumerate(CAPTURE_SECONDS_BUCKETS)]
            seconds.add_metric([row["format"]], [*cumulative, ("+Inf", row["n"])], row["ms"] / 1000)
        yield seconds

        busy = CounterMetricFamily(
            "camsite_camera_busy_seconds", "Seconds each camera spent on captures (lock held)", labels=["camera"]
        )
        capturing = GaugeMetricFamily("camsite_camera_capturing", "Captures running now", labels=["camera"])
        per_camera = Capture.objects.values("camera_index").annotate(
            ms=Sum("total_ms", filter=~Q(status=Capture.Status.RUNNING)),
            running=Count("id", filter=Q(status=Capture.Status.RUNNING)),
        )
        for row in per_camera.order_by("camera_index"):
            busy.add_metric([str(row["camera_index"])], (row["ms"] or 0) / 1000)
            capturing.add_metric([str(row["camera_index"])], row["running"])
        yield busy
        yield capturing

    def _preview(self) -> Iterator[Metric]:
        viewers = GaugeMetricFamily("camsite_preview_viewers", "Clients watching the live preview", labels=["camera"])
        fps = GaugeMetricFamily("camsite_preview_fps", "Frames per second the live preview sends", labels=["camera"])
        for camera, stats in sorted(preview_stats().items()):
            viewers.add_metric([str(camera)], stats.get("viewers", 0))
            fps.add_metric([str(camera)], stats.get("fps", 0))
        yield viewers
        yield fps

    def _analysis(self) -> Iterator[Metric]:
        counts = dict(AnalysisJob.objects.values_list("status").annotate(n=Count("id")).order_by())
        yield GaugeMetricFamily(
            "camsite_analysis_queue_depth",
            "Analysis jobs waiting for the worker",
            value=counts.get(AnalysisJob.Status.QUEUED, 0),
        )
        jobs = GaugeMetricFamily(
            "camsite_analysis_jobs", "Analysis jobs by status (outcomes: done, failed)", labels=["status"]
        )
        for status in AnalysisJob.Status.values:
            jobs.add_metric([status], counts.get(status, 0))
        yield jobs

    def _deliveries(self) -> Iterator[Metric]:
        deliveries = GaugeMetricFamily(
            "camsite_event_deliveries",
            "Event deliveries (webhook, mqtt) in the outbox by status",
            labels=["target", "event", "status"],
        )
        failures = CounterMetricFamily(
            "camsite_event_delivery_failures", "Failed delivery attempts (each retry counts)", labels=["target"]
        )
        rows = EventDelivery.objects.values("target", "event", "status").annotate(
            n=Count("id"), attempts=Sum("attempts")
        )
        failed_attempts: dict[str, int] = {}
        for row in rows.order_by("target", "event", "status"):
            deliveries.add_metric([row["target"], row["event"], row["status"]], row["n"])
            # Each attempt failed, except the one that delivered a row and the one a row is in now.
            succeeding = (
                row["n"] if row["status"] in (EventDelivery.Status.DELIVERED, EventDelivery.Status.SENDING) else 0
            )
            failed_attempts[row["target"]] = failed_attempts.get(row["target"], 0) + row["attempts"] - succeeding
        for target in EventDelivery.Target.values:
            failures.add_metric([target], failed_attempts.get(target, 0))
        yield deliveries
        yield failures


def metrics(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return JsonResponse({"ok": False, "error": f"Method {request.method} not allowed: use GET"}, status=405)
    if not address_allowed(request.META.get("REMOTE_ADDR", "")):
        refused = tokens.refusal(request, scope=ApiToken.Scope.READ.value)
        if refused is not None:
            return refused
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def address_allowed(address: str) -> bool:
    try:
        client = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(client in network for network in settings.METRICS_ALLOWED_IPS)
