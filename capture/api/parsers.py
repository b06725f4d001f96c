from __future__ import annotations

from io import BytesIO

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large"
    default_code = "body_too_large"


class LimitedJSONParser(JSONParser):
    """JSON only, with a size cap (capture bodies are a few dozen bytes) and a clear message on bad JSON."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = parser_context["request"]
        limit = settings.API_MAX_BODY_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            raise BodyTooLarge(f"Request body too large: at most {limit} bytes")
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise BodyTooLarge(f"Request body too large: at most {limit} bytes")
        if not raw.strip():
            return {}  # an empty body means "all defaults", as in the Node server
        try:
            return super().parse(BytesIO(raw), media_type, parser_context)
        except ParseError as exc:
            raise ParseError(f"Malformed JSON body: {exc.detail}") from None
