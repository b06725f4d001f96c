from __future__ import annotations

import re
from io import BytesIO
from itertools import accumulate

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser

# The API's bodies are one flat object. json.loads recurses once per level and raises RecursionError (a 500)
# near Python's limit of 1,000, and what it returns just under that limit would be walked again later (the
# serializers, error messages that repr a bad value). Refusing deep nesting before parsing keeps all of it
# shallow.
MAX_JSON_DEPTH = 32
# A JSON string (the unrolled form: linear, no backtracking blow-up on a 64 KiB string).
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1


def json_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest in the JSON text `raw`; brackets inside strings don't count.

    Counted without parsing, since the parser is what can't cope, and in C loops (regex, translate,
    accumulate) so a 64 KiB body of brackets costs a few milliseconds.
    """
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


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
        if json_depth(raw) > MAX_JSON_DEPTH:
            raise ParseError(f"Malformed JSON body: nested deeper than {MAX_JSON_DEPTH} levels")
        try:
            return super().parse(BytesIO(raw), media_type, parser_context)
        except ParseError as exc:
            raise ParseError(f"Malformed JSON body: {exc.detail}") from None
        except RecursionError:  # a charset the bracket count misread (UTF-16): still the client's fault
            raise ParseError("Malformed JSON body: nested too deeply") from None
