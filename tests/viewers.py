"""MJPEG viewers in threads and the owner's readiness, without Django (the tests and bench/preview.py use them)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from capture.lib import owner_client


def wait_for_owner(path: Path, timeout: float = 30, pid: int | None = None) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            status = owner_client.status(path, timeout=1)
            if pid is None or status["pid"] != pid:
                return status
        except owner_client.OwnerUnavailable:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"no camera owner on {path}")
        time.sleep(0.05)


class Viewer(threading.Thread):
    """Reads `GET path` as an MJPEG stream until told to stop; counts the frames and notes how it ended."""

    def __init__(self, port: int, path: str = "/api/cameras/0/stream.mjpg", *, read: bool = True) -> None:
        super().__init__(daemon=True)
        self.port, self.path, self.read = port, path, read
        self.frames: list[bytes] = []
        self.frame_times: list[float] = []
        self.status_line = b""
        self.ended: str | None = None  # "eof", "error: ..." or "stopped"
        self._stop_event = threading.Event()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        if not read:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)

    def run(self) -> None:
        if not self.read:
            self._stop_event.wait()
            self.ended = "stopped"
            return
        buf = b""
        try:
            while not self._stop_event.is_set():
                data = self.sock.recv(65536)
                if not data:
                    self.ended = "eof"
                    return
                buf += data
                if not self.status_line and b"\r\n" in buf:
                    self.status_line = buf.split(b"\r\n", 1)[0]
                buf = self._take_frames(buf)
            self.ended = "stopped"
        except OSError as exc:
            self.ended = "stopped" if self._stop_event.is_set() else f"error: {exc}"

    def _take_frames(self, buf: bytes) -> bytes:
        while True:
            start = buf.find(b"\xff\xd8")
            if start < 0:
                return buf
            end = buf.find(b"\xff\xd9", start)
            if end < 0:
                return buf
            self.frames.append(buf[start : end + 2])
            self.frame_times.append(time.monotonic())
            buf = buf[end + 2 :]

    def wait_for_frames(self, count: int, timeout: float = 20) -> bool:
        deadline = time.monotonic() + timeout
        while len(self.frames) < count and self.ended is None and time.monotonic() < deadline:
            time.sleep(0.02)
        return len(self.frames) >= count

    def close(self) -> None:
        self._stop_event.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.join(10)


def camera_app_pids(bin_dir: Path, app: str = "vid") -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(arg == f"{bin_dir}/rpicam-{app}".encode() for arg in cmdline[:3]):
            pids.append(int(entry.name))
    return pids


def paced(rate: float, seconds: float):
    """Yield `rate` times a second for `seconds` (rate * seconds times in all), as a polling client does: each
    slot waits for its time, and a slow answer eats into the next wait rather than adding a request."""
    start = time.monotonic()
    for slot in range(int(rate * seconds)):
        delay = start + slot / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield slot
