"""Query parameters the list endpoints share."""

from __future__ import annotations

from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from camsite.env import HOST_NAME


def host_param(request: Request) -> str | None:
    """`?host=`: the host whose rows to list (None: every host's), or a 400 when it is not a host name."""
    host = request.query_params.get("host")
    if host is not None and not HOST_NAME.fullmatch(host):
        raise ValidationError({"host": ["must be a host name (letters, digits, '.', '_', '-')"]})
    return host
