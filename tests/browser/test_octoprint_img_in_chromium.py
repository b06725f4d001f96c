"""OctoPrint's (and Mainsail's) webcam view in headless Chromium: a stream URL that is neither `webrtc://` nor
`*.m3u8` goes into an `<img src>` as MJPEG, with `?token=` since an <img> sends no header. The picture must
load and move. A real gunicorn and camera owner on the stand-in camera apps."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.browser.conftest import CHROMIUM, NO_CHROMIUM, screenshot

if not CHROMIUM:
    pytest.skip(NO_CHROMIUM, allow_module_level=True)

from tests.browser.test_live_view_in_chromium import FRAME_SUM  # noqa: E402
from tests.conftest import ROOT  # noqa: E402
from tests.previews import LivePreview  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture
def live(tmp_path):
    preview = LivePreview(tmp_path).start()
    try:
        made = subprocess.run(
            [sys.executable, "manage.py", "token", "create", "--scope", "stream", "--scope", "read",
             "--label", "octoprint"],
            cwd=ROOT, env=preview.server.env, capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        preview.secret = made.stdout.strip()
        yield preview
    finally:
        preview.stop()


def test_an_img_on_the_stream_url_with_token_shows_moving_frames(browser, live):
    context = browser.new_context(viewport={"width": 800, "height": 600})
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        # A page on the server's origin, so the canvas that reads the <img>'s pixels is not tainted.
        page.goto(f"{live.server.url}/api/camera/status")
        stream = f"{live.server.url}/stream.mjpg?token={live.secret}"
        page.set_content(f'<img id="webcam" src="{stream}" alt="webcam">')
        img = "#webcam"
        page.wait_for_function(
            "sel => { const i = document.querySelector(sel); return i && i.naturalWidth > 0; }", arg=img
        )
        assert page.eval_on_selector(img, "i => [i.naturalWidth, i.naturalHeight]") == [640, 480]
        first = page.eval_on_selector(img, FRAME_SUM)
        page.wait_for_function(
            f"([sel, first]) => ({FRAME_SUM})(document.querySelector(sel)) !== first", arg=[img, first]
        )
        screenshot(page, "octoprint-img")
    finally:
        context.close()
    assert live.secret not in live.server.log() + live.owner.log()
