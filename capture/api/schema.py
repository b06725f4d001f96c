"""Additions to the generated OpenAPI schema."""

from __future__ import annotations


def document_auth_errors(result: dict, generator, request, public) -> dict:
    """With auth on (AUTH_TOKEN set or tokens made), any operation can answer 401 (no token, or a refused one)
    and 403 (a token without the scope the operation needs)."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path in result.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            responses.setdefault("401", {"description": "No token, or a refused one", "content": error})
            responses.setdefault("403", {"description": "The token lacks the scope this needs", "content": error})
    return result


def document_server_limits(result: dict, generator, request, public) -> dict:
    """Every operation can meet gunicorn's request-line limit, which answers 414 before Django runs."""
    for path in result.get("paths", {}).values():
        for operation in path.values():
            operation.setdefault("responses", {}).setdefault(
                "414", {"description": "Request line too long (refused by gunicorn before the application)"}
            )
    return result
