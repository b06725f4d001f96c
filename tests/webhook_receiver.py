"""A webhook receiver on 127.0.0.1 that records what it gets and checks signatures the README's way; it can go
down and come back on the same port (a receiver that is restarted)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.net import free_port, serve_in_thread


def verify(secret: str, headers, body: bytes, *, now: float, tolerance: float = 300) -> bool:
    """The README's verification: HMAC-SHA256 of `<timestamp>.<body>`, and a timestamp that is recent."""
    timestamp = headers["X-Camsite-Timestamp"]
    expected = "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    fresh = abs(now - int(timestamp)) <= tolerance
    return fresh and hmac.compare_digest(expected, headers["X-Camsite-Signature"])


class _ReusableServer(ThreadingHTTPServer):
    allow_reuse_address = True  # back on its port at once after stop()
    daemon_threads = True


class Receiver:
    def __init__(self, status: int = 204) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.status = status
        self.received: list[dict] = []
        self._lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    receiver.received.append({"headers": dict(self.headers), "body": body, "json": json.loads(body)})
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = _ReusableServer(("127.0.0.1", self.port), Handler)
        serve_in_thread(self.server)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def events(self) -> list[dict]:
        with self._lock:
            return [item["json"] for item in self.received]
