"""Request logging and the Bearer-token check for /api/*."""

from __future__ import annotations

import hmac
import logging
import time

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

log = logging.getLogger("capture.requests")


class RequestLogMiddleware:
    """One line per request: method, path, status, ms (never headers, so never the token)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.monotonic()
        response = self.get_response(request)
        log.info(
            "%s %s %d %.1fms", request.method, request.path, response.status_code, (time.monotonic() - started) * 1000
        )
        return response


class BearerTokenMiddleware:
    """When AUTH_TOKEN is set, every /api/* request needs `Authorization: Bearer <token>`."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = settings.AUTH_TOKEN
        if token and request.path.startswith("/api/") and not self._authorized(request, token):
            response = JsonResponse(
                {"ok": False, "error": "Unauthorized: send Authorization: Bearer <token>"}, status=401
            )
            response["WWW-Authenticate"] = 'Bearer realm="api"'
            return response
        return self.get_response(request)

    @staticmethod
    def _authorized(request: HttpRequest, token: str) -> bool:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return False
        # Constant-time comparison, so response timing doesn't reveal how much of a guess was right.
        return hmac.compare_digest(presented.strip().encode(), token.encode())
