"""The dual camera lock: an in-process lock plus an flock on a file (CAMERA_LOCK_PATH).

- The in-process lock serialises threads of one gunicorn worker without touching the file system.
- The flock serialises worker processes and `manage.py` commands. The kernel drops it when every holder of
  the open file is gone, so a crashed process can't leave the camera locked. Its descriptor is passed to
  the camera process, so the lock lasts exactly as long as the camera is really in use.
- The file's content records the holder (pid, camera process group, capture id, createdAt, expiresAt).
  Readers use it to report `busy` without ever taking the lock, and the next holder uses it to clean up
  after a holder that crashed.

Locks are keyed by camera index, so a second camera gets its own lock file. Camera detection takes the lock
too, briefly (see capture.camera.detection): a capture that finds a detection holding the camera waits for it
rather than answering 409.

The camera owner (capture.lib.owner) holds the lock for its preview or warm still with a pre-emptible purpose:
a capture asks it to step aside (acquire's `preempt`) instead of answering 409, and status never calls such a
holder busy. This module needs no Django (the owner imports it): it raises LockBusy unless told which error
to raise (the registry passes capture.errors.CameraBusy).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_RECORD_MAX_BYTES = 64 * 1024
# How long a new holder waits for the kernel to drop the flock after it killed a stale holder's camera.
_STALE_RELEASE_WAIT_SEC = 2.0
# How long a capture waits for a camera listing to finish (the listing's own timeout is 10 s).
DETECTION_WAIT_SEC = 12.0
# How long an empty record with the lock held (a holder between its flock and its record) is waited out.
RECORD_SETTLE_SEC = 0.2
# Holders that give the camera up when a capture asks: the owner's live preview and its warm still.
PREEMPTIBLE = frozenset({"preview", "warm"})


class LockBusy(Exception):
    """The camera is held by someone else (the Django side raises capture.errors.CameraBusy instead)."""


_local_locks: dict[str, threading.Lock] = {}
_local_purposes: dict[str, str] = {}  # what this process holds each lock for
_local_locks_guard = threading.Lock()


def _local_lock(path: Path) -> threading.Lock:
    with _local_locks_guard:
        return _local_locks.setdefault(str(path), threading.Lock())


@dataclass
class Holder:
    """What the lock file says about whoever holds the camera."""

    pid: int
    camera: int
    createdAt: float  # noqa: N815 - the record's JSON keys
    expiresAt: float  # noqa: N815
    captureId: int | None = None  # noqa: N815
    cameraPgid: int | None = None  # noqa: N815
    purpose: str = "capture"  # or "detect": a camera listing, which captures wait for; or PREEMPTIBLE

    @property
    def busy(self) -> bool:
        """Whether status calls the camera busy: a listing is brief and the owner's holders step aside."""
        return self.purpose != "detect" and self.purpose not in PREEMPTIBLE

    def is_held(self) -> bool:
        """True while the process that took the lock lives (then it still holds the flock)."""
        return _pid_alive(self.pid)

    def is_active(self) -> bool:
        """True while the holder or its camera processes are still running."""
        return _pid_alive(self.pid) or (self.cameraPgid is not None and _group_alive(self.cameraPgid))

    def is_stale(self, now: float) -> bool:
        """The holder is dead (crashed) or past its expiry: its camera processes must not keep the lock."""
        return not _pid_alive(self.pid) or now > self.expiresAt


class CameraLock:
    def __init__(self, base_path: Path, camera: int = 0, *, busy_error: type[Exception] = LockBusy) -> None:
        self.camera = camera
        self.busy_error = busy_error
        # Camera 0 uses the configured path itself (/tmp/camera.lock, as in the Node server).
        self.path = Path(base_path) if camera == 0 else Path(f"{base_path}.{camera}")

    def acquire(
        self,
        ttl_sec: float,
        purpose: str = "capture",
        *,
        preempt: Callable[[Holder], None] | None = None,
        preempt_wait_sec: float = 0.0,
    ) -> CameraLease:
        """Take the camera at once or raise busy_error; never waits for another capture, only for a listing,
        or, given `preempt`, for a pre-emptible holder (the owner's preview) that it asks once to step aside:
        at most `preempt_wait_sec` more."""
        deadline = time.monotonic() + DETECTION_WAIT_SEC
        preempt_deadline: float | None = None
        settle_deadline: float | None = None  # from the first sight of an empty record
        while True:
            try:
                return self._acquire_now(ttl_sec, purpose)
            except self.busy_error:
                if preempt_deadline is None and preempt is not None:
                    holder = self._read()
                    if holder is not None and holder.purpose in PREEMPTIBLE and holder.is_held():
                        preempt_deadline = time.monotonic() + preempt_wait_sec
                        preempt(holder)
                        continue
                if preempt_deadline is not None:
                    if time.monotonic() > preempt_deadline:
                        raise
                elif purpose == "detect" or time.monotonic() > deadline:
                    raise
                elif not self._held_for_detection():
                    # An empty record with the lock held is a holder taking or releasing it this instant
                    # (the record is written just after the flock and cleared just before the unlock): look
                    # again for a moment rather than answer 409 to a camera that is about to be free.
                    if self._read() is not None:
                        raise
                    settle_deadline = settle_deadline or time.monotonic() + RECORD_SETTLE_SEC
                    if time.monotonic() > settle_deadline:
                        raise
            time.sleep(0.02)

    def _held_for_detection(self) -> bool:
        if _local_lock(self.path).locked():
            return _local_purposes.get(str(self.path)) == "detect"
        holder = self._read()
        return holder is not None and holder.purpose == "detect" and holder.is_active()

    def _acquire_now(self, ttl_sec: float, purpose: str) -> CameraLease:
        local = _local_lock(self.path)
        if not local.acquire(blocking=False):
            raise self.busy_error()
        _local_purposes[str(self.path)] = purpose
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o660)
            try:
                if not _try_flock(fd) and not self._break_stale_holder(fd):
                    raise self.busy_error()
                # A record left here means its holder died without releasing. Anything still running in its
                # camera's process group (a child that closed our descriptor) has no owner: end it.
                previous = _read_record(fd)
                if previous is not None and previous.cameraPgid:
                    _kill_group(previous.cameraPgid)
                now = time.time()
                lease = CameraLease(fd, local, Holder(os.getpid(), self.camera, now, now + ttl_sec, purpose=purpose))
                lease.write()
                return lease
            except BaseException:
                os.close(fd)
                raise
        except BaseException:
            local.release()
            raise

    def peek(self) -> Holder | None:
        """The active holder, or None when the camera is free. Never takes either lock."""
        if _local_lock(self.path).locked():
            holder = self._read()
            return holder or Holder(os.getpid(), self.camera, time.time(), time.time())
        holder = self._read()
        return holder if holder is not None and holder.is_active() else None

    def _read(self) -> Holder | None:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            return _read_record(fd)
        finally:
            os.close(fd)

    def _break_stale_holder(self, fd: int) -> bool:
        """If the holder crashed or outlived its expiry, kill its camera and take the lock."""
        holder = _read_record(fd)
        if holder is None or not holder.is_stale(time.time()):
            return False
        log.warning("camera %d: stale lock holder %s, killing its camera process group", self.camera, holder)
        if holder.cameraPgid:
            _kill_group(holder.cameraPgid)
        deadline = time.monotonic() + _STALE_RELEASE_WAIT_SEC
        while time.monotonic() < deadline:
            if _try_flock(fd):
                return True
            time.sleep(0.02)
        return False


class CameraLease:
    """A held camera. Release it exactly once (it is a context manager)."""

    def __init__(self, fd: int, local: threading.Lock, holder: Holder) -> None:
        self.fd = fd
        self.holder = holder
        self._local = local
        self._released = False

    def __enter__(self) -> CameraLease:
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()

    def update(self, **fields) -> None:
        for name, value in fields.items():
            setattr(self.holder, name, value)
        self.write()

    def write(self) -> None:
        data = (json.dumps(asdict(self.holder)) + "\n").encode()
        # One pwrite, then trim: a reader sees the old or the new first line, never an empty file mid-update.
        os.pwrite(self.fd, data, 0)
        os.ftruncate(self.fd, len(data))

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        try:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            os.close(self.fd)
            self._local.release()


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _read_record(fd: int) -> Holder | None:
    raw = os.pread(fd, _RECORD_MAX_BYTES, 0)
    line = raw.split(b"\n", 1)[0].strip()
    if not line:
        return None
    try:
        return Holder(**json.loads(line))
    except (ValueError, TypeError):
        log.warning("ignoring unreadable camera lock record: %r", line[:200])
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user
    # A killed worker stays a zombie until gunicorn's master reaps it; it holds nothing any more.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs. A zombie holds nothing (its files are closed), yet killpg()
    still finds it until it is reaped, which init may do a second or more after its parent died."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if _pid_alive(pgid):
        return True  # the leader (the camera app itself) runs: no need to look further
    return any(_member_alive(entry, pgid) for entry in Path("/proc").iterdir() if entry.name.isdigit())


def _member_alive(entry: Path, pgid: int) -> bool:
    try:
        state, _ppid, group = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[:3]
    except (OSError, ValueError):
        return False
    return int(group) == pgid and state != "Z"


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
