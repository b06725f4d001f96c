"""AUTH_TOKEN guards every /api/* route, as in the seed; CORS follows CORS_ALLOW_ALL / CORS_ORIGIN.
Scoped tokens: tests/test_api_scopes.py; files: tests/test_uploads_access.py."""

from __future__ import annotations

import logging

import pytest

TOKEN = "s3cret-Token"


@pytest.fixture
def auth(settings):
    settings.AUTH_TOKEN = TOKEN


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer wrong",
        "Bearer",
        "Bearer ",
        f"Basic {TOKEN}",
        f"Token {TOKEN}",
        f"Bearer {TOKEN.lower()}",
        f"Bearer {TOKEN}x",
        TOKEN,
    ],
)
@pytest.mark.parametrize(
    "method,path",
    [
        ("get", "/api/camera/status"),
        ("post", "/api/camera/capture"),
        ("get", "/api/captures/"),
        ("get", "/api/schema/"),
        ("get", "/api/nope"),
    ],
)
def test_without_the_right_token_every_api_route_is_a_401(client, db, auth, header, method, path):
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    response = getattr(client, method)(path, **extra)
    assert response.status_code == 401
    assert response.json() == {"ok": False, "error": "Unauthorized: send Authorization: Bearer <token>"}
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_right_token_opens_the_api(client, db, auth, scheme):
    response = client.get("/api/camera/status", HTTP_AUTHORIZATION=f"{scheme} {TOKEN}")
    assert response.status_code == 200


def test_the_admin_is_not_behind_the_api_token_and_uploads_are(client, db, auth, settings):
    assert client.get("/admin/login/").status_code == 200
    assert client.get("/uploads/none.jpg").status_code == 401  # tests/test_uploads_access.py
    settings.UPLOADS_PUBLIC = True
    assert client.get("/uploads/none.jpg").status_code == 404  # the seed's public files


def test_without_auth_token_the_api_is_open(client, db):
    assert client.get("/api/camera/status").status_code == 200


def test_the_token_is_never_logged(client, db, auth, caplog):
    with caplog.at_level(logging.DEBUG):
        client.get("/api/camera/status", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        client.get("/api/camera/status", HTTP_AUTHORIZATION=f"Bearer {TOKEN}-guess")
    assert "GET /api/camera/status 200" in caplog.text
    assert TOKEN not in caplog.text


def preflight(client, origin):
    return client.options(
        "/api/camera/capture",
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )


def test_cors_allow_all(client, db, settings, auth):
    settings.CORS_ALLOW_ALL_ORIGINS = True
    response = preflight(client, "http://anywhere.test")
    assert response.status_code == 200  # preflights carry no token and must not be refused
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "authorization" in response["Access-Control-Allow-Headers"]
    denied = client.get("/api/camera/status", HTTP_ORIGIN="http://anywhere.test")
    assert denied.status_code == 401
    assert denied["Access-Control-Allow-Origin"] == "*"  # so the browser can read the 401


def test_cors_origin_list(client, db, settings):
    settings.CORS_ALLOWED_ORIGINS = ["http://a.test", "http://b.test"]
    assert preflight(client, "http://b.test")["Access-Control-Allow-Origin"] == "http://b.test"
    assert "Access-Control-Allow-Origin" not in preflight(client, "http://evil.test")


def test_no_cors_by_default(client, db):
    assert "Access-Control-Allow-Origin" not in client.get("/api/camera/status", HTTP_ORIGIN="http://a.test")
