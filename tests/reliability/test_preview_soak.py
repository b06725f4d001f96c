"""Soak: an hour of live preview compressed into about a minute (the stand-in camera runs 4x faster), with
viewers joining and leaving every second or two and a capture every few seconds. Every viewer gets frames, the
owner's memory stays flat, and no descriptor or process is left behind."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from tests.previews import LivePreview, Viewer, camera_app_pids
from tests.reliability.figures import record

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SOAK_SEC = 60
CAPTURE_EVERY_SEC = 5


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def open_fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def fewest_fds(pid: int, seconds: float) -> int:
    counts = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        counts.append(open_fds(pid))
        time.sleep(0.05)
    return min(counts)


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_viewers_coming_and_going_with_captures_leave_no_trace(tmp_path):
    live = LivePreview(tmp_path, STANDIN_SPEED="4", PREVIEW_IDLE_SEC="1").start()
    rng = random.Random(11)
    owner_pid = live.owner.proc.pid
    try:
        # Warm up once (imports, buffers), then take the baseline with nothing running.
        first = Viewer(live.server.port)
        first.start()
        assert first.wait_for_frames(5)
        first.close()
        assert wait_until(lambda: live.owner.status()["state"] == "stopped", 15)
        # The status request's connection may still be closing on the owner's side: the baseline is the fewest
        # descriptors seen over a second, and the check at the end is "no more than that" (fewer is no leak).
        baseline_rss, baseline_fds = rss_kb(owner_pid), fewest_fds(owner_pid, seconds=1.0)

        viewers: list[Viewer] = []
        served, captures, first_frame_sec = 0, 0, []
        started = next_capture = time.monotonic()
        while time.monotonic() - started < SOAK_SEC:
            if viewers and (len(viewers) >= 8 or rng.random() < 0.4):
                leaving = viewers.pop(rng.randrange(len(viewers)))
                assert leaving.ended is None, leaving.ended
                leaving.close()
            joined = time.monotonic()
            viewer = Viewer(live.server.port, rng.choice(["/stream.mjpg", "/api/cameras/0/stream.mjpg"]))
            viewer.start()
            assert viewer.wait_for_frames(1, timeout=10), "a viewer got no frame"
            first_frame_sec.append(time.monotonic() - joined)
            viewers.append(viewer)
            served += 1
            if time.monotonic() >= next_capture:
                answer = live.server.post("/api/camera/capture", {"width": 320, "height": 240, "durationSec": 0.2})
                assert answer.status_code == 200, answer.text
                captures += 1
                next_capture = time.monotonic() + CAPTURE_EVERY_SEC
            time.sleep(rng.uniform(0.5, 2.0))
        for viewer in viewers:
            assert viewer.ended is None, viewer.ended
            viewer.close()

        assert wait_until(lambda: live.owner.status() == live.owner.status() | {"state": "stopped", "viewers": 0}, 15)
        assert wait_until(lambda: not camera_app_pids(tmp_path / "bin"), 10)
        # The last status request's connection may still be closing on the owner's side for a moment.
        assert wait_until(lambda: open_fds(owner_pid) <= baseline_fds, 5), (open_fds(owner_pid), baseline_fds)
        growth_mb = (rss_kb(owner_pid) - baseline_rss) / 1024
        assert abs(growth_mb) <= 5, growth_mb
        record("preview_soak", "viewers_served", served)
        record("preview_soak", "captures", captures)
        record("preview_soak", "first_frame_max_sec", round(max(first_frame_sec), 2))
        record("preview_soak", "owner_rss_growth_mb", round(growth_mb, 2))
    finally:
        live.stop()
