"""A stub analyzer on 127.0.0.1 whose answers each test chooses (capture-and-analyze forwarding tests)."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.conf import settings

from capture.camera.lock import CameraLock
from tests.net import serve_in_thread


class _QuietServer(ThreadingHTTPServer):
    # Join handler threads on close, so a slow answer never outlives its test; a client that gave up
    # (the timeout tests) is expected, not an error to print.
    daemon_threads = False

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Analyzer:
    """A tiny analyzer on 127.0.0.1 whose answer each test chooses."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.status = 200
        self.answer: bytes = json.dumps({"ok": True, "jobId": "job-42", "status": "queued"}).encode()
        self.delay = 0.0
        self._closing = threading.Event()  # cuts a slow answer short once its client has given up
        analyzer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                analyzer.requests.append(
                    {
                        "path": self.path,
                        "body": json.loads(self.rfile.read(length)),
                        "authorization": self.headers.get("Authorization"),
                        "camera_busy": CameraLock(settings.CAMERA_LOCK_PATH).peek() is not None,
                    }
                )
                analyzer._closing.wait(analyzer.delay)
                self.send_response(analyzer.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(analyzer.answer)

            def log_message(self, *args):
                pass

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/api/analyze"
        serve_in_thread(self.server)

    def close(self) -> None:
        self._closing.set()
        self.server.shutdown()
        self.server.server_close()
