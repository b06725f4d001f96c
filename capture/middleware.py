"""Request logging."""

from __future__ import annotations

import logging
import time

from django.http import HttpRequest, HttpResponse

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
