"""Request logging, and a 503 for every request the database could not serve."""

from __future__ import annotations

import logging
import time

from django.http import HttpRequest, HttpResponse, JsonResponse

from capture.errors import DatabaseUnavailable, is_database_unavailable

log = logging.getLogger("capture.requests")


class RequestLogMiddleware:
    """One line per request: method, path, status, ms. Never the headers or the query string, which may hold a
    token (Authorization, ?token=) or a signed link (?sig=)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.monotonic()
        response = self.get_response(request)
        log.info(
            "%s %s %d %.1fms", request.method, request.path, response.status_code, (time.monotonic() - started) * 1000
        )
        return response


class DatabaseUnavailableMiddleware:
    """Outside the API (the admin, /uploads' token checks), a database that is away answers 503 JSON like the
    API does (capture.api.errors), instead of a 500 page. The API's own views never get here: DRF handles their
    exceptions."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_database_unavailable(exception):
            return None
        log.warning("%s %s: database unavailable: %s", request.method, request.path, exception.__class__.__name__)
        return JsonResponse(
            {"ok": False, "error": str(DatabaseUnavailable.default_detail)},
            status=DatabaseUnavailable.status_code,
            headers={"Retry-After": "5"},
        )
