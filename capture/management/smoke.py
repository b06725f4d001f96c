"""The smoke test: checks a running server end to end over HTTP (status, a jpg, an mp4, the busy answer).

No Django here, only `requests`, so `scripts/smoke_test.py` runs it from any machine; `manage.py smoke_test`
runs the same steps. Configuration, as in the Node server's smoke test: SMOKE_URL (default
http://127.0.0.1:$PORT, PORT default 3000) and SMOKE_TOKEN or AUTH_TOKEN for the Bearer token.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import requests

CAPTURE = "/api/camera/capture"
STATUS = "/api/camera/status"
JPG = {"format": "jpg", "durationSec": 1, "width": 1280, "height": 720}
MP4 = {"format": "mp4", "durationSec": 2, "fps": 30, "width": 640, "height": 480}
# Long enough that a second request surely lands while the camera is recording.
LONG = {"format": "h264", "durationSec": 4, "fps": 30, "width": 640, "height": 480}
SHORT = {"format": "jpg", "durationSec": 0.5, "width": 640, "height": 480}
BUSY_WAIT_SEC = 10
# A capture takes its durationSec plus camera start-up, encoding and (mp4) a remux; a Pi may be slow at all three.
CAPTURE_ALLOWANCE_SEC = 60


class SmokeFailure(Exception):
    pass


class SmokeClient:
    """The smoke test's only HTTP client: one base URL, the Bearer token, and a timeout on every call."""

    def __init__(self, base_url: str, token: str = "", timeout: float = 10) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str) -> requests.Response:
        return self._call("GET", path, None, self.timeout)

    def post(self, path: str, body: dict) -> requests.Response:
        return self._call("POST", path, body, body.get("durationSec", 0) + CAPTURE_ALLOWANCE_SEC)

    def _call(self, method: str, path: str, body: dict | None, timeout: float) -> requests.Response:
        url = self.base_url + path
        try:
            return self.session.request(method, url, json=body, timeout=timeout)
        except requests.Timeout:
            raise SmokeFailure(f"{method} {url}: no answer within {timeout:g} s") from None
        except requests.RequestException as exc:
            raise SmokeFailure(f"{method} {url}: {exc.__class__.__name__} (is the server running?)") from None


def check_status(client: SmokeClient) -> str:
    status = _json(client.get(STATUS), 200)
    detected = {True: "camera detected", False: "NO camera detected", None: "detection still running"}
    return f"backend {status.get('backend')}, {detected.get(status.get('cameraDetected'))}, busy {status.get('busy')}"


def check_jpg(client: SmokeClient) -> str:
    return _capture_and_fetch(client, JPG, "image/jpeg", lambda data: data[:2] == b"\xff\xd8")


def check_mp4(client: SmokeClient) -> str:
    return _capture_and_fetch(client, MP4, "video/mp4", lambda data: data[4:8] == b"ftyp")


def check_busy(client: SmokeClient) -> str:
    """A second capture while one is recording must be refused with 409 at once: that is the lock working."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(client.post, CAPTURE, LONG)
        deadline = time.monotonic() + BUSY_WAIT_SEC
        while not _json(client.get(STATUS), 200).get("busy"):
            if first.done() or time.monotonic() > deadline:
                answer = first.result()
                raise SmokeFailure(
                    f"the server never reported busy during a {LONG['durationSec']} s capture "
                    f"(that capture answered {answer.status_code}: {answer.text[:200]})"
                )
            time.sleep(0.1)
        started = time.monotonic()
        second = client.post(CAPTURE, SHORT)
        waited = time.monotonic() - started
        if second.status_code != 409:
            raise SmokeFailure(
                f"a capture during another one must get 409 (camera busy), got {second.status_code}: "
                f"{second.text[:200]}"
            )
        _json(first.result(), 200)
    return f"second capture refused with 409 in {waited * 1000:.0f} ms; the first finished with 200"


STEPS: list[tuple[str, Callable[[SmokeClient], str]]] = [
    ("status", check_status),
    ("jpg capture", check_jpg),
    ("mp4 capture", check_mp4),
    ("busy check", check_busy),
]


def run(client: SmokeClient, write: Callable[[str], None]) -> bool:
    """Run every step, writing one line each; True when all passed."""
    write(f"smoke test against {client.base_url}")
    passed = 0
    for name, step in STEPS:
        started = time.monotonic()
        try:
            detail = step(client)
        except SmokeFailure as exc:
            write(f"FAIL  {name:<12} {exc}")
            continue
        passed += 1
        write(f"ok    {name:<12} {(time.monotonic() - started) * 1000:>6.0f} ms  {detail}")
    write(f"{passed}/{len(STEPS)} steps passed")
    return passed == len(STEPS)


def add_arguments(parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
    port = environ.get("PORT") or "3000"
    parser.add_argument(
        "--url",
        default=environ.get("SMOKE_URL") or f"http://127.0.0.1:{port}",
        help="the server's base URL (default: $SMOKE_URL, else http://127.0.0.1:$PORT)",
    )
    parser.add_argument(
        "--token",
        default=environ.get("SMOKE_TOKEN") or environ.get("AUTH_TOKEN") or "",
        help="Bearer token (default: $SMOKE_TOKEN, else $AUTH_TOKEN)",
    )


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser, os.environ if environ is None else environ)
    args = parser.parse_args(argv)
    return 0 if run(SmokeClient(args.url, args.token), print) else 1


def _capture_and_fetch(client: SmokeClient, body: dict, content_type: str, looks_right: Callable) -> str:
    answer = _json(client.post(CAPTURE, body), 200)
    filename, url = answer.get("filename"), answer.get("url")
    if answer.get("ok") is not True or not filename or urlsplit(url).path != f"/uploads/{filename}":
        raise SmokeFailure(f"unexpected answer: {answer}")
    served = client.get(url)
    if served.status_code != 200:
        raise SmokeFailure(f"GET {url} answered {served.status_code}")
    if served.headers.get("Content-Type", "").split(";")[0] != content_type:
        raise SmokeFailure(f"GET {url} is {served.headers.get('Content-Type')!r}, expected {content_type}")
    if not looks_right(served.content):
        raise SmokeFailure(f"GET {url} does not look like a {body['format']} file")
    return f"{filename} ({len(served.content)} bytes)"


def _json(response: requests.Response, expected_status: int) -> dict:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != expected_status or not isinstance(body, dict):
        detail = body.get("error") if isinstance(body, dict) else response.text[:200]
        raise SmokeFailure(f"{response.request.method} {response.url} answered {response.status_code}: {detail}")
    return body
