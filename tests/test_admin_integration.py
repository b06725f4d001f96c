"""The admin's Integration page: copy-paste configuration for Home Assistant, OctoPrint and Moonraker, each POST
making a fresh stream+read token whose secret is shown this once."""

from __future__ import annotations

import re

from django.contrib.auth.models import Permission, User

from capture.models import ApiToken

URL = "/admin/capture/capture/integration/0/"


def test_the_page_offers_a_button_and_makes_no_token_on_get(admin_client):
    html = admin_client.get(URL).content.decode()
    assert 'id="integration-form"' in html and 'method="post"' in html
    assert not ApiToken.objects.exists()


def test_a_post_makes_a_stream_and_read_token_and_fills_every_snippet(admin_client, settings):
    settings.PREVIEW_FPS = 12
    response = admin_client.post(URL, HTTP_HOST="camera.local:3000")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get()
    assert sorted(token.scopes) == ["read", "stream"]
    assert token.label.startswith("integration camera 0 ")
    html = response.content.decode()
    secret = re.search(r"password: (\S+)", html)[1]
    assert ApiToken.objects.find(secret) == token
    base = "http://camera.local:3000/api/cameras/0"
    for text in (
        f"mjpeg_url: {base}/stream.mjpg",
        f"still_image_url: {base}/snapshot.jpg",
        "authentication: basic",
        f"Stream URL: {base}/stream.mjpg?token={secret}",
        f"Snapshot URL: {base}/snapshot.jpg?token={secret}",
        "service: mjpegstreamer-adaptive",
        f"stream_url: {base}/stream.mjpg?token={secret}",
        f"snapshot_url: {base}/snapshot.jpg?token={secret}",
        "target_fps: 12",
        "flip_horizontal: False",
        "rotation: 0",
    ):
        assert text in html, text
    # A second POST makes another token; the first page's secret is not shown again.
    again = admin_client.post(URL).content.decode()
    assert ApiToken.objects.count() == 2 and secret not in again
    assert secret not in admin_client.get(URL).content.decode()


def test_public_url_wins_over_the_request_host(admin_client, settings):
    settings.PUBLIC_URL = "https://pi.example"
    html = admin_client.post(URL, HTTP_HOST="10.0.0.5").content.decode()
    assert "mjpeg_url: https://pi.example/api/cameras/0/stream.mjpg" in html
    assert "10.0.0.5" not in html


def test_the_camera_orientation_is_reported_and_the_client_flips_stay_off(admin_client, settings):
    settings.CAMERA_CONTROL_DEFAULTS = {0: {"ROTATION": "180", "HFLIP": "true"}}
    html = admin_client.post(URL).content.decode()
    assert "rotation 180&deg;" in html and "horizontal flip on" in html
    assert "flip_horizontal: False" in html and "Flip webcam horizontally: off" in html


def test_an_unknown_camera_is_404(admin_client):
    assert admin_client.get("/admin/capture/capture/integration/7/").status_code == 404


def test_a_staff_user_without_token_permission_gets_no_token(client, db):
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_capture"))
    client.force_login(user)
    assert "needs permission to add API tokens" in client.get(URL).content.decode()
    assert client.post(URL).status_code == 403
    assert not ApiToken.objects.exists()


def test_the_capture_list_links_each_camera_to_its_page(admin_client):
    assert URL in admin_client.get("/admin/capture/capture/").content.decode()
