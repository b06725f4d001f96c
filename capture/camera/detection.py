"""Which cameras are there: looked for by one process at a time, never while a camera is capturing, and
shared by every process through a file beside the camera lock.

On real hardware `rpicam-hello --list-cameras` acquires each camera while it lists them, so a capture that
starts during a listing fails ("failed to acquire camera") and a listing during a capture can fail too. So a
refresh runs only when it can take the lock of every camera it knows (briefly, with a holder record that
says "detect": a capture that meets it waits for it instead of answering 409), and only one process refreshes
at a time (an flock on `<lock>.detect`). The result lands in `<lock>.cameras.json`, which every web worker and
command reads, so workers don't each run their own listing.

Requests never run the listing themselves: a stale result is refreshed by a background thread, and only the
very first status after installation waits for it (bounded by its timeout).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from capture.errors import CameraBusy

if TYPE_CHECKING:
    from capture.camera.lock import CameraLease, CameraLock

log = logging.getLogger(__name__)

THREAD_NAME = "camera-detection"


@dataclass
class Detection:
    """The result of one listing of all cameras."""

    detected: bool | None  # None until the first detection has finished
    cameras: list[dict] = field(default_factory=list)
    checked_at: float | None = None
    error: str = ""

    def camera(self, index: int) -> dict | None:
        return next((camera for camera in self.cameras if camera.get("index") == index), None)

    def indexes(self) -> list[int]:
        return sorted(camera["index"] for camera in self.cameras)


class SharedDetection:
    """The detection file and the one background refresher of this process."""

    def __init__(
        self,
        detect_now: Callable[[], Detection],
        lock_path: Path,
        locks_for: Callable[[list[int]], list[CameraLock]],
        *,
        ttl_sec: float,
        wait_sec: float,
    ) -> None:
        self.detect_now = detect_now  # the backend's listing: runs a process
        self.locks_for = locks_for
        self.path = Path(f"{lock_path}.cameras.json")
        self.guard_path = Path(f"{lock_path}.detect")
        self.ttl_sec = ttl_sec
        self.wait_sec = wait_sec
        self._cached: tuple[tuple[int, int], Detection] | None = None
        self._thread: threading.Thread | None = None
        self._thread_guard = threading.Lock()
        self._deferred_by_capture = False  # the last refresh found a camera in use and listed nothing

    # --- Reading ---

    def current(self, *, wait: bool = False) -> Detection:
        """The last detection any process made; refreshed in the background when older than the TTL.

        With `wait`, a process that has never seen a detection waits for the first one (bounded)."""
        detection = self._read()
        if detection is None or detection.checked_at is None or time.time() - detection.checked_at > self.ttl_sec:
            self.refresh_in_background()
            deadline = time.monotonic() + (self.wait_sec if wait else 0)
            while detection is None and time.monotonic() < deadline:
                time.sleep(0.02)
                detection = self._read()
                if detection is None and not self._refreshing():
                    if self._deferred_by_capture:
                        break  # a camera is capturing: no listing until it is done, so don't wait for one
                    self.refresh_in_background()
        return detection or Detection(detected=None)

    def _refreshing(self) -> bool:
        with self._thread_guard:
            return self._thread is not None and self._thread.is_alive()

    def last(self) -> Detection | None:
        """The last detection written, without starting a refresh."""
        return self._read()

    def _read(self) -> Detection | None:
        try:
            stat = self.path.stat()
            version = (stat.st_mtime_ns, stat.st_size)
            if self._cached and self._cached[0] == version:
                return self._cached[1]
            data = json.loads(self.path.read_text())
            detection = Detection(data["detected"], data["cameras"], data["checked_at"], data.get("error", ""))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        self._cached = (version, detection)
        return detection

    def write(self, detection: Detection) -> None:
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}")
        temporary.write_text(json.dumps(asdict(detection)))
        os.replace(temporary, self.path)  # readers see the old listing or the new one, never half of one

    # --- Refreshing ---

    def refresh_in_background(self) -> None:
        with self._thread_guard:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._refresh_quietly, name=THREAD_NAME, daemon=True)
            self._thread.start()

    def _refresh_quietly(self) -> None:
        try:
            known = self._read()
            # Every camera the last listing found, and camera 0 before there was one.
            indexes = sorted(set(known.indexes() if known else []) | {0})
            self.refresh(self.locks_for(indexes))
        except Exception:  # a broken camera stack must not kill the thread silently
            log.exception("camera detection failed")

    def refresh(self, locks: list[CameraLock]) -> Detection | None:
        """List the cameras now, if no other process is listing and no camera is in use; None if skipped."""
        guard = os.open(self.guard_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o660)
        try:
            try:
                fcntl.flock(guard, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return None  # another process is listing; its result will be in the file
            leases = _take_all(locks)
            self._deferred_by_capture = leases is None
            if leases is None:
                log.debug("camera detection deferred: a camera is in use")
                return None
            try:
                detection = self.detect_now()
            finally:
                for lease in leases:
                    lease.release()
            self.write(detection)
            return detection
        finally:
            os.close(guard)


def _take_all(locks: list[CameraLock]) -> list[CameraLease] | None:
    leases: list[CameraLease] = []
    try:
        for lock in locks:
            leases.append(lock.acquire(ttl_sec=30, purpose="detect"))
    except CameraBusy:
        for lease in leases:
            lease.release()
        return None
    return leases
