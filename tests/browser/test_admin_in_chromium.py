"""The admin as a person uses it, in headless Chromium (Debian's package, driven by Playwright), against a real
gunicorn with DEBUG off: log in, browse the gallery, play and seek an MP4, take a capture, delete it.

Screenshots go to test-artifacts/browser/.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.browser.conftest import CHROMIUM, NO_CHROMIUM, screenshot

if not CHROMIUM:
    pytest.skip(NO_CHROMIUM, allow_module_level=True)

from playwright.sync_api import Browser, Page  # noqa: E402

from tests.collected_static import collect_static  # noqa: E402
from tests.conftest import ROOT  # noqa: E402
from tests.servers import GunicornServer  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

USER, PASSWORD = "admin", "a-long-test-password"
VIDEO_SECONDS = 6


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    server = GunicornServer(tmp, workers=2, threads=4, env={"SIMULATED_SPEED": "10"})
    server.env.update(collect_static(tmp / "static", server.env))
    server.start()
    try:
        subprocess.run(
            [sys.executable, "manage.py", "createsuperuser", "--noinput", "--username", USER, "--email", "a@b.example"],
            cwd=ROOT,
            env={**server.env, "DJANGO_SUPERUSER_PASSWORD": PASSWORD},
            check=True,
            timeout=60,
        )
        # Captures taken through the API, as a user's script would.
        server.captures = {}
        for fmt, body in {
            "jpg": {"width": 640, "height": 360, "durationSec": 0.5},
            "h264": {"width": 640, "height": 360, "fps": 25, "durationSec": 2},
            "mp4": {"width": 1280, "height": 720, "fps": 30, "durationSec": VIDEO_SECONDS},
        }.items():
            response = server.post("/api/camera/capture", {"format": fmt, **body})
            assert response.status_code == 200, response.text
            server.captures[fmt] = response.json()["filename"]
        yield server
    finally:
        server.stop()


@pytest.fixture
def page(browser: Browser, server: GunicornServer):
    context = browser.new_context(base_url=server.url, viewport={"width": 1600, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto("/admin/")
    page.fill("#id_username", USER)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    yield page
    context.close()


def wait_for_images(page: Page, selector: str) -> list[dict]:
    """Wait until every image matching `selector` has loaded; return their natural sizes."""
    page.wait_for_function(
        "sel => { const imgs = [...document.querySelectorAll(sel)];"
        " return imgs.length > 0 && imgs.every(img => img.complete && img.naturalWidth > 0); }",
        arg=selector,
    )
    return page.eval_on_selector_all(
        selector, "imgs => imgs.map(img => ({src: img.src, width: img.naturalWidth, height: img.naturalHeight}))"
    )


def test_the_list_shows_every_capture_with_its_thumbnail(page, server):
    page.goto("/admin/capture/capture/")
    thumbnails = wait_for_images(page, "img.capture-thumb")
    assert len(thumbnails) == 3
    assert all(thumb["width"] == 320 for thumb in thumbnails)  # made by ffmpeg on first view
    for filename in server.captures.values():
        assert (server.uploads / ".thumbnails" / f"{filename}.small.jpg").exists()
    # The admin's and our stylesheets came through whitenoise with DEBUG off.
    ok_badge = page.locator(".capture-status-ok").first
    assert ok_badge.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(46, 125, 50)"
    assert page.locator("#header").evaluate("el => getComputedStyle(el).backgroundColor") != "rgba(0, 0, 0, 0)"
    assert page.locator("#summary-today").inner_text() == "3"
    assert page.locator("#summary-failure-rate").inner_text() == "0%"
    screenshot(page, "1-capture-list")


def test_an_mp4_plays_and_seeks(page, server):
    filename = server.captures["mp4"]
    ranges: list[str] = []
    page.on("request", lambda request: ranges.append(request.headers.get("range")) if filename in request.url else 0)
    page.goto("/admin/capture/capture/")
    page.locator("tr", has_text=filename).locator("td.field-thumbnail a").click()
    page.wait_for_url("**/change/")
    video = page.locator("video.capture-preview")
    video.wait_for()
    page.wait_for_function("v => v.readyState >= 1", arg=video.element_handle())  # metadata

    # The browser offers the whole timeline only because the server answers Range requests.
    assert video.evaluate("v => v.seekable.length && v.seekable.end(0)") == pytest.approx(VIDEO_SECONDS, rel=0.05)

    # Seek to near the end before anything has played: that needs bytes from the middle of the file.
    target = VIDEO_SECONDS - 2
    video.evaluate(
        "(v, t) => new Promise(done => { v.addEventListener('seeked', done, {once: true}); v.currentTime = t; })",
        target,
    )
    assert video.evaluate("v => v.currentTime") == pytest.approx(target, abs=0.1)
    later_ranges = [r for r in ranges if r and not r.startswith("bytes=0-")]
    assert later_ranges, f"the seek fetched no later range: {ranges}"
    assert f"GET /uploads/{filename} 206" in server.log()

    # Play from there: frames are decoded and time advances.
    video.evaluate("v => { v.muted = true; return v.play(); }")
    page.wait_for_function(
        "([v, t]) => v.readyState >= 2 && v.currentTime > t", arg=[video.element_handle(), target + 0.5]
    )
    first = video.evaluate("v => v.currentTime")
    page.wait_for_timeout(500)
    assert video.evaluate("v => v.currentTime") > first
    assert video.evaluate("v => v.videoWidth") == 1280
    # The frame on screen is the test pattern, not a black or empty picture.
    colours = video.evaluate(
        """v => {
            const canvas = document.createElement('canvas');
            canvas.width = 64; canvas.height = 36;
            const ctx = canvas.getContext('2d');
            ctx.drawImage(v, 0, 0, 64, 36);
            const data = ctx.getImageData(0, 0, 64, 36).data;
            const seen = new Set();
            for (let i = 0; i < data.length; i += 4) {
                seen.add(`${data[i] >> 5},${data[i + 1] >> 5},${data[i + 2] >> 5}`);
            }
            return seen.size;
        }"""
    )
    assert colours >= 6  # testsrc2's colour bars
    video.evaluate("v => v.pause()")
    screenshot(page, "2-mp4-playing")


def test_a_raw_h264_shows_its_poster_frame_and_a_download_link(page, server):
    filename = server.captures["h264"]
    page.goto("/admin/capture/capture/")
    page.locator("tr", has_text=filename).locator("td.field-thumbnail a").click()
    page.wait_for_url("**/change/")
    [poster] = wait_for_images(page, "img.capture-preview")
    assert (poster["width"], poster["height"]) == (640, 360)
    assert page.locator("video").count() == 0
    link = page.locator(f"a[download][href='/uploads/{filename}']")
    assert link.is_visible()
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == filename
    assert download.value.path().read_bytes() == (server.uploads / filename).read_bytes()
    screenshot(page, "3-h264-poster")


def test_take_a_capture_then_delete_it_with_its_files(page, server):
    page.goto("/admin/capture/capture/")
    page.click("#take-capture")
    page.select_option("#id_format", "jpg")
    page.fill("#id_width", "640")
    page.fill("#id_height", "480")
    page.fill("#id_durationSec", "0.5")
    page.fill("#id_filename", "from the browser")
    screenshot(page, "4-take-a-capture")
    page.click("#take-capture-submit")
    page.wait_for_url("**/change/")
    assert "Captured from_the_browser.jpg" in page.locator("ul.messagelist").inner_text()
    [image] = wait_for_images(page, "img.capture-preview")
    assert (image["width"], image["height"]) == (640, 480)
    screenshot(page, "5-captured")
    taken = server.uploads / "from_the_browser.jpg"
    assert taken.exists()

    page.goto("/admin/capture/capture/")
    wait_for_images(page, "img.capture-thumb")
    thumbnail = server.uploads / ".thumbnails" / "from_the_browser.jpg.small.jpg"
    assert thumbnail.exists()
    row = page.locator("tr", has_text="from_the_browser.jpg")
    assert row.locator("td.field-source_name").inner_text() == "admin"
    row.locator("input.action-select").check()
    page.select_option("select[name=action]", "delete_selected")
    page.click("button[name=index]")
    assert "go to the trash too" in page.locator("#content").inner_text()
    screenshot(page, "6-delete-confirmation")
    page.click("input[type=submit]")
    page.wait_for_selector("ul.messagelist")
    messages = page.locator("ul.messagelist").inner_text()
    assert "Moved 1 file and 1 thumbnail to the trash: restorable under Deletions for 7 days." in messages
    assert "Successfully deleted 1 capture." in messages
    assert page.locator("tr", has_text="from_the_browser.jpg").count() == 0
    assert not taken.exists() and not thumbnail.exists()
    assert all((server.uploads / name).exists() for name in server.captures.values())  # the others stay
    screenshot(page, "7-deleted")
