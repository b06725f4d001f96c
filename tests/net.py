"""Loopback helpers shared by the tests and the benchmark (no Django here, so bench/run.py can import it)."""

from __future__ import annotations

import os
import socket
import threading
import time

import requests

# Ports come from below the kernel's ephemeral range (32768-60999 by default), so no outgoing connection is
# ever handed one, and each pytest-xdist worker draws from its own block, so two workers never pick the
# same port between choosing it and the server binding it. A run starts at a pid-dependent place in its
# block, so two test runs on one machine rarely meet either; the bind check skips any port in use.
PORT_BASE = 20000
PORT_BLOCK = 1500
MAX_WORKERS = 8  # 20000 + 8 * 1500 stays below 32768

_lock = threading.Lock()
_next_offset: int | None = None


def worker_index() -> int:
    """0, 1, ... for pytest-xdist's gw0, gw1, ...; 0 outside xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker[2:]) % MAX_WORKERS if worker[:2] == "gw" and worker[2:].isdigit() else 0


def free_port() -> int:
    """A loopback port nothing is bound to, from this worker's own block (tried in turn, never reused soon)."""
    global _next_offset
    base = PORT_BASE + worker_index() * PORT_BLOCK
    with _lock:
        if _next_offset is None:
            _next_offset = (os.getpid() * 7) % PORT_BLOCK
        for _ in range(PORT_BLOCK):
            port = base + _next_offset
            _next_offset = (_next_offset + 1) % PORT_BLOCK
            if _bindable(port):
                return port
    raise RuntimeError(f"no free port in {base}-{base + PORT_BLOCK - 1}")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def serve_in_thread(server) -> None:
    """Run a socketserver's serve_forever in a daemon thread, polling for shutdown every 20 ms: its default of
    0.5 s makes every shutdown() (each stub server's teardown) wait up to half a second for nothing."""
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()


def wait_for_http(url: str, timeout: float = 20) -> None:
    """Return once `url` answers at all (any status); TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=5)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def wait_until(condition, timeout: float = 10, interval: float = 0.05, message: str = "condition"):
    """Poll `condition()` until it returns something truthy and return that; TimeoutError after `timeout` s.

    For synchronising with another process or thread instead of a fixed sleep."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"{message} not met within {timeout} s")
        time.sleep(interval)
