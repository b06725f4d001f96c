"""GET /api/docs/: Swagger UI from the server's own static files, so it works on a Pi without internet."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

DOCS = "/api/docs/"


@pytest.fixture
def docs_html(api, db) -> str:
    response = api.get(DOCS)
    assert response.status_code == 200
    return response.content.decode()


def test_it_references_no_url_on_another_host(docs_html):
    absolute = re.findall(r"""https?://[^\s"'<>)]+""", docs_html)
    assert [url for url in absolute if urlsplit(url).hostname != "testserver"] == []


def test_it_loads_swagger_ui_from_the_sidecar_static_files(docs_html):
    sources = re.findall(r'<(?:script src|link rel="(?:stylesheet|icon)" href)="([^"]+)"', docs_html)
    assert sorted(sources) == [
        "/static/drf_spectacular_sidecar/swagger-ui-dist/favicon-32x32.png",
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-standalone-preset.js",
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css",
    ]
