"""The API's error shape, `{"ok": false, "error": "..."}`, as in the Node server."""

from __future__ import annotations

import logging

from rest_framework import status
from rest_framework.exceptions import NotAuthenticated, ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.views import exception_handler as drf_exception_handler

from capture import tokens
from capture.errors import CaptureError, DatabaseUnavailable, is_database_unavailable
from capture.links import file_url

log = logging.getLogger(__name__)


def exception_handler(exc, context):
    """Wrap DRF's handler: same status codes and headers, the seed's body shape."""
    if is_database_unavailable(exc):
        # The details go to the log only (they name the database's host); the client learns what to do.
        log.warning("database unavailable: %s: %s", exc.__class__.__name__, " ".join(str(exc).split())[:300])
        exc = DatabaseUnavailable()
    response = drf_exception_handler(exc, context)
    if isinstance(exc, DatabaseUnavailable) and response is not None:
        response["Retry-After"] = "5"
    if response is None:
        return None  # unexpected errors: Django's 500 handler (JSON for /api, see camsite.urls)
    # Every error is JSON, also from views that render something else (the schema's OpenAPI YAML).
    request = context.get("request")
    if request is not None:
        request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
    if isinstance(exc, ValidationError):
        fields = _flatten(exc.detail)
        response.data = {"ok": False, "error": "Invalid parameters: " + "; ".join(fields), "fields": exc.detail}
        response.status_code = status.HTTP_400_BAD_REQUEST
        return response
    if isinstance(exc, NotAuthenticated):
        exc.detail = tokens.UNAUTHORIZED  # no token at all: the seed's message, not DRF's
    body = {"ok": False, "error": str(exc.detail) if hasattr(exc, "detail") else str(exc)}
    capture = getattr(exc, "capture", None) if isinstance(exc, CaptureError) else None
    if capture is not None and capture.filename:
        # capture-and-analyze: the capture was kept even though the analyzer failed.
        body.update(filename=capture.filename, url=file_url(capture.filename))
    response.data = body
    return response


def _flatten(detail, prefix: str = "") -> list[str]:
    """`{"width": ["must be ≤ 4608"]}` → `["width: must be ≤ 4608"]`."""
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            name = "body" if key == "non_field_errors" else key
            out += _flatten(value, f"{prefix}{name}")
        return out
    if isinstance(detail, list):
        return [message for item in detail for message in _flatten(item, prefix)]
    return [f"{prefix}: {detail}" if prefix else str(detail)]
