"""Talking to a camera owner (capture.lib.owner) over its Unix socket (stdlib only).

Every call has a short timeout and raises OwnerUnavailable when no owner answers: a camera without an owner
still captures exactly as before, it just has no preview.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path


class OwnerUnavailable(Exception):
    """No owner runs for this camera (or it did not answer in time)."""


def socket_path(lock_file: Path | str) -> Path:
    """The owner's socket sits beside the camera's lock file (CameraLock.path)."""
    return Path(f"{lock_file}.owner.sock")


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("owner", timeout=timeout)
        self._path = str(path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def request(path: Path, method: str, target: str, *, timeout: float) -> tuple[int, str, bytes]:
    """(status, content type, body) of one request to the owner."""
    connection = _UnixConnection(path, timeout)
    try:
        connection.request(method, target)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise OwnerUnavailable(f"no camera owner on {path}: {exc}") from exc
    finally:
        connection.close()


def status(path: Path, *, timeout: float = 0.3) -> dict:
    code, _type, body = request(path, "GET", "/status", timeout=timeout)
    if code != 200:
        raise OwnerUnavailable(f"owner status answered {code}")
    return json.loads(body)


def ask_to_yield(path: Path, *, timeout: float) -> None:
    """Ask the owner to stop its preview and release the camera; returns once it has (or raises)."""
    code, _type, _body = request(path, "POST", "/yield", timeout=timeout)
    if code != 200:
        raise OwnerUnavailable(f"owner yield answered {code}")


def warm_still(path: Path, *, timeout: float) -> tuple[int, dict]:
    """One still from the owner's warm process: (200, {"path", "ms"}), or (503 not warm / 409 busy / 504, error)."""
    code, _type, body = request(path, "POST", "/still", timeout=timeout)
    try:
        return code, json.loads(body)
    except ValueError as exc:
        raise OwnerUnavailable(f"owner still answered {code} without JSON") from exc


def snapshot(path: Path, *, timeout: float = 15.0) -> tuple[int, str, bytes]:
    return request(path, "GET", "/snapshot.jpg", timeout=timeout)


def stream(path: Path, *, timeout: float = 30.0) -> tuple[str, Iterator[bytes]]:
    """(content type, body chunks) of the owner's MJPEG stream, proxied by the calling thread. Only for
    servers that can neither use nginx nor hand the socket over (the Django test client, runserver)."""
    connection = _UnixConnection(path, timeout)
    try:
        connection.request("GET", "/stream.mjpg")
        response = connection.getresponse()
    except (OSError, http.client.HTTPException) as exc:
        connection.close()
        raise OwnerUnavailable(f"no camera owner on {path}: {exc}") from exc

    def chunks() -> Iterator[bytes]:
        try:
            while True:
                data = response.read1(64 * 1024)
                if not data:
                    return
                yield data
        except (OSError, http.client.HTTPException):
            return
        finally:
            connection.close()

    return response.getheader("Content-Type", ""), chunks()


def hand_over(path: Path, client: socket.socket, request_line: str, *, timeout: float = 2.0) -> None:
    """Give the owner the client's connection, to answer `request_line` (e.g. `GET /stream.mjpg`) on it
    itself; then make sure nothing this process writes or closes reaches that client any more.

    The owner gets a duplicate of the descriptor (SCM_RIGHTS). Ours is then replaced (dup2) by one end of a
    socket pair whose other end is closed: the web server's own response write fails with EPIPE, which it
    ignores, and its close() closes only that dead end. The client's connection lives on in the owner."""
    control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    control.settimeout(timeout)
    try:
        control.connect(str(path))
        socket.send_fds(control, [f"{request_line} HTTP/1.1\r\nX-Handed-Over: 1\r\n\r\n".encode()], [client.fileno()])
        if control.recv(2) != b"ok":
            raise OwnerUnavailable("the owner did not take the connection")
    except OSError as exc:
        raise OwnerUnavailable(f"no camera owner on {path}: {exc}") from exc
    finally:
        control.close()
    dead, peer = socket.socketpair()
    try:
        os.dup2(dead.fileno(), client.fileno())
    finally:
        dead.close()
        peer.close()
