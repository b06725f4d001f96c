"""Schedules end to end: a real gunicorn, a real `manage.py run_huey` (huey's own scheduler runs the frames),
the API as a user's script would call it."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from tests.conftest import probe
from tests.servers import GunicornServer
from tests.workers import HueyWorker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

SMALL = {"format": "jpg", "width": 320, "height": 240, "durationSec": 0.1}


@pytest.fixture
def server(tmp_path):
    server = GunicornServer(tmp_path, workers=1, threads=4, env={"SIMULATED_SPEED": "10"}).start()
    yield server
    server.stop()


@pytest.fixture
def worker(server, tmp_path):
    worker = HueyWorker(server.env, tmp_path / "worker.log")
    yield worker
    worker.stop()


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} after {timeout} s")
        time.sleep(0.2)


def frames(server, pk: int) -> list[dict]:
    answer = server.get(f"/api/captures/?schedule={pk}&source=schedule&pageSize=500").json()
    return sorted(answer["results"], key=lambda row: row["requestedAt"])


def test_every_2_s_with_count_3_makes_exactly_3_frames_then_a_timelapse(server, worker):
    worker.start()
    created = server.post("/api/schedules/", {**SMALL, "everySec": 2, "count": 3})
    assert created.status_code == 201, created.text
    pk = created.json()["id"]

    def finished():
        schedule = server.get(f"/api/schedules/{pk}/").json()
        return schedule if schedule["nextRunAt"] is None and schedule["framesTaken"] == 3 else None

    schedule = wait_for(finished, 40, "third frame")
    time.sleep(3)  # anything left in the queue would run now
    taken = frames(server, pk)
    assert len(taken) == 3 and all(row["status"] == "ok" for row in taken)
    assert (schedule["runs"], schedule["framesMissed"], schedule["framesFailed"]) == (3, 0, 0)
    assert len(frames(server, pk)) == 3

    queued = server.post(f"/api/schedules/{pk}/timelapse", {"fps": 2})
    assert queued.status_code == 202, queued.text
    job_id = queued.json()["jobId"]
    job = wait_for(
        lambda: (j := server.get(f"/api/timelapses/{job_id}").json())["status"] in ("done", "failed") and j,
        60,
        "finished timelapse",
    )
    assert job["status"] == "done", job
    assert job["progress"] == 1
    video = server.get(f"/api/captures/{job['captureId']}/").json()
    assert video["source"] == "timelapse" and video["scheduleId"] == pk
    assert probe(server.uploads / video["filename"])["duration"] == pytest.approx(3 / 2, abs=0.25)


def test_a_worker_restart_mid_schedule_skips_the_missed_frames_without_a_burst(server, worker):
    worker.start()
    pk = server.post("/api/schedules/", {**SMALL, "everySec": 2}).json()["id"]
    wait_for(lambda: len(frames(server, pk)) >= 2, 30, "two frames")
    worker.kill()
    before = len(frames(server, pk))
    time.sleep(9)  # four or five runs go by with no worker
    worker.start()
    wait_for(lambda: len(frames(server, pk)) >= before + 3, 30, "frames after the restart")
    schedule = server.get(f"/api/schedules/{pk}/").json()
    assert schedule["framesMissed"] >= 3
    assert worker.log().count("skipped") == 1  # counted and logged once, not per message or per thread
    after = frames(server, pk)[before:]
    starts = [datetime.fromisoformat(row["requestedAt"]) for row in after]
    # No burst: after the restart, frames keep their 2 s pace.
    gaps = [(b - a).total_seconds() for a, b in zip(starts, starts[1:], strict=False)]
    assert all(gap > 1.5 for gap in gaps), gaps
