"""Links to captured files: `/uploads/<name>`, signed (`?sig=`) while the files are protected.

Files are protected when auth is on (capture.tokens.auth_required) and UPLOADS_PUBLIC is false. A signed link
opens one file until its expiry, with nothing else to send, so a client that follows the `url` of an API answer
(the seed's clients, an external analyzer, an <img>) keeps working. `sig` is `<expiry>:<signature>`: the expiry
in Unix seconds, and django.core.signing's salted HMAC (keyed with SECRET_KEY) of the file name and that
expiry. The expiry is in the signed value, not a TimestampSigner's max_age, because share links choose their
own lifetimes. Rotating DJANGO_SECRET_KEY invalidates every link.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from django.conf import settings
from django.core import signing
from django.http import HttpRequest

from capture import tokens

_SALT = "capture.links.uploads"
# The longest a shared link may live (POST /api/captures/<id>/share, the admin's "Share link").
SHARE_MAX_SEC = 7 * 86400


def uploads_protected(request: HttpRequest | None = None) -> bool:
    """Whether file links must be signed; `request`: the request being answered, which may have asked already."""
    if settings.UPLOADS_PUBLIC:
        return False
    return tokens.auth_required_for(request) if request is not None else tokens.auth_required()


def file_url(name: str, *, protected: bool | None = None) -> str | None:
    """The link an API answer gives for a file: signed for SIGNED_URL_TTL_SEC while files are protected."""
    if not name:
        return None
    if protected is None:
        protected = uploads_protected()
    return signed_url(name)[0] if protected else f"{settings.MEDIA_URL}{name}"


def signed_url(name: str, expires_in: float | None = None) -> tuple[str, datetime]:
    """(`/uploads/<name>?sig=...`, when it expires), valid for `expires_in` seconds (SIGNED_URL_TTL_SEC)."""
    lifetime = settings.SIGNED_URL_TTL_SEC if expires_in is None else expires_in
    expires = int(time.time() + lifetime)
    signature = _signer().signature(f"{name}:{expires}")
    return f"{settings.MEDIA_URL}{name}?sig={expires}:{signature}", datetime.fromtimestamp(expires, UTC)


def signature_opens(name: str, sig: str) -> bool:
    """Whether `sig` was made for this file by this server and has not expired."""
    expires, _, signature = sig.partition(":")
    if not expires.isdigit():
        return False
    try:
        _signer().unsign(f"{name}:{expires}:{signature}")  # a constant-time comparison
    except signing.BadSignature:
        return False
    return int(expires) > time.time()


def _signer() -> signing.Signer:
    return signing.Signer(salt=_SALT)
