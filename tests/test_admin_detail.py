"""The admin's capture page: the media itself, and every stored field read-only."""

from __future__ import annotations

import html
import re
import shlex

import pytest
from django.conf import settings
from django.utils import timezone

from capture.models import Capture
from tests.captures import make_row, take


def detail(client, capture: Capture) -> str:
    response = client.get(f"/admin/capture/capture/{capture.pk}/change/")
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_a_jpg_is_shown_as_the_image(admin_client):
    capture = take("jpg")
    page = detail(admin_client, capture)
    url = f"/uploads/{capture.filename}"
    assert f'<a href="{url}"><img class="capture-preview" src="{url}"' in page


def test_an_mp4_is_a_playable_video_with_its_poster(admin_client):
    capture = take("mp4")
    page = detail(admin_client, capture)
    poster = f"/admin/capture/capture/{capture.pk}/thumbnail/large.jpg"
    assert (
        f'<video class="capture-preview" controls preload="metadata" poster="{poster}" '
        f'src="/uploads/{capture.filename}"></video>'
    ) in page


def test_a_raw_h264_shows_its_poster_frame_and_a_download(admin_client):
    capture = take("h264")
    page = detail(admin_client, capture)
    assert "<video" not in page
    assert f'<img class="capture-preview" src="/admin/capture/capture/{capture.pk}/thumbnail/large.jpg"' in page
    assert f'<a href="/uploads/{capture.filename}" download>Download {capture.filename}</a>' in page
    assert "browsers cannot play" in page


def readonly_value(page: str, field: str) -> str:
    """The text shown in the read-only row of `field` on an admin page."""
    match = re.search(rf'field-{field}\b.*?<div class="readonly">(.*?)</div>', page, re.DOTALL)
    assert match, f"no row for {field}"
    return match.group(1)


def test_every_stored_field_is_shown_read_only(admin_client):
    capture = take("mp4", width=320, height=240, duration=1, filename="garden.mp4")
    capture.analyze_job_id, capture.analyze_error = "job-42", "Analyze request failed: HTTP 404"
    capture.save()
    page = detail(admin_client, capture)

    form = page.split('id="capture_form"')[1].split("</form>")[0]
    assert not re.search(r"<input(?![^>]*hidden)|<textarea|<select", form)  # nothing to edit
    shown = {
        "file_link": '<a href="/uploads/garden.mp4">garden.mp4</a>',
        "filename": "garden.mp4",
        "requested_filename": "garden.mp4",
        "status_badge": '<span class="capture-status capture-status-ok" title="">ok</span>',
        "error": "-",
        "source_name": "api",
        "backend": "simulated",
        "format": "MP4 video",
        "width": "320",
        "height": "240",
        "fps": "10",
        "duration_sec": "1.0",
        "camera_index": "0",
        "size_bytes": str(capture.size_bytes),
        "camera_ms": str(capture.camera_ms),
        "remux_ms": "-",  # the simulated camera writes the MP4 itself
        "total_ms": str(capture.total_ms),
        "analyze_job_id": "job-42",
        "analyze_error": "Analyze request failed: HTTP 404",
    }
    for field, value in shown.items():
        assert readonly_value(page, field) == value, field
    for field in ("requested_at", "started_at", "finished_at"):
        exact = f"{timezone.localtime(getattr(capture, field)):%Y-%m-%d %H:%M:%S.%f}"[:-3]
        assert readonly_value(page, f"{field}_ms") == exact
    command = capture.commands[0]
    commands = readonly_value(page, "commands_run")
    assert f"<code>{shlex.join(command['argv'])}</code>" in commands
    assert f"exit code <strong>{command['exitCode']}</strong> · {command['ms']} ms" in commands
    # Every model field has its row (status, commands and source through a richer display).
    shown_as = {
        "status": "status_badge",
        "commands": "commands_run",
        "source": "source_name",
        "controls": "controls_used",
        "metadata": "camera_metadata",
    }
    shown_as |= {f"{name}_at": f"{name}_at_ms" for name in ("requested", "started", "finished")}
    for field in Capture._meta.fields:
        if field.name != "id":
            readonly_value(page, shown_as.get(field.name, field.name))


def test_a_failed_capture_shows_its_error_exit_code_and_output_tails(admin_client, db):
    capture = make_row(
        format="h264",
        status="failed",
        filename="",
        error="Capture failed: rpicam-vid failed: ERROR: *** no cameras available ***",
        commands=[
            {
                "argv": ["rpicam-vid", "-t", "3000", "-o", ".partial-9-0.h264"],
                "exitCode": 255,
                "ms": 812,
                "timedOut": False,
                "stdout": "",
                "stderr": "Preview window unavailable\nERROR: *** no cameras available ***",
            }
        ],
    )
    page = detail(admin_client, capture)
    assert "No file: Capture failed: rpicam-vid failed" in page
    assert "<code>rpicam-vid -t 3000 -o .partial-9-0.h264</code>" in page
    assert "exit code <strong>255</strong>" in page
    assert "812 ms" in page
    assert "<details open><summary>stderr (62 chars)</summary><pre>Preview window unavailable\nERROR: *** no" in page
    assert '<span class="capture-status capture-status-failed"' in page


def test_a_timed_out_command_says_so(admin_client, db):
    capture = make_row(
        status="timeout",
        filename="",
        commands=[
            {"argv": ["rpicam-still"], "exitCode": None, "ms": 4000, "timedOut": True, "stdout": "", "stderr": ""}
        ],
    )
    assert "exit code <strong>none</strong> (timed out)" in detail(admin_client, capture)


def test_captures_cannot_be_added_or_edited_by_hand(admin_client, db):
    capture = make_row(filename="a.jpg")
    assert admin_client.get("/admin/capture/capture/add/").status_code == 403
    response = admin_client.post(f"/admin/capture/capture/{capture.pk}/change/", {"filename": "b.jpg"})
    assert response.status_code == 403
    capture.refresh_from_db()
    assert capture.filename == "a.jpg"


# --- Thumbnails through the admin ---


def test_a_thumbnail_is_served_and_cached_by_the_browser(admin_client):
    capture = take("mp4")
    url = f"/admin/capture/capture/{capture.pk}/thumbnail/small.jpg"
    response = admin_client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"] == "private, max-age=86400"
    assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"
    assert (settings.MEDIA_ROOT / ".thumbnails" / f"{capture.filename}.small.jpg").exists()
    assert admin_client.get(url, headers={"If-None-Match": response["ETag"]}).status_code == 304


@pytest.mark.parametrize("size", ["huge", "Small", "small.jpg"])
def test_unknown_thumbnail_sizes_are_404(admin_client, size):
    capture = take("jpg")
    assert admin_client.get(f"/admin/capture/capture/{capture.pk}/thumbnail/{size}.jpg").status_code == 404


def test_a_capture_without_a_file_has_no_thumbnail(admin_client, db):
    capture = make_row(filename="", status="failed")
    assert admin_client.get(f"/admin/capture/capture/{capture.pk}/thumbnail/small.jpg").status_code == 404
    assert admin_client.get("/admin/capture/capture/99999/thumbnail/small.jpg").status_code == 404


def test_thumbnails_need_a_staff_login(client, db):
    capture = take("jpg")
    response = client.get(f"/admin/capture/capture/{capture.pk}/thumbnail/small.jpg")
    assert response.status_code == 302
    assert not (settings.MEDIA_ROOT / ".thumbnails").exists()
