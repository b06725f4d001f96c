"""Every route against every scope: no token 401, the wrong scope 403, the right one its real answer.

Also the other ways to present a token (Basic, ?token=), revoked tokens, AUTH_TOKEN beside ApiToken rows, and
auth turned on by the first token.
"""

from __future__ import annotations

import base64
import json
import logging

import pytest

from capture.models import AnalysisJob, ApiToken, Deletion
from tests.captures import make_row

ENV_TOKEN = "env-token-with-every-scope"
UNAUTHORIZED = {"ok": False, "error": "Unauthorized: send Authorization: Bearer <token>"}
SCOPES = ApiToken.Scope.values
SMALL_JPG = {"format": "jpg", "width": 320, "height": 240, "durationSec": 0.2}

# (method, path, body, the scope it needs, the status it answers with that scope)
ROUTES = [
    ("post", "/api/camera/capture", SMALL_JPG, "capture", 200),
    ("post", "/api/camera/capture-and-analyze", SMALL_JPG, "capture", 200),
    ("post", "/api/analyze", {"filename": "{filename}"}, "capture", 202),
    ("get", "/api/camera/status", None, "read", 200),
    ("get", "/api/cameras/", None, "read", 200),
    ("get", "/api/cameras/0/", None, "read", 200),
    ("get", "/api/cameras/0/status", None, "read", 200),
    ("get", "/api/captures/", None, "read", 200),
    ("get", "/api/captures/{id}/", None, "read", 200),
    ("get", "/api/analyze/{job}", None, "read", 200),
    ("get", "/api/schema/", None, "read", 200),
    ("get", "/api/docs/", None, "read", 200),
    ("post", "/api/captures/{id}/share", {"expiresSec": 60}, "read", 200),
    ("patch", "/api/captures/{id}/", {"pinned": True}, "manage", 200),
    ("delete", "/api/captures/{id}/", None, "manage", 200),
    ("get", "/api/deletions/", None, "read", 200),
    ("get", "/api/deletions/{deletion}/", None, "read", 200),
]


@pytest.fixture
def world(db):
    """A capture with its file, an analysis job, and one token per scope."""
    capture = make_row(filename="a.jpg")
    capture.path.write_bytes(b"\xff\xd8 a photo")
    job = AnalysisJob.objects.create(filename=capture.filename, capture=capture)
    deletion = Deletion.objects.create(filename="old.jpg", reason=Deletion.Reason.MANUAL)
    secrets = {scope: ApiToken.objects.create_with_secret(f"only-{scope}", [scope])[1] for scope in SCOPES}
    return {
        "id": capture.pk,
        "filename": capture.filename,
        "job": job.job_id,
        "deletion": deletion.pk,
        "secrets": secrets,
    }


def call(request, method, path, body, world, **extra):
    api = request.getfixturevalue("api")
    if path.endswith("capture-and-analyze"):
        request.getfixturevalue("analyzer")  # only there: its server takes half a second to close
    path = path.format(**world)
    if body is None:
        return getattr(api, method)(path, **extra)
    data = json.dumps(body).replace("{filename}", world["filename"])
    return getattr(api, method)(path, data=data, content_type="application/json", **extra)


def bearer(secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


@pytest.mark.parametrize("method,path,body,needed,ok", ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES])
@pytest.mark.parametrize("scope", SCOPES)
def test_each_scope_opens_exactly_its_routes(request, world, method, path, body, needed, ok, scope):
    response = call(request, method, path, body, world, **bearer(world["secrets"][scope]))
    if scope == needed:
        assert response.status_code == ok, response.content[:300]
    else:
        assert response.status_code == 403
        assert response.json() == {"ok": False, "error": f"Forbidden: this token lacks the '{needed}' scope"}


@pytest.mark.parametrize("method,path,body,needed,ok", ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES])
def test_without_a_token_every_route_is_a_401(request, world, method, path, body, needed, ok):
    response = call(request, method, path, body, world)
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert response["WWW-Authenticate"] == 'Bearer realm="api", Basic realm="api"'


@pytest.mark.parametrize("method,path,body,needed,ok", ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES])
def test_auth_token_has_every_scope_beside_the_rows(request, world, settings, method, path, body, needed, ok):
    settings.AUTH_TOKEN = ENV_TOKEN
    assert call(request, method, path, body, world, **bearer(ENV_TOKEN)).status_code == ok


VIEWSET_ROUTES = [route for route in ROUTES if not route[1].startswith(("/api/schema/", "/api/docs/"))]


@pytest.mark.parametrize("path", sorted({route[1] for route in VIEWSET_ROUTES}))
def test_options_and_missing_methods_need_a_token_of_any_scope(request, world, path):
    # The schema and the docs need `read` for every method: they are not viewsets with actions.
    assert call(request, "options", path, None, world).status_code == 401
    assert call(request, "options", path, None, world, **bearer(world["secrets"]["stream"])).status_code == 200
    assert call(request, "put", path, None, world, **bearer(world["secrets"]["stream"])).status_code == 405


def test_a_token_with_several_scopes_has_each(api, world):
    _, secret = ApiToken.objects.create_with_secret("both", ["read", "manage"])
    assert api.get("/api/captures/", **bearer(secret)).status_code == 200
    assert api.delete(f"/api/captures/{world['id']}/", **bearer(secret)).status_code == 200
    assert api.post("/api/camera/capture", **bearer(secret)).status_code == 403


def test_a_revoked_token_is_a_401(api, world):
    ApiToken.objects.get(label="only-read").revoke()
    response = api.get("/api/camera/status", **bearer(world["secrets"]["read"]))
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


def test_the_first_token_turns_auth_on_and_revoking_it_does_not_turn_it_off(api, db):
    assert api.get("/api/camera/status").status_code == 200  # no AUTH_TOKEN, no tokens: open, as in the seed
    token, secret = ApiToken.objects.create_with_secret("first", ["read"])
    assert api.get("/api/camera/status").status_code == 401
    assert api.get("/api/camera/status", **bearer(secret)).status_code == 200
    token.revoke()
    assert api.get("/api/camera/status").status_code == 401
    token.delete()
    assert api.get("/api/camera/status").status_code == 200


def test_an_open_api_ignores_whatever_a_client_sends(api, db):
    assert api.get("/api/camera/status", **bearer("anything")).status_code == 200


def test_using_a_token_records_when(api, world):
    api.get("/api/camera/status", **bearer(world["secrets"]["read"]))
    assert ApiToken.objects.get(label="only-read").last_used_at is not None
    assert ApiToken.objects.get(label="only-capture").last_used_at is None


def test_an_unknown_api_path_is_a_401_without_a_token_and_a_404_with_any(api, world):
    assert api.get("/api/nope").json() == UNAUTHORIZED
    assert api.get("/api/nope", **bearer("wrong")).status_code == 401
    response = api.get("/api/nope", **bearer(world["secrets"]["stream"]))
    assert (response.status_code, response.json()["error"]) == (404, "Not found: /api/nope")


# --- HTTP Basic: any user name, the token as the password ---------------------------------------------------


def basic(user: str, password: str) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize("user", ["ha", "", "octoprint"])
def test_basic_auth_takes_the_token_as_the_password(api, world, user):
    assert api.get("/api/camera/status", **basic(user, world["secrets"]["read"])).status_code == 200
    assert api.post("/api/camera/capture", **basic(user, world["secrets"]["read"])).status_code == 403


@pytest.mark.parametrize("credentials", [b"ha:wrong", b"ha", b"ha:", b"\xff:\xfe"])
@pytest.mark.parametrize("header", ["Basic {}", "Basic {}!"])
def test_basic_auth_with_a_wrong_or_malformed_password_is_a_401(api, world, credentials, header):
    header = header.format(base64.b64encode(credentials).decode())
    response = api.get("/api/camera/status", HTTP_AUTHORIZATION=header)
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


# --- ?token= in the URL: GET and HEAD only, read and stream tokens only ---------------------------------------


@pytest.mark.parametrize("scope", ["read", "stream"])
def test_a_read_or_stream_token_works_in_the_url_on_get(api, world, scope):
    response = api.get(f"/api/camera/status?token={world['secrets'][scope]}")
    assert response.status_code == (200 if scope == "read" else 403)
    assert api.head(f"/api/camera/status?token={world['secrets'][scope]}").status_code == response.status_code


@pytest.mark.parametrize("scope", ["capture", "manage"])
def test_a_token_that_can_change_things_is_refused_in_a_url(api, world, scope):
    secret = world["secrets"][scope]
    response = api.get(f"/api/captures/?token={secret}")
    assert response.status_code == 401
    assert "refused in a URL" in response.json()["error"]
    assert secret not in response.content.decode()


def test_auth_token_is_refused_in_a_url(api, world, settings):
    settings.AUTH_TOKEN = ENV_TOKEN
    response = api.get(f"/api/camera/status?token={ENV_TOKEN}")
    assert response.status_code == 401 and "refused in a URL" in response.json()["error"]


@pytest.mark.parametrize("scope", SCOPES)
def test_no_token_works_in_the_url_on_post(api, world, scope):
    secret = world["secrets"][scope]
    response = api.post(f"/api/camera/capture?token={secret}", data="{}", content_type="application/json")
    assert response.status_code == 401
    assert "only on GET and HEAD" in response.json()["error"]
    assert secret not in response.content.decode()


def test_a_header_wins_over_the_url(api, world):
    url = f"/api/camera/status?token={world['secrets']['capture']}"
    assert api.get(url, **bearer(world["secrets"]["read"])).status_code == 200


def test_no_token_reaches_the_log(api, world, caplog):
    secret = world["secrets"]["read"]
    with caplog.at_level(logging.DEBUG):
        api.get(f"/api/camera/status?token={secret}")
        api.get(f"/api/captures/?token={world['secrets']['capture']}")
        api.get("/api/camera/status", **basic("ha", secret))
        api.get("/api/nope?token=x" + secret)
    assert "GET /api/camera/status 200" in caplog.text
    assert not any(s in caplog.text for s in world["secrets"].values())
