"""`/uploads/<name>` with auth on: a read token, a staff session or a signed link; UPLOADS_PUBLIC opens it."""

from __future__ import annotations

import base64
import logging
import time
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings

from capture.links import signed_url
from capture.models import ApiToken
from tests.captures import make_row

BODY = b"\xff\xd8" + b"a photo" * 10
UNAUTHORIZED = {"ok": False, "error": "Unauthorized: send Authorization: Bearer <token>"}
BAD_LINK = {"ok": False, "error": "Forbidden: this link is altered, expired, or for another file"}


@pytest.fixture
def photo(db):
    (django_settings.MEDIA_ROOT / "a.jpg").write_bytes(BODY)
    (django_settings.MEDIA_ROOT / "b.jpg").write_bytes(b"\xff\xd8 another")
    return "/uploads/a.jpg"


@pytest.fixture
def secrets(db):
    return {scope: ApiToken.objects.create_with_secret(scope, [scope])[1] for scope in ApiToken.Scope.values}


def test_without_a_credential_a_file_is_a_401_and_so_is_a_missing_one(client, photo, secrets):
    for path in (photo, "/uploads/missing.jpg", "/uploads/.partial-1.jpg"):
        response = client.get(path)
        assert (response.status_code, response.json()) == (401, UNAUTHORIZED)
        assert response["WWW-Authenticate"] == 'Bearer realm="api", Basic realm="api"'


@pytest.mark.parametrize("scope", ApiToken.Scope.values)
def test_only_a_read_token_opens_a_file(client, photo, secrets, scope):
    response = client.get(photo, HTTP_AUTHORIZATION=f"Bearer {secrets[scope]}")
    if scope == "read":
        assert (response.status_code, b"".join(response.streaming_content)) == (200, BODY)
    else:
        assert response.status_code == 403
        assert response.json()["error"] == "Forbidden: this token lacks the 'read' scope"


def test_a_read_token_in_basic_auth_or_the_url_opens_a_file(client, photo, secrets):
    basic = base64.b64encode(f"ha:{secrets['read']}".encode()).decode()
    assert client.get(photo, HTTP_AUTHORIZATION=f"Basic {basic}").status_code == 200
    assert client.get(f"{photo}?token={secrets['read']}").status_code == 200
    assert client.get(f"{photo}?token={secrets['capture']}").status_code == 401


def test_auth_token_opens_files(client, photo, settings):
    settings.AUTH_TOKEN = "env-token"
    assert client.get(photo).status_code == 401
    assert client.get(photo, HTTP_AUTHORIZATION="Bearer env-token").status_code == 200


def test_a_staff_session_opens_files_for_the_admin(client, photo, secrets, django_user_model):
    user = django_user_model.objects.create_user("viewer", password="pw")
    client.force_login(user)
    assert client.get(photo).status_code == 401  # logged in, but not staff
    user.is_staff = True
    user.save()
    assert client.get(photo).status_code == 200


def test_a_signed_link_opens_its_file(client, photo, secrets):
    url, expires = signed_url("a.jpg")
    response = client.get(url)
    assert (response.status_code, b"".join(response.streaming_content)) == (200, BODY)
    assert abs(expires.timestamp() - time.time() - django_settings.SIGNED_URL_TTL_SEC) < 5


def test_a_signed_link_keeps_range_and_etag(client, photo, secrets):
    url, _ = signed_url("a.jpg")
    part = client.get(url, HTTP_RANGE="bytes=0-1")
    assert (part.status_code, b"".join(part.streaming_content)) == (206, b"\xff\xd8")
    assert part["Content-Range"] == f"bytes 0-1/{len(BODY)}"
    again = client.get(url, HTTP_IF_NONE_MATCH=part["ETag"])
    assert again.status_code == 304


def sig_of(url: str) -> str:
    return urlsplit(url).query.removeprefix("sig=")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda sig: sig[:-1] + ("A" if sig[-1] != "A" else "B"),  # the signature
        lambda sig: str(int(sig.split(":")[0]) + 3600) + ":" + sig.split(":", 1)[1],  # a later expiry
        lambda sig: sig.split(":", 1)[1],  # no expiry
        lambda sig: "",
    ],
    ids=["signature", "expiry", "no-expiry", "empty"],
)
def test_an_altered_link_is_a_403(client, photo, secrets, tamper):
    url, _ = signed_url("a.jpg")
    response = client.get(f"{photo}?sig={tamper(sig_of(url))}")
    assert (response.status_code, response.json()) == (403, BAD_LINK)


def test_an_expired_link_is_a_403(client, photo, secrets):
    url, _ = signed_url("a.jpg", expires_in=-1)
    assert client.get(url).json() == BAD_LINK


def test_a_link_opens_no_other_file(client, photo, secrets):
    url, _ = signed_url("a.jpg")
    assert client.get(f"/uploads/b.jpg?sig={sig_of(url)}").json() == BAD_LINK


def test_a_link_made_with_another_secret_key_is_a_403(client, photo, secrets, settings):
    url, _ = signed_url("a.jpg")
    settings.SECRET_KEY = "another-key"
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("public", [True, False])
def test_uploads_public_restores_the_seeds_public_files(client, photo, secrets, settings, public):
    settings.UPLOADS_PUBLIC = public
    assert client.get(photo).status_code == (200 if public else 401)


def test_without_auth_files_are_public_as_in_the_seed(client, photo):
    assert client.get(photo).status_code == 200


# --- The `url` of API answers ------------------------------------------------------------------------------


def test_answers_give_signed_links_that_open_the_file(api, photo, secrets, settings):
    settings.AUTH_TOKEN = "env-token"
    make_row(filename="a.jpg")
    auth = {"HTTP_AUTHORIZATION": "Bearer env-token"}
    captured = api.post("/api/camera/capture", {"width": 320, "height": 240}, format="json", **auth).json()
    history = api.get("/api/captures/", **auth).json()["results"]
    one = api.get(f"/api/captures/{history[-1]['id']}/", **auth).json()
    for url in (captured["url"], history[0]["url"], history[-1]["url"], one["url"]):
        assert urlsplit(url).path.startswith("/uploads/") and "?sig=" in url
        assert api.get(url).status_code == 200  # no token needed: the seed's clients follow `url`


def test_answers_give_plain_links_when_files_are_public(api, photo, secrets, settings):
    settings.UPLOADS_PUBLIC = True
    make_row(filename="a.jpg")
    history = api.get("/api/captures/", HTTP_AUTHORIZATION=f"Bearer {secrets['read']}").json()["results"]
    assert history[0]["url"] == "/uploads/a.jpg"


def test_capture_and_analyze_forwards_a_signed_link(api, secrets, analyzer):
    answer = api.post(
        "/api/camera/capture-and-analyze",
        {"width": 320, "height": 240},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {secrets['capture']}",
    ).json()
    assert "?sig=" in answer["url"]
    forwarded = analyzer.requests[0]["body"]
    assert forwarded["url"] == f"http://testserver{answer['url']}"
    assert forwarded["path"] == f"/uploads/{answer['filename']}"


def test_no_token_or_signature_reaches_the_log(client, photo, secrets, caplog):
    url, _ = signed_url("a.jpg")
    with caplog.at_level(logging.DEBUG):
        client.get(url)
        client.get(f"{photo}?token={secrets['read']}")
        client.get(f"{photo}?token={secrets['manage']}")
    assert "GET /uploads/a.jpg 200" in caplog.text
    assert sig_of(url) not in caplog.text
    assert not any(secret in caplog.text for secret in secrets.values())


def test_behind_nginx_the_app_checks_access_then_hands_the_file_to_nginx(client, photo, secrets):
    header = {"HTTP_X_ACCEL_UPLOADS": "/internal-uploads/"}
    assert "X-Accel-Redirect" not in client.get(photo, **header)  # refused first: 401
    response = client.get(photo, HTTP_AUTHORIZATION=f"Bearer {secrets['read']}", **header)
    assert (response.status_code, response.content) == (200, b"")
    assert response["X-Accel-Redirect"] == "/internal-uploads/a.jpg"
    assert client.get("/uploads/.partial-1.jpg", **header).status_code == 401
