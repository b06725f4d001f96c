"""The admin's "Take a capture" form: the API's rules, the capture service, the same lock."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission, User

from capture.api.serializers import CaptureParamsSerializer
from capture.camera import service
from capture.camera.lock import CameraLock
from capture.models import Capture

URL = "/admin/capture/capture/take/"


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_the_form_asks_for_format_size_fps_duration_and_filename(admin_client):
    page = admin_client.get(URL).content.decode()
    for name in ("format", "width", "height", "fps", "durationSec", "filename", "camera", "rotation", "awbGains"):
        assert f'name="{name}"' in page
    assert f'name="width" value="{settings.DEFAULT_WIDTH}"' in page
    assert '<option value="mp4">MP4 video</option>' in page


def test_it_takes_a_capture_with_source_admin_and_opens_it(admin_client):
    response = admin_client.post(
        URL, {"format": "jpg", "width": "640", "height": "480", "fps": "30", "durationSec": "0.5", "filename": "desk"}
    )
    capture = Capture.objects.get()
    assert (capture.source, capture.status, capture.filename) == ("admin", "ok", "desk.jpg")
    assert (capture.width, capture.height, capture.duration_sec) == (640, 480, 0.5)
    assert (settings.MEDIA_ROOT / "desk.jpg").read_bytes()[:2] == b"\xff\xd8"
    assert response.status_code == 302
    assert response["Location"] == f"/admin/capture/capture/{capture.pk}/change/"
    page = admin_client.get(response["Location"])
    assert any(m.startswith("Captured desk.jpg") for m in messages_of(page))


def test_empty_fields_take_the_api_defaults(admin_client, settings):
    settings.DEFAULT_WIDTH, settings.DEFAULT_HEIGHT = 320, 240
    admin_client.post(URL, {"format": "mp4"})
    capture = Capture.objects.get()
    assert (capture.width, capture.height, capture.fps) == (320, 240, settings.DEFAULT_FPS)
    assert capture.duration_sec == settings.DEFAULT_VIDEO_DURATION_SEC
    assert capture.filename.endswith(".mp4")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"width": "0"}, "width"),
        ({"height": "99999"}, "height"),
        ({"format": "mp4", "width": "641", "height": "480"}, "width"),  # odd for video
        ({"fps": "500"}, "fps"),
        ({"durationSec": "0"}, "durationSec"),
        ({"filename": "../etc/x"}, "filename"),
        ({"format": "mp4", "filename": "clip.jpg"}, "filename"),
    ],
)
def test_bad_values_get_the_api_messages_and_no_capture(admin_client, data, field):
    response = admin_client.post(URL, {"format": "jpg", **data})
    assert response.status_code == 200
    api = CaptureParamsSerializer(data={"format": "jpg", **data})
    assert not api.is_valid()
    # The form's choice fields refuse an unknown choice themselves, in Django's words; the rest are the API's.
    expected = [str(message) for message in api.errors[field]]
    assert response.context["form"].errors[field] == expected or field == "rotation"
    assert f'class="form-row field-{"size" if field in ("width", "height") else field}"' in response.content.decode()
    assert not Capture.objects.exists()


@pytest.mark.parametrize(("data", "field"), [({"format": "gif"}, "format"), ({"width": "wide"}, "width")])
def test_values_of_the_wrong_kind_are_refused_by_the_form(admin_client, data, field):
    response = admin_client.post(URL, {"format": "jpg", **data})
    assert response.status_code == 200
    assert response.context["form"].errors[field]
    assert not Capture.objects.exists()


def test_a_busy_camera_is_a_clear_message_not_an_error_page(admin_client):
    with CameraLock(settings.CAMERA_LOCK_PATH, settings.CAMERA_INDEX).acquire(ttl_sec=30):
        response = admin_client.post(URL, {"format": "jpg", "width": "320", "height": "240"})
    assert response.status_code == 200
    assert any("The camera is busy" in m for m in messages_of(response))
    assert response.context["form"]["width"].value() == "320"  # the form is kept for another try
    assert not Capture.objects.exists()


def test_a_failed_capture_is_reported_with_a_link_to_its_row(admin_client, settings):
    settings.FFMPEG_BINARY = "false"  # the simulated camera's renderer fails
    response = admin_client.post(URL, {"format": "jpg", "width": "320", "height": "240"})
    capture = Capture.objects.get()
    assert capture.status == "failed" and capture.source == "admin"
    assert response.status_code == 200
    [message] = messages_of(response)
    assert message.startswith("The capture failed: Capture failed:")
    assert f'<a href="/admin/capture/capture/{capture.pk}/change/">capture #{capture.pk}</a>' in message


def test_it_goes_through_the_capture_service(admin_client, monkeypatch):
    calls = []
    real_capture = service.CaptureService.capture

    def spy(self, request, source):
        calls.append((request, source))
        return real_capture(self, request, source)

    monkeypatch.setattr(service.CaptureService, "capture", spy)
    admin_client.post(URL, {"format": "h264", "width": "320", "height": "240", "fps": "10", "durationSec": "1"})
    [(request, source)] = calls
    assert source == Capture.Source.ADMIN
    assert (request.format, request.width, request.height, request.fps, request.camera) == (
        "h264",
        320,
        240,
        10,
        settings.CAMERA_INDEX,
    )


def test_staff_without_the_add_permission_cannot_take_captures(client, db):
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_capture"))
    client.force_login(user)
    assert client.get(URL).status_code == 403
    assert client.post(URL, {"format": "jpg"}).status_code == 403
    assert "Take a capture" not in client.get("/admin/capture/capture/").content.decode()
    assert not Capture.objects.exists()


def test_the_camera_controls_reach_the_row(admin_client):
    admin_client.post(URL, {"format": "jpg", "width": "320", "height": "240", "durationSec": "0.2", "camera": "0",
                            "rotation": "180", "hflip": "true", "awbGains": "1.5, 1.2", "quality": "80"})  # fmt: skip
    capture = Capture.objects.get()
    assert capture.controls == {"rotation": 180, "hflip": True, "awbGains": [1.5, 1.2], "quality": 80}
    assert (capture.status, capture.camera_index) == ("ok", 0)
