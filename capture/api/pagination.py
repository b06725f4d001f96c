from __future__ import annotations

from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response


class CapturePagination(PageNumberPagination):
    """DRF's page-number pagination with the API's `ok: true`; `?pageSize=` up to 500."""

    page_size_query_param = "pageSize"
    max_page_size = 500

    def get_paginated_response(self, data) -> Response:
        response = super().get_paginated_response(data)
        response.data = {"ok": True, **response.data}
        return response

    def get_paginated_response_schema(self, schema: dict) -> dict:
        paginated = super().get_paginated_response_schema(schema)
        paginated["properties"] = {"ok": {"type": "boolean", "example": True}, **paginated["properties"]}
        paginated["required"] = ["ok", *paginated.get("required", [])]
        return paginated
