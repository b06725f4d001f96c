"""Share links: `POST /api/captures/<id>/share` (a read token) and the admin's "Share link" action."""

from __future__ import annotations

import re
import time
from datetime import datetime

import pytest
from django.conf import settings

from capture.models import ApiToken, Capture
from tests.captures import make_row


@pytest.fixture
def capture(db):
    (settings.MEDIA_ROOT / "a.jpg").write_bytes(b"\xff\xd8 a photo")
    return make_row(filename="a.jpg")


@pytest.fixture
def read(db):
    return {"HTTP_AUTHORIZATION": f"Bearer {ApiToken.objects.create_with_secret('r', ['read'])[1]}"}


def share(api, capture, body=None, **auth):
    return api.post(f"/api/captures/{capture.pk}/share", body or {}, format="json", **auth)


def test_it_answers_a_signed_link_that_opens_the_file(api, capture, read):
    answer = share(api, capture, {"expiresSec": 3600}, **read).json()
    assert answer["ok"] is True and answer["url"].startswith("/uploads/a.jpg?sig=")
    expires = datetime.fromisoformat(answer["expiresAt"].replace("Z", "+00:00")).timestamp()
    assert abs(expires - time.time() - 3600) < 5
    assert api.get(answer["url"]).status_code == 200


def test_the_default_lifetime_is_signed_url_ttl_sec(api, capture, read):
    answer = share(api, capture, **read).json()
    expires = datetime.fromisoformat(answer["expiresAt"].replace("Z", "+00:00")).timestamp()
    assert abs(expires - time.time() - settings.SIGNED_URL_TTL_SEC) < 5


@pytest.mark.parametrize("seconds", [0, 59, 7 * 86400 + 1, "soon"])
def test_the_lifetime_is_bounded(api, capture, read, seconds):
    response = share(api, capture, {"expiresSec": seconds}, **read)
    assert response.status_code == 400
    assert "expiresSec" in response.json()["fields"]


def test_it_needs_a_read_token(api, capture, read):
    assert share(api, capture).status_code == 401
    _, capture_only = ApiToken.objects.create_with_secret("c", ["capture"])
    assert share(api, capture, HTTP_AUTHORIZATION=f"Bearer {capture_only}").status_code == 403


def test_a_capture_without_a_file_cannot_be_shared(api, db, read):
    failed = make_row(status=Capture.Status.FAILED)
    assert share(api, failed, **read).status_code == 404
    assert api.post("/api/captures/999/share", {}, format="json", **read).status_code == 404


@pytest.mark.parametrize("expires,hours", [("3600", 1), ("86400", 24), ("604800", 168)])
def test_the_admin_action_shows_a_link_with_the_chosen_expiry(admin_client, capture, read, expires, hours):
    data = {"action": "share_link", "_selected_action": [capture.pk], "expires": expires}
    response = admin_client.post("/admin/capture/capture/", data, follow=True)
    [message] = [str(m) for m in response.context["messages"]]
    url = re.search(r"(http://testserver/uploads/a\.jpg\?sig=(\d+):\S+)$", message)
    assert url, message
    assert abs(int(url[2]) - time.time() - hours * 3600) < 5
    admin_client.logout()
    assert admin_client.get(url[1]).status_code == 200
