"""`manage.py smoke_test` and `scripts/smoke_test.py` against a real gunicorn, and against a broken server."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from capture.management.smoke import add_arguments
from tests.cli import run_manage
from tests.conftest import ROOT
from tests.net import serve_in_thread
from tests.servers import GunicornServer

TOKEN = "smoke-secret"


@pytest.fixture(scope="module")
def server(module_gunicorn) -> GunicornServer:
    return module_gunicorn(env={"AUTH_TOKEN": TOKEN})


def smoke_script(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("SMOKE_URL", "SMOKE_TOKEN", "AUTH_TOKEN", "PORT")}
    return subprocess.run(
        [sys.executable, "scripts/smoke_test.py"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.slow
def test_it_passes_against_a_real_server(server):
    result = smoke_script(SMOKE_URL=server.url, SMOKE_TOKEN=TOKEN)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[1:-1]] == ["ok", "ok", "ok", "ok"]
    assert "second capture refused with 409" in lines[4]
    assert lines[-1] == "4/4 steps passed"

    # The server really took the three captures, and really answered the fourth request with 409.
    history = server.get("/api/captures/", headers={"Authorization": f"Bearer {TOKEN}"}).json()["results"]
    assert sorted((row["format"], row["status"]) for row in history) == [("h264", "ok"), ("jpg", "ok"), ("mp4", "ok")]
    assert "POST /api/camera/capture 409" in server.log()


@pytest.mark.slow
def test_manage_py_smoke_test_fails_on_a_wrong_token(server, capsys, monkeypatch):
    for name in ("SMOKE_URL", "SMOKE_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PORT", str(server.port))  # the URL comes from PORT, the token from AUTH_TOKEN
    monkeypatch.setenv("AUTH_TOKEN", "wrong")
    code, out, err = run_manage(capsys, "smoke_test")
    assert code == 1
    assert f"GET {server.url}/api/camera/status answered 401" in out
    assert out.splitlines()[-1] == "0/4 steps passed"
    assert "smoke test failed" in err


def test_an_unreachable_server_fails_every_step():
    result = smoke_script(SMOKE_URL="http://127.0.0.1:9")  # the discard port: nothing listens
    assert result.returncode == 1
    assert result.stdout.count("(is the server running?)") == 4


@pytest.mark.parametrize(
    ("environ", "url", "token"),
    [
        ({}, "http://127.0.0.1:3000", ""),
        ({"PORT": "4000", "AUTH_TOKEN": "a"}, "http://127.0.0.1:4000", "a"),
        (
            {"PORT": "4000", "SMOKE_URL": "http://cam.local", "AUTH_TOKEN": "a", "SMOKE_TOKEN": "s"},
            "http://cam.local",
            "s",
        ),
    ],
)
def test_it_takes_the_seeds_environment(environ, url, token):
    parser = argparse.ArgumentParser()
    add_arguments(parser, environ)
    args = parser.parse_args([])
    assert (args.url, args.token) == (url, token)


class LocklessServer:
    """A server that never refuses a capture: every capture answers 200, even during another one."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/api/camera/status":
                    self._send("application/json", json.dumps({"ok": True, "busy": True}).encode())
                else:
                    self._send("image/jpeg", b"\xff\xd8\xff\xe0 not much of a photo")

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                time.sleep(body["durationSec"] / 4)
                self._send("application/json", b'{"ok": true, "filename": "x.jpg", "url": "/uploads/x.jpg"}')

            def _send(self, content_type: str, data: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        serve_in_thread(self.httpd)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_second_capture_that_is_not_refused_is_a_failure():
    lockless = LocklessServer()
    try:
        assert requests.get(lockless.url + "/api/camera/status", timeout=5).ok
        result = smoke_script(SMOKE_URL=lockless.url)
    finally:
        lockless.close()
    assert result.returncode == 1
    busy_line = next(line for line in result.stdout.splitlines() if "busy check" in line)
    assert busy_line.startswith("FAIL")
    assert "must get 409 (camera busy), got 200" in busy_line
