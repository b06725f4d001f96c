"""The camera owner: one long-running process per camera that runs its live preview (stdlib only).

`manage.py camera_owner --camera N` reads the settings with Django, then execs this module with its
configuration as JSON, so the long-lived process holds no Django in memory.

- It serves HTTP/1.1 on a Unix socket (`<camera lock file>.owner.sock`): `GET /stream.mjpg`,
  `GET /snapshot.jpg`, `GET /status` and `POST /yield`. nginx proxies streams to it; the Django view hands it
  the client's socket (SCM_RIGHTS) when gunicorn serves directly, so no web thread is held by a viewer.
- The preview is ONE camera process (`rpicam-vid -t 0 --codec mjpeg -o -`), started on the first viewer and
  stopped PREVIEW_IDLE_SEC after the last leaves. Its frames fan out to every viewer through a one-frame
  slot each: a slow viewer skips frames, it never slows the camera or the others, and memory stays bounded.
- It holds the camera's lock while the preview runs, with purpose "preview" (pre-emptible) and the camera
  process's group, and passes the lock's descriptor to the camera process, as captures do.
- A capture asks it to yield (`POST /yield`): it stops the preview (SIGINT), releases the lock, answers, keeps
  off the camera until the capture has it (or a second passed), then resumes by itself. Viewers keep their
  connections and get the last frame again about once a second meanwhile.
- A camera process that dies, or sends no frame for STALL_SEC, is restarted with backoff.
- Warm stills (CAMERA_WARM_STILLS): while no preview runs, it keeps `rpicam-still -t 0 -s -v 2` running with the
  capture defaults (purpose "warm", pre-emptible too); `POST /still` is one SIGUSR1, answered once the app logs
  `Saved image ... to file NAME` (the file is complete then). The preview and any other capture stop it first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import socket
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from capture.camera.lock import PREEMPTIBLE, CameraLease, CameraLock, LockBusy
from capture.lib import mjpeg
from capture.lib.runner import CommandFailed, SpawnedProcess, spawn

log = logging.getLogger("capture.owner")

STALL_SEC = 3.0  # no frame for this long: the camera process is restarted
RESEND_SEC = 1.0  # while the camera is away (a capture, a restart), viewers get the last frame this often
HOLD_OFF_SEC = 1.0  # after yielding, how long to wait for the capture to take the camera
RETRY_SEC = 0.1  # how often to try the lock again while a capture holds it
BACKOFF_SEC = (0.5, 1.0, 2.0, 4.0, 5.0)
SNAPSHOT_WAIT_SEC = 10.0
VIEWER_WRITE_TIMEOUT_SEC = 30.0  # a viewer whose socket accepts nothing for this long is dropped
MAX_REQUEST_HEAD = 16 * 1024
READ_CHUNK = 256 * 1024


@dataclass
class OwnerConfig:
    camera: int
    lock_path: str  # CAMERA_LOCK_PATH (the base; CameraLock adds the index)
    socket_path: str
    preview_argv: list[str]
    fps: float
    idle_sec: float = 10.0
    kill_grace_sec: float = 1.0
    stall_sec: float = STALL_SEC
    warm_argv: list[str] | None = None  # None: no warm stills
    warm_dir: str | None = None  # the warm still's working directory (it writes hidden names there)

    @classmethod
    def from_json(cls, text: str) -> OwnerConfig:
        return cls(**json.loads(text))


class Viewer:
    """A one-frame slot: the newest frame replaces an unsent one."""

    def __init__(self) -> None:
        self.frame: bytes | None = None
        self.ready = asyncio.Event()

    def offer(self, frame: bytes) -> None:
        self.frame = frame
        self.ready.set()

    def take(self) -> bytes | None:
        frame, self.frame = self.frame, None
        self.ready.clear()
        return frame


SAVED = re.compile(r"Saved image \d+ x \d+ to file (?P<name>.+)$")
WARM_STILL_TIMEOUT_SEC = 15.0


class WarmStill:
    """The running `rpicam-still -s` and what its stderr said: ready for a trigger, and each saved file."""

    def __init__(self, proc: SpawnedProcess) -> None:
        self.proc = proc
        self.ready = False
        self.pending: asyncio.Future | None = None
        self.eof = False
        self._partial = b""

    def feed(self, data: bytes) -> None:
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for raw in lines:
            line = raw.decode("utf-8", "replace").strip()
            if line == "Camera started!":
                self.ready = True  # its SIGUSR1 handler is in: a trigger can't kill it any more
            match = SAVED.search(line)
            if match and self.pending is not None and not self.pending.done():
                self.pending.set_result(match["name"])


@dataclass
class PreviewState:
    state: str = "stopped"  # starting | running | stopped | failed
    latest: bytes | None = None
    latest_at: float = 0.0
    frame_times: deque = field(default_factory=lambda: deque(maxlen=64))
    restarts: int = 0
    last_error: str | None = None

    def fps(self, now: float) -> float:
        recent = [t for t in self.frame_times if now - t <= 2.0]
        if len(recent) < 2:
            return 0.0
        return round((len(recent) - 1) / max(recent[-1] - recent[0], 1e-3), 1)


class Owner:
    def __init__(self, config: OwnerConfig) -> None:
        self.config = config
        self.lock = CameraLock(Path(config.lock_path), config.camera)
        self.preview = PreviewState()
        self.viewers: set[Viewer] = set()
        self.demand = 0  # viewers plus snapshots waiting for a frame
        self.idle_since = time.monotonic()
        self._wake = asyncio.Event()
        self._yield_asked = False
        self._released = asyncio.Event()
        self._hold_off_until = 0.0
        self._task: asyncio.Task | None = None
        self._lease: CameraLease | None = None
        self._frame_event = asyncio.Event()
        self._warm: WarmStill | None = None
        self._stopping = False

    # --- demand ---

    def want(self) -> None:
        self.demand += 1
        self._ensure_running()

    def unwant(self) -> None:
        self.demand -= 1
        if self.demand == 0:
            self.idle_since = time.monotonic()
            self._wake.set()

    def start(self) -> None:
        """Begin at once when warm stills are on (the camera should be ready before the first request)."""
        if self.config.warm_argv:
            self._ensure_running()

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    # --- the preview's life ---

    async def _run(self) -> None:
        failures = 0
        try:
            while not self._stopping:
                preview = self._wanted()
                if not preview and not self.config.warm_argv:
                    break
                if time.monotonic() < self._hold_off_until and not self._capture_has_camera():
                    await asyncio.sleep(RETRY_SEC)
                    continue
                lease = self._try_lock("preview" if preview else "warm")
                if lease is None:
                    if preview:
                        self._set_state("starting")
                    await asyncio.sleep(RETRY_SEC)
                    continue
                if not preview:
                    if await self._run_warm(lease) in ("died", "failed"):
                        log.warning("camera %d: warm still process ended, starting it again", self.config.camera)
                        await asyncio.sleep(BACKOFF_SEC[1])
                    continue
                reason, frames = await self._run_once(lease)
                if reason == "yield":
                    continue
                if reason in ("died", "stalled", "failed"):
                    failures = 0 if frames else failures + 1
                    self.preview.restarts += 1
                    delay = BACKOFF_SEC[min(failures, len(BACKOFF_SEC) - 1)]
                    self._set_state("failed" if failures >= 3 else "starting")
                    log.warning("camera %d: preview %s, restarting in %.1f s", self.config.camera, reason, delay)
                    await self._sleep_unless_idle(delay)
                if not self._wanted():
                    self._set_state("stopped")
        finally:
            self._set_state("stopped")

    async def _run_warm(self, lease: CameraLease) -> str:
        """Keep a warm still process until the preview, a capture or the end wants the camera."""
        self._yield_asked = False
        self._released.clear()
        self._lease = lease
        loop = asyncio.get_running_loop()
        try:
            try:
                proc = spawn(
                    self.config.warm_argv, stdout_pipe=False, stderr_pipe=True, pass_fds=(lease.fd,),
                    cwd=self.config.warm_dir,
                )  # fmt: skip
            except CommandFailed as exc:
                self.preview.last_error = str(exc)
                return "failed"
            lease.update(cameraPgid=proc.pid)
            warm = self._warm = WarmStill(proc)
            fd = proc.stderr.fileno()
            os.set_blocking(fd, False)

            def readable() -> None:
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    return
                except OSError:
                    data = b""
                if not data:
                    warm.eof = True
                    loop.remove_reader(fd)
                    self._wake.set()
                    return
                warm.feed(data)

            loop.add_reader(fd, readable)
            try:
                while True:
                    self._wake.clear()
                    if warm.eof or proc.poll() is not None:
                        return "died"
                    if warm.pending is None and (self._stopping or self._yield_asked or self.demand > 0):
                        return "yield"
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), 0.25)
            finally:
                if not warm.eof:
                    loop.remove_reader(fd)
                self._warm = None
                # SIGUSR2 is rpicam-still's clean exit in signal mode.
                await asyncio.to_thread(proc.stop, (signal.SIGUSR2, signal.SIGTERM), self.config.kill_grace_sec)
        finally:
            lease.release()
            self._lease = None
            self._released.set()

    async def warm_still(self) -> tuple[int, dict]:
        """One still from the warm process: (200, {path, ms}), or why not (503: not warm, 409: one at a time)."""
        warm = self._warm
        if warm is None or not warm.ready or warm.proc.poll() is not None or self.demand > 0:
            return 503, {"ok": False, "error": "No warm still process is ready"}
        if warm.pending is not None:
            return 409, {"ok": False, "error": "Camera busy: another capture is in progress"}
        warm.pending = asyncio.get_running_loop().create_future()
        started = time.monotonic()
        try:
            warm.proc.send_signal(signal.SIGUSR1)
            name = await asyncio.wait_for(warm.pending, WARM_STILL_TIMEOUT_SEC)
        except TimeoutError:
            return 504, {"ok": False, "error": f"The warm still took longer than {WARM_STILL_TIMEOUT_SEC:g} s"}
        finally:
            warm.pending = None
            self._wake.set()
        path = os.path.join(self.config.warm_dir or "", name)
        return 200, {"ok": True, "path": path, "ms": int((time.monotonic() - started) * 1000)}

    def _wanted(self) -> bool:
        return self.demand > 0 or time.monotonic() - self.idle_since < self.config.idle_sec

    async def _sleep_unless_idle(self, delay: float) -> None:
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and self._wanted():
            await asyncio.sleep(min(RETRY_SEC, deadline - time.monotonic()))

    def _capture_has_camera(self) -> bool:
        holder = self.lock.peek()
        return holder is not None and holder.purpose not in PREEMPTIBLE and holder.purpose != "detect"

    def _try_lock(self, purpose: str) -> CameraLease | None:
        try:
            # A lease's expiry marks a crashed holder; the owner renews nothing, so make it far away.
            return self.lock.acquire(ttl_sec=365 * 86400, purpose=purpose)
        except LockBusy:
            return None

    async def _run_once(self, lease: CameraLease) -> tuple[str, int]:
        """Run the camera process until it must stop; returns why, and how many frames it sent."""
        self._set_state("starting")
        self._yield_asked = False
        self._released.clear()
        self._lease = lease
        try:
            try:
                proc = spawn(self.config.preview_argv, pass_fds=(lease.fd,))
            except CommandFailed as exc:
                self.preview.last_error = str(exc)
                return "failed", 0
            try:
                lease.update(cameraPgid=proc.pid)
                return await self._pump(proc)
            finally:
                # SIGINT: rpicam-vid stops cleanly; closing its pipe would make it abort (exit 134).
                await asyncio.to_thread(proc.stop, (signal.SIGINT, signal.SIGTERM), self.config.kill_grace_sec)
        finally:
            lease.release()  # after the camera process is gone: it shares the lock's open file
            self._lease = None
            self._released.set()

    async def _pump(self, proc: SpawnedProcess) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        fd = proc.stdout.fileno()
        os.set_blocking(fd, False)
        splitter = mjpeg.JpegSplitter()
        frames = 0
        eof = False
        last_frame = time.monotonic()

        def readable() -> None:
            nonlocal frames, eof, last_frame
            try:
                data = os.read(fd, READ_CHUNK)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                eof = True
                loop.remove_reader(fd)
                self._wake.set()
                return
            for frame in splitter.feed(data):
                frames += 1
                last_frame = time.monotonic()
                self._publish(frame, last_frame)

        loop.add_reader(fd, readable)
        try:
            while True:
                self._wake.clear()
                if self._yield_asked:
                    return "yield", frames
                if not self._wanted():
                    return "idle", frames
                if eof or proc.poll() is not None:
                    self.preview.last_error = f"camera process ended: {proc.stderr_tail(300).strip()}"
                    return "died", frames
                if time.monotonic() - last_frame > self.config.stall_sec:
                    self.preview.last_error = f"no frame for {self.config.stall_sec:g} s"
                    return "stalled", frames
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 0.25)
        finally:
            if not eof:
                loop.remove_reader(fd)

    def _publish(self, frame: bytes, now: float) -> None:
        self.preview.latest, self.preview.latest_at = frame, now
        self.preview.frame_times.append(now)
        if self.preview.state != "running":
            self._set_state("running")
        for viewer in self.viewers:
            viewer.offer(frame)
        self._frame_event.set()
        self._frame_event = asyncio.Event()

    def _set_state(self, state: str) -> None:
        if state != self.preview.state:
            log.info("camera %d: preview %s", self.config.camera, state)
            self.preview.state = state

    async def step_aside(self) -> None:
        """A capture wants the camera: stop the preview, release the lock, keep off for a while."""
        self._hold_off_until = time.monotonic() + HOLD_OFF_SEC
        if self._lease is not None:
            self._yield_asked = True
            self._wake.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), self.config.kill_grace_sec * 3 + 2)
        log.info("camera %d: preview yielded to a capture", self.config.camera)

    async def stop(self) -> None:
        self._stopping = True
        self.demand = 0
        self.idle_since = -1e9
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task

    # --- what clients get ---

    def status(self) -> dict:
        now = time.monotonic()
        return {
            "ok": True,
            "camera": self.config.camera,
            "state": self.preview.state,
            "viewers": len(self.viewers),
            "fps": self.preview.fps(now) if self.preview.state == "running" else 0.0,
            "restarts": self.preview.restarts,
            "warm": None if self._warm is None else "ready" if self._warm.ready else "starting",
            "lastError": self.preview.last_error,
            "pid": os.getpid(),
        }

    async def snapshot(self) -> bytes | None:
        """The newest frame while previewing (at most a frame interval old), else the first of a preview
        started for it (which then idles out like any other)."""
        fresh = 2.0 / max(self.config.fps, 1.0)
        running = self.preview.state == "running"
        if running and self.preview.latest and time.monotonic() - self.preview.latest_at <= fresh:
            return self.preview.latest
        self.want()
        try:
            deadline = time.monotonic() + SNAPSHOT_WAIT_SEC
            while time.monotonic() < deadline:
                event = self._frame_event
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), deadline - time.monotonic())
                    return self.preview.latest
            return None
        finally:
            self.unwant()

    async def stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        viewer = Viewer()
        self.viewers.add(viewer)
        self.want()
        if self.preview.latest and self.preview.state == "running":
            viewer.offer(self.preview.latest)
        sent: bytes | None = None
        try:
            while True:
                try:
                    await asyncio.wait_for(viewer.ready.wait(), RESEND_SEC)
                    frame = viewer.take()
                except TimeoutError:
                    frame = sent or self.preview.latest  # the camera is away: hold the picture
                if reader.at_eof() or writer.is_closing():
                    return  # the viewer left (seen even while there is nothing to send it)
                if frame is None:
                    continue
                writer.write(mjpeg.part(frame))
                await asyncio.wait_for(writer.drain(), VIEWER_WRITE_TIMEOUT_SEC)
                sent = frame
        except (OSError, TimeoutError, ConnectionError):
            pass
        finally:
            self.viewers.discard(viewer)
            self.unwant()


# --- HTTP on the Unix socket ---

STREAM_HEADERS = (
    f"Content-Type: {mjpeg.STREAM_CONTENT_TYPE}\r\n"
    "Cache-Control: no-cache, no-store, must-revalidate\r\nPragma: no-cache\r\n"
    "X-Accel-Buffering: no\r\nConnection: close\r\n"
)


class OwnerServer:
    def __init__(self, owner: Owner, socket_path: str) -> None:
        self.owner = owner
        self.socket_path = socket_path
        self._sock: socket.socket | None = None
        self._tasks: set[asyncio.Task] = set()

    def bind(self) -> None:
        path = self.socket_path
        if len(path.encode()) >= 108:
            raise SystemExit(f"camera owner: socket path too long for a Unix socket (108 bytes): {path}")
        if os.path.exists(path):
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(path)
            except OSError:
                os.unlink(path)  # left by an owner that was killed
            else:
                raise SystemExit(f"camera owner: another owner already serves {path}")
            finally:
                probe.close()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
        os.chmod(path, 0o660)  # nginx and the web server run in the service's group
        sock.listen(128)
        sock.setblocking(False)
        self._sock = sock

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            conn, _ = await loop.sock_accept(self._sock)
            task = loop.create_task(self._connection(conn))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.socket_path)
        for task in list(self._tasks):
            task.cancel()

    async def _connection(self, conn: socket.socket) -> None:
        client = conn
        try:
            head, fds = await _read_head(conn)
            if fds:
                # The web server handed us its client's socket: answer that client, acknowledge, hang up.
                for extra in fds[1:]:
                    os.close(extra)
                client = socket.socket(fileno=fds[0])
                client.setblocking(False)
                await asyncio.get_running_loop().sock_sendall(conn, b"ok")
                conn.close()
            method, path = _request_line(head)
            reader, writer = await asyncio.open_connection(sock=client)
            try:
                await self._respond(method, path, reader, writer)
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
        except (OSError, ValueError, asyncio.IncompleteReadError):
            client.close()
        finally:
            if client is not conn:
                conn.close()

    async def _respond(
        self, method: str, path: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        path = path.split("?", 1)[0]
        if method in ("GET", "HEAD") and path == "/stream.mjpg":
            writer.write(b"HTTP/1.1 200 OK\r\n" + STREAM_HEADERS.encode() + b"\r\n")
            if method == "GET":
                await self.owner.stream(reader, writer)
            return
        if method in ("GET", "HEAD") and path == "/snapshot.jpg":
            frame = await self.owner.snapshot()
            if frame is None:
                _json(writer, 503, {"ok": False, "error": f"No frame from the camera: {self.owner.preview.last_error}"})
                return
            head = f"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: {len(frame)}\r\n"
            head += "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
            writer.write(head.encode() + (frame if method == "GET" else b""))
            await writer.drain()
            return
        if method == "GET" and path == "/status":
            _json(writer, 200, self.owner.status())
            return
        if method == "POST" and path == "/still":
            status, body = await self.owner.warm_still()
            _json(writer, status, body)
            return
        if method == "POST" and path == "/yield":
            await self.owner.step_aside()
            _json(writer, 200, {"ok": True})
            return
        _json(writer, 404, {"ok": False, "error": f"Not found: {method} {path}"})


def _json(writer: asyncio.StreamWriter, status: int, body: dict) -> None:
    data = json.dumps(body).encode()
    reason = {200: "OK", 404: "Not Found", 409: "Conflict", 503: "Service Unavailable", 504: "Gateway Timeout"}
    reason = reason.get(status, "")
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
    writer.write((head + "Cache-Control: no-store\r\nConnection: close\r\n\r\n").encode() + data)


async def _read_head(conn: socket.socket) -> tuple[bytes, list[int]]:
    """The request head (up to the blank line), and any descriptors that came with it."""
    loop = asyncio.get_running_loop()
    head = b""
    fds: list[int] = []
    while b"\r\n\r\n" not in head:
        if len(head) > MAX_REQUEST_HEAD:
            raise ValueError("request head too long")
        waiter = loop.create_future()
        loop.add_reader(conn.fileno(), _set_once, waiter)
        try:
            await asyncio.wait_for(waiter, 10)
        finally:
            loop.remove_reader(conn.fileno())
        try:
            data, new_fds, _flags, _addr = socket.recv_fds(conn, 4096, 4)
        except BlockingIOError:
            continue
        fds += new_fds
        if not data:
            raise asyncio.IncompleteReadError(head, None)
        head += data
    return head, fds


def _set_once(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


def _request_line(head: bytes) -> tuple[str, str]:
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ")
    if len(parts) != 3:
        raise ValueError(f"bad request line: {line[:100]!r}")
    return parts[0], parts[1]


async def main_async(config: OwnerConfig) -> int:
    owner = Owner(config)
    server = OwnerServer(owner, config.socket_path)
    server.bind()
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, stopping.set)
    log.info("camera %d: owner ready on %s (pid %d)", config.camera, config.socket_path, os.getpid())
    serving = loop.create_task(server.serve())
    owner.start()
    await stopping.wait()
    log.info("camera %d: owner stopping", config.camera)
    serving.cancel()
    server.close()
    await owner.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(
        level=os.environ.get("OWNER_LOG_LEVEL", "INFO"), format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    if len(argv) != 1:
        print("usage: python -m capture.lib.owner '<config JSON>' (run `manage.py camera_owner`)", file=sys.stderr)
        return 2
    return asyncio.run(main_async(OwnerConfig.from_json(argv[0])))


if __name__ == "__main__":
    sys.exit(main())
