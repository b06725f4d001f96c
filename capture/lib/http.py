"""The one client for outgoing HTTP calls: always a timeout, one error type."""

from __future__ import annotations

from urllib.parse import urlsplit

# requests is imported by the functions that send: a web worker that never forwards to an analyzer or delivers
# a webhook never loads it (camsite.lean_imports).


class TransportError(Exception):
    pass


def post_json(url: str, payload: dict, *, timeout: float, bearer_token: str = "") -> dict:
    """POST `payload` as JSON and return the JSON object answered; TransportError on any failure."""
    import requests

    headers = {"Authorization": f"Bearer {bearer_token}"} if bearer_token else {}
    try:
        response = requests.post(url, json=payload, headers=headers, timeout=timeout)
    except requests.Timeout:
        raise TransportError(f"no answer from {url} within {timeout:g} s") from None
    except requests.RequestException as exc:
        raise TransportError(f"could not reach {url}: {exc.__class__.__name__}") from None
    if not response.ok:
        raise TransportError(f"{url} answered HTTP {response.status_code}: {response.text[:200].strip()}")
    try:
        body = response.json()
    except ValueError:
        raise TransportError(f"{url} answered with something that is not JSON") from None
    if not isinstance(body, dict):
        raise TransportError(f"{url} answered with JSON that is not an object")
    return body


def post_bytes(url: str, body: bytes, *, headers: dict[str, str], timeout: float) -> int:
    """POST `body` as is and return the HTTP status; TransportError unless it is 2xx. Redirects are not
    followed: a webhook that moved must be reconfigured, not have its signed body sent somewhere else.

    Errors name only the URL's origin: a webhook's path or query is often its secret (Home Assistant's
    /api/webhook/<id>), and errors end up in logs."""
    where = origin(url)
    import requests

    try:
        response = requests.post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
    except requests.Timeout:
        raise TransportError(f"no answer from {where} within {timeout:g} s") from None
    except requests.RequestException as exc:
        raise TransportError(f"could not reach {where}: {exc.__class__.__name__}") from None
    if not 200 <= response.status_code < 300:
        raise TransportError(f"{where} answered HTTP {response.status_code}: {response.text[:200].strip()}")
    return response.status_code


def origin(url: str) -> str:
    """`scheme://host[:port]` of `url`, without credentials, path or query."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}"
