"""Which API token a request presents, and whether the server asks for one at all.

A request presents a token's secret in one of three ways:

- `Authorization: Bearer <secret>`;
- HTTP Basic with any user name and the secret as the password (Home Assistant, OctoPrint's snapshots);
- `?token=<secret>` in the URL, for clients that can send no header (an `<img src>`, a Moonraker
  `stream_url`): only on GET and HEAD, and only for a token whose scopes are within read and stream. A URL
  ends up in browser history, Referer headers and proxies' logs, so a token that can take or delete captures
  must never be in one.

The env's AUTH_TOKEN is the token with every scope (the seed's contract). Tokens are stored as hashes
(capture.models.ApiToken); a secret is never logged, echoed in an error, or put in an answer.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from django.conf import settings
from django.http import HttpRequest, JsonResponse

from capture.hot_queries import first_row
from capture.models import ApiToken

UNAUTHORIZED = "Unauthorized: send Authorization: Bearer <token>"
CHALLENGE = 'Bearer realm="api", Basic realm="api"'  # Basic: Home Assistant and OctoPrint know to send it
URL_SCOPES = frozenset({ApiToken.Scope.READ.value, ApiToken.Scope.STREAM.value})
SAFE_METHODS = ("GET", "HEAD")


class Unauthorized(Exception):
    """A credential was presented and is refused (401). The message never holds the credential."""

    def __init__(self, message: str = UNAUTHORIZED) -> None:
        super().__init__(message)


def auth_required() -> bool:
    """Auth is on when AUTH_TOKEN is set or any token has been made, revoked ones included.

    Making the first token turns auth on: a token is made to restrict access, and an API left open beside it
    would make its scopes meaningless. Revoking tokens never turns auth off again (revoking the last one must
    not open the camera to everyone); deleting every token row does, when AUTH_TOKEN is unset.
    """
    return (
        bool(settings.AUTH_TOKEN)
        or first_row(("api_tokens_exist",), lambda: ApiToken.objects.values_list("pk")) is not None
    )


def auth_required_for(request: HttpRequest) -> bool:
    """auth_required(), asked once per request: the authenticator, the permission check and the answer's file
    links all ask it."""
    answer = getattr(request, "_auth_required", None)
    if answer is None:
        answer = request._auth_required = auth_required()
    return answer


def authenticate(request: HttpRequest) -> ApiToken | None:
    """The token the request presents, None if it presents none; Unauthorized if what it presents is refused."""
    secret, in_url = _presented_secret(request)
    if secret is None:
        return None
    if in_url and request.method not in SAFE_METHODS:
        raise Unauthorized("Unauthorized: ?token= is accepted only on GET and HEAD; send Authorization: Bearer <token>")
    token = _find(secret)
    if token is None:
        raise Unauthorized()
    if in_url and not set(token.scopes) <= URL_SCOPES:
        raise Unauthorized(
            "Unauthorized: this token has scopes beyond read and stream, so it is refused in a URL (?token=): "
            "send it as Authorization: Bearer <token>, and revoke it if the URL was shared"
        )
    token.touch()
    return token


def lacks_scope(scope: str) -> str:
    return f"Forbidden: this token lacks the '{scope}' scope"


def refusal(request: HttpRequest, scope: str | None) -> JsonResponse | None:
    """For views outside DRF (the /uploads files, the 404 handler): None when the request may go on (auth is
    off, or it presents a token with `scope`, or any token when `scope` is None), else the API's 401 or 403."""
    if not auth_required():
        return None
    try:
        token = authenticate(request)
    except Unauthorized as exc:
        return unauthorized(str(exc))
    if token is None:
        return unauthorized(UNAUTHORIZED)
    if scope is not None and scope not in token.scopes:
        return JsonResponse({"ok": False, "error": lacks_scope(scope)}, status=403)
    return None


def unauthorized(message: str) -> JsonResponse:
    return JsonResponse({"ok": False, "error": message}, status=401, headers={"WWW-Authenticate": CHALLENGE})


def env_token() -> ApiToken:
    """AUTH_TOKEN as a token (never saved): every scope."""
    return ApiToken(label="AUTH_TOKEN", scopes=list(ApiToken.Scope.values))


def _find(secret: str) -> ApiToken | None:
    # Constant-time comparison, so response timing doesn't reveal how much of a guess was right.
    if settings.AUTH_TOKEN and hmac.compare_digest(secret.encode(), settings.AUTH_TOKEN.encode()):
        return env_token()
    return ApiToken.objects.find(secret)


def _presented_secret(request: HttpRequest) -> tuple[str | None, bool]:
    """(secret, whether it came in the URL). A header in another scheme counts as no credential."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None, False
    if scheme.lower() == "basic":
        return _basic_password(value), False
    return request.GET.get("token") or None, True


def _basic_password(value: str) -> str:
    try:
        _user, colon, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized() from None
    if not colon or not password:
        raise Unauthorized()
    return password
