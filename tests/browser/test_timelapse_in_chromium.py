"""A schedule and its timelapse as a person uses them, in headless Chromium against a real gunicorn and a real
worker: a schedule made with the API takes its frames, "Make a timelapse" in the admin queues the video, the
job's page links to it, and it plays on its capture page for frames/fps seconds.

Screenshots go to test-artifacts/browser/.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.browser.conftest import CHROMIUM, NO_CHROMIUM, screenshot

if not CHROMIUM:
    pytest.skip(NO_CHROMIUM, allow_module_level=True)

from playwright.sync_api import Browser  # noqa: E402

from tests.collected_static import collect_static  # noqa: E402
from tests.conftest import ROOT  # noqa: E402
from tests.servers import GunicornServer  # noqa: E402
from tests.workers import HueyWorker  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

USER, PASSWORD = "admin", "a-long-test-password"
FRAMES, FPS = 4, 2


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("timelapse-browser")
    server = GunicornServer(tmp, workers=1, threads=4, env={"SIMULATED_SPEED": "10"})
    server.env.update(collect_static(tmp / "static", server.env))
    server.start()
    worker = HueyWorker(server.env, tmp / "worker.log")
    try:
        subprocess.run(
            [sys.executable, "manage.py", "createsuperuser", "--noinput", "--username", USER, "--email", "a@b.example"],
            cwd=ROOT,
            env={**server.env, "DJANGO_SUPERUSER_PASSWORD": PASSWORD},
            check=True,
            timeout=60,
        )
        worker.start()
        body = {"format": "jpg", "width": 640, "height": 360, "durationSec": 0.1, "everySec": 2, "count": FRAMES}
        created = server.post("/api/schedules/", {**body, "name": "desk"})
        assert created.status_code == 201, created.text
        server.schedule = created.json()["id"]
        deadline = time.monotonic() + 60
        while server.get(f"/api/schedules/{server.schedule}/").json()["framesTaken"] < FRAMES:
            assert time.monotonic() < deadline, worker.log()
            time.sleep(0.3)
        yield server
    finally:
        worker.stop()
        server.stop()


def test_a_schedules_timelapse_is_made_from_the_admin_and_plays(browser: Browser, server):
    context = browser.new_context(base_url=server.url, viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        page.goto("/admin/")
        page.fill("#id_username", USER)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url("**/admin/")

        page.goto("/admin/capture/schedule/")
        row = page.locator("tr", has_text="desk")
        assert row.locator("td.field-next_run").inner_text() == "— (finished)"
        assert row.locator("td.field-frames_link").inner_text() == str(FRAMES)
        screenshot(page, "timelapse-1-schedules")
        row.locator("input[type=checkbox]").check()
        page.select_option("select[name=action]", "make_timelapse")
        page.fill("input[name=fps]", str(FPS))
        page.click("button[name=index]")
        message = page.locator("ul.messagelist li", has_text="Queued a timelapse")
        assert f"{FRAMES} frames at {FPS} fps" in message.inner_text()
        message.locator("a").click()

        deadline = time.monotonic() + 90
        while page.locator("div.field-video a").count() == 0:
            assert time.monotonic() < deadline, "the timelapse job did not finish"
            page.wait_for_timeout(500)
            page.reload()
        assert f"{FRAMES}/{FRAMES} frames (100%)" in page.locator("div.field-progress_shown").inner_text()
        page.locator("div.field-video a").click()
        page.wait_for_url("**/change/")
        assert "timelapse" in page.locator("div.field-source_name").inner_text()

        video = page.locator("video.capture-preview")
        video.wait_for()
        page.wait_for_function("v => v.readyState >= 1", arg=video.element_handle())
        assert video.evaluate("v => v.duration") == pytest.approx(FRAMES / FPS, abs=0.3)
        assert video.evaluate("v => v.videoWidth") == 640
        video.evaluate("v => { v.muted = true; return v.play(); }")
        page.wait_for_function("v => v.readyState >= 2 && v.currentTime > 0.3", arg=video.element_handle())
        screenshot(page, "timelapse-2-playing")
    finally:
        context.close()
