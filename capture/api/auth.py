"""The API's DRF authentication and permission: a token (capture.tokens) with the scope each action needs.

A view declares `required_scopes = {action: scope}`; views that declare none (the schema, the docs) need
`read`. No token, or a refused one, is a 401 with the seed's body; a token without the scope is a 403 that
names the scope.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission

from capture import tokens
from capture.models import ApiToken


class TokenAuthentication(BaseAuthentication):
    """Sets request.auth to the ApiToken presented (Bearer, Basic or ?token=); request.user stays None."""

    def authenticate(self, request):
        if not tokens.auth_required_for(request._request):
            return None  # an open API, as in the seed: whatever a client sends is ignored
        try:
            token = tokens.authenticate(request._request)
        except tokens.Unauthorized as exc:
            raise AuthenticationFailed(str(exc)) from None
        return None if token is None else (None, token)

    def authenticate_header(self, request) -> str:
        return tokens.CHALLENGE


class HasScope(BasePermission):
    def has_permission(self, request, view) -> bool:
        if not tokens.auth_required_for(request._request):
            return True
        if request.auth is None:
            return False  # no token: DRF answers 401, since no authenticator succeeded
        needed = required_scope(view)
        if needed is None or needed in request.auth.scopes:
            return True
        self.message = tokens.lacks_scope(needed)
        return False


def required_scope(view) -> str | None:
    """The scope `view`'s current action needs. None (any valid token) for OPTIONS, which DRF answers with the
    route's description, and for a method the view doesn't have, so that a token gets the 405."""
    scopes = getattr(view, "required_scopes", None)
    if scopes is None:
        return ApiToken.Scope.READ
    action = getattr(view, "action", None)
    if action is None or action == "metadata":
        return None
    if action not in scopes:
        raise ImproperlyConfigured(f"{type(view).__name__}.required_scopes names no scope for {action!r}")
    return scopes[action]


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """The three ways to present a token, in the OpenAPI schema (any one of them will do)."""

    target_class = TokenAuthentication
    name = ["bearer", "basic", "queryToken"]

    def get_security_requirement(self, auto_schema):
        return [{name: []} for name in self.name]  # a list: alternatives (a dict would require all three)

    def get_security_definition(self, auto_schema):
        return [
            {"type": "http", "scheme": "bearer"},
            {"type": "http", "scheme": "basic", "description": "any user name, the token as the password"},
            {
                "type": "apiKey",
                "in": "query",
                "name": "token",
                "description": "GET and HEAD only, and only a token whose scopes are within read and stream",
            },
        ]
