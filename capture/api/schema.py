"""Additions to the generated OpenAPI schema."""

from __future__ import annotations


def document_server_limits(result: dict, generator, request, public) -> dict:
    """Every operation can meet gunicorn's request-line limit, which answers 414 before Django runs."""
    for path in result.get("paths", {}).values():
        for operation in path.values():
            operation.setdefault("responses", {}).setdefault(
                "414", {"description": "Request line too long (refused by gunicorn before the application)"}
            )
    return result
