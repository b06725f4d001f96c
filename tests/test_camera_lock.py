from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from capture.camera.lock import CameraLock, LockBusy
from tests.conftest import python_subprocess, wait_until

HOLD_LOCK = """
import sys, time
from pathlib import Path
from capture.camera.lock import CameraLock
lease = CameraLock(Path(sys.argv[1])).acquire(ttl_sec=float(sys.argv[2]))
print("held", flush=True)
time.sleep(60)
"""


LIST_BRIEFLY = """
import sys, time
from pathlib import Path
from capture.camera.lock import CameraLock
lease = CameraLock(Path(sys.argv[1])).acquire(ttl_sec=30, purpose="detect")
print("held", flush=True)
time.sleep(float(sys.argv[2]))
lease.release()
time.sleep(60)
"""


def hold_in_other_process(path, ttl: float = 60) -> subprocess.Popen:
    proc = python_subprocess(HOLD_LOCK, str(path), str(ttl), stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.fixture
def lock(tmp_path) -> CameraLock:
    return CameraLock(tmp_path / "camera.lock")


def test_only_one_thread_gets_the_camera(lock):
    results = []
    barrier = threading.Barrier(8)

    def contend():
        barrier.wait()
        try:
            with lock.acquire(ttl_sec=10):
                results.append("got it")
                time.sleep(0.3)
        except LockBusy:
            results.append("busy")

    threads = [threading.Thread(target=contend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["busy"] * 7 + ["got it"]


def test_another_process_holding_it_means_busy_at_once(lock):
    holder = hold_in_other_process(lock.path)
    try:
        started = time.monotonic()
        with pytest.raises(LockBusy):
            lock.acquire(ttl_sec=10)
        assert time.monotonic() - started < 0.5  # never waits
        assert lock.peek().pid == holder.pid
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_holder_frees_the_camera_immediately(lock):
    holder = hold_in_other_process(lock.path, ttl=600)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert lock.peek() is None  # its record is still there, but nobody is alive behind it
    with lock.acquire(ttl_sec=10) as lease:
        assert lease.holder.pid == os.getpid()


def test_peek_never_takes_the_lock(lock):
    assert lock.peek() is None
    with lock.acquire(ttl_sec=10):
        assert lock.peek() is not None
        assert lock.peek().pid == os.getpid()
    # Peeking in a tight loop while another thread captures never makes the capture fail.
    stop = threading.Event()

    def peek_forever():
        while not stop.is_set():
            lock.peek()

    peeker = threading.Thread(target=peek_forever)
    peeker.start()
    try:
        for _ in range(200):
            with lock.acquire(ttl_sec=10):
                pass
    finally:
        stop.set()
        peeker.join()


def test_the_lock_file_records_the_holder(lock):
    with lock.acquire(ttl_sec=30) as lease:
        lease.update(captureId=7, cameraPgid=4242)
        record = json.loads(lock.path.read_text())
        assert record["pid"] == os.getpid()
        assert record["captureId"] == 7
        assert record["cameraPgid"] == 4242
        assert record["expiresAt"] - record["createdAt"] == pytest.approx(30)
    assert lock.path.read_text() == ""  # released: nothing recorded


def test_an_orphaned_camera_process_of_a_dead_holder_is_killed(lock):
    # A camera process that outlived its holder and still holds the lock (it inherited the descriptor).
    fd = os.open(lock.path, os.O_RDWR | os.O_CREAT)
    camera = subprocess.Popen(
        [sys.executable, "-c", f"import fcntl,time; fcntl.flock({fd}, fcntl.LOCK_EX); time.sleep(60)"],
        pass_fds=(fd,),
        start_new_session=True,
    )
    wait_until(lambda: flock_held(lock.path), message="the camera process holds the lock")
    dead_pid = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    os.write(
        fd,
        json.dumps(
            {
                "pid": int(dead_pid),
                "camera": 0,
                "createdAt": time.time(),
                "expiresAt": time.time() + 600,
                "cameraPgid": camera.pid,
            }
        ).encode()
        + b"\n",
    )
    os.close(fd)
    with lock.acquire(ttl_sec=10):
        assert camera.wait(timeout=5) == -signal.SIGKILL


def test_each_camera_has_its_own_lock(tmp_path):
    with CameraLock(tmp_path / "camera.lock", camera=0).acquire(ttl_sec=10):
        with CameraLock(tmp_path / "camera.lock", camera=1).acquire(ttl_sec=10) as second:
            assert second.holder.camera == 1
    assert (tmp_path / "camera.lock.1").exists()


def test_a_capture_waits_for_a_camera_listing_instead_of_409(lock):
    # Listing cameras holds each camera's lock for a moment: a capture then is nobody's conflict.
    lister = python_subprocess(LIST_BRIEFLY, str(lock.path), "0.6", stdout=subprocess.PIPE, text=True)
    try:
        assert lister.stdout.readline().strip() == "held"
        assert lock.peek().purpose == "detect"
        started = time.monotonic()
        with lock.acquire(ttl_sec=10) as lease:
            waited = time.monotonic() - started
            assert lease.holder.purpose == "capture"
        assert 0.3 < waited < 5
    finally:
        lister.kill()
        lister.wait()


def test_a_group_of_zombies_holds_nothing():
    # A killed holder's camera app lingers as a zombie until init reaps it; it must not keep the camera busy.
    from capture.camera.lock import _group_alive

    camera = subprocess.Popen(["true"], start_new_session=True)
    deadline = time.monotonic() + 5
    while not Path(f"/proc/{camera.pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z":
        assert time.monotonic() < deadline, "the process never exited"
        time.sleep(0.01)
    try:
        os.killpg(camera.pid, 0)  # the kernel still finds the group...
        assert not _group_alive(camera.pid)  # ...but nothing in it runs
    finally:
        camera.wait()


HOLD_FOR_PREVIEW = """
import sys, time
from pathlib import Path
from capture.camera.lock import CameraLock
lease = CameraLock(Path(sys.argv[1])).acquire(ttl_sec=60, purpose="preview")
print("held", flush=True)
sys.stdin.readline()  # released when the test asks it to yield
lease.release()
print("released", flush=True)
time.sleep(60)
"""


def test_a_preview_holder_is_asked_once_to_yield_and_the_capture_gets_the_camera(lock):
    holder = python_subprocess(
        HOLD_FOR_PREVIEW, str(lock.path), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    asked = []

    def preempt(found):
        asked.append(found.purpose)
        holder.stdin.write("yield\n")
        holder.stdin.flush()

    try:
        assert holder.stdout.readline().strip() == "held"
        assert lock.peek().busy is False  # status and the early 409 don't count a preview
        with lock.acquire(ttl_sec=10, preempt=preempt, preempt_wait_sec=10) as lease:
            assert lease.holder.purpose == "capture"
        assert asked == ["preview"]
    finally:
        holder.kill()
        holder.wait()


def test_a_capture_holder_is_never_asked_to_yield(lock):
    holder = hold_in_other_process(lock.path)
    try:
        with pytest.raises(LockBusy):
            lock.acquire(ttl_sec=10, preempt=lambda found: pytest.fail("asked a capture to yield"), preempt_wait_sec=5)
    finally:
        holder.kill()
        holder.wait()


def flock_held(path: Path) -> bool:
    """Whether some open file description holds an flock on `path` (a new one of ours can't take it)."""
    import fcntl

    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


FLOCK_WITHOUT_RECORD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o660)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
fcntl.flock(fd, fcntl.LOCK_UN)
time.sleep(60)
"""


def test_a_holder_between_its_flock_and_its_record_is_waited_out_briefly(lock):
    # A listing releasing the camera clears its record just before the unlock: a capture arriving in between
    # must get the camera, not a 409.
    holder = python_subprocess(FLOCK_WITHOUT_RECORD, str(lock.path), "0.1", stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with lock.acquire(ttl_sec=10) as lease:
            assert lease.holder.purpose == "capture"
    finally:
        holder.kill()
        holder.wait()

    # An empty record that stays (not a moment's transition) is a busy camera after all.
    holder = python_subprocess(FLOCK_WITHOUT_RECORD, str(lock.path), "30", stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockBusy):
            lock.acquire(ttl_sec=10)
    finally:
        holder.kill()
        holder.wait()
