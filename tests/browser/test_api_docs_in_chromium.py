"""/api/docs/ in headless Chromium with every host but the server unreachable, as on a Pi without internet:
Swagger UI must come from the server's own collected static files and render the API's operations."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import CHROMIUM, NO_CHROMIUM, screenshot

if not CHROMIUM:
    pytest.skip(NO_CHROMIUM, allow_module_level=True)

from playwright.sync_api import Browser, Route  # noqa: E402

from tests.collected_static import with_collected_static  # noqa: E402
from tests.servers import GunicornServer  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

OPENAPI_JSON = {"Accept": "application/vnd.oai.openapi+json"}
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


@pytest.fixture(scope="module")
def server(module_gunicorn) -> GunicornServer:
    return module_gunicorn(workers=1, threads=2, env={"DJANGO_DEBUG": "false"}, before_start=with_collected_static)


@pytest.fixture(scope="module")
def offline_docs(browser: Browser, server: GunicornServer):
    """The docs page with every request to another host aborted; yields the page and those requests."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(20_000)
    elsewhere: list[str] = []

    def this_server_only(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort("internetdisconnected")

    page.route("**/*", this_server_only)
    page.goto("/api/docs/")
    page.wait_for_load_state("networkidle")
    yield page, elsewhere
    context.close()


def test_swagger_ui_renders_every_operation_offline(offline_docs, server):
    page, _ = offline_docs
    page.locator('.opblock-summary-path[data-path="/api/camera/capture/"]').wait_for()
    schema = server.get("/api/schema/", headers=OPENAPI_JSON).json()
    operations = sorted(
        (method.upper(), path) for path, item in schema["paths"].items() for method in item if method in HTTP_METHODS
    )
    rendered = page.eval_on_selector_all(
        ".opblock",
        "blocks => blocks.map(b => [b.querySelector('.opblock-summary-method').textContent,"
        " b.querySelector('.opblock-summary-path').dataset.path])",
    )
    screenshot(page, "api-docs-offline")
    assert sorted(map(tuple, rendered)) == operations


def test_the_docs_page_asks_no_other_host_for_anything(offline_docs):
    _, elsewhere = offline_docs
    assert elsewhere == []
