"""The admin's live view in headless Chromium: with AUTH_TOKEN set, the admin session alone opens the stream, and
the picture moves. A real gunicorn and camera owner on the stand-in camera apps."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.browser.conftest import CHROMIUM, NO_CHROMIUM, screenshot

if not CHROMIUM:
    pytest.skip(NO_CHROMIUM, allow_module_level=True)

from tests.collected_static import collect_static  # noqa: E402
from tests.conftest import ROOT  # noqa: E402
from tests.previews import LivePreview  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

USER, PASSWORD = "admin", "a-long-test-password"
# The <img>'s current frame, drawn on a canvas: a checksum of its pixels.
FRAME_SUM = """img => {
  const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext('2d'); g.drawImage(img, 0, 0); const d = g.getImageData(0, 0, c.width, c.height).data;
  let s = 0; for (let i = 0; i < d.length; i += 97) s = (s * 31 + d[i]) % 1000000007; return s; }"""


@pytest.fixture
def live(tmp_path):
    preview = LivePreview(tmp_path, AUTH_TOKEN="a-token-the-browser-does-not-have")
    preview.server.env.update(collect_static(tmp_path / "static", preview.server.env))
    preview.start()
    try:
        subprocess.run(
            [sys.executable, "manage.py", "createsuperuser", "--noinput", "--username", USER, "--email", "a@b.example"],
            cwd=ROOT,
            env={**preview.server.env, "DJANGO_SUPERUSER_PASSWORD": PASSWORD},
            check=True,
            timeout=60,
        )
        yield preview
    finally:
        preview.stop()


def test_the_admin_live_view_shows_changing_frames(browser, live):
    context = browser.new_context(base_url=live.server.url, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        page.goto("/admin/")
        page.fill("#id_username", USER)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url("**/admin/")
        page.goto("/admin/capture/capture/")
        img = "#live-view-0 img"
        page.wait_for_function(
            "sel => { const i = document.querySelector(sel); return i && i.naturalWidth > 0; }", arg=img
        )
        first = page.eval_on_selector(img, FRAME_SUM)
        page.wait_for_function(
            f"([sel, first]) => ({FRAME_SUM})(document.querySelector(sel)) !== first", arg=[img, first]
        )
        screenshot(page, "live-view")
        assert page.eval_on_selector(img, "i => [i.naturalWidth, i.naturalHeight]") == [640, 480]
    finally:
        context.close()
