"""The built-in analyzer end to end: a real gunicorn, a real `manage.py run_huey`, files on disk."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time

import pytest
from PIL import Image

from tests.conftest import free_port
from tests.servers import GunicornServer
from tests.workers import HueyWorker, messages_in_queue

pytestmark = pytest.mark.slow

FINAL = {"done", "failed"}


@pytest.fixture
def server(gunicorn) -> GunicornServer:
    # One worker thread (the default is 2): these tests count the messages a single busy thread leaves queued.
    env = {"SIMULATED_SPEED": "5", "ANALYSIS_RETRY_DELAY_SEC": "1", "HUEY_WORKERS": "1"}
    return gunicorn(workers=1, threads=4, env=env)


@pytest.fixture
def worker(server, tmp_path):
    worker = HueyWorker(server.env, tmp_path / "worker.log")
    yield worker
    worker.stop()


def poll_job(server, job_id: str, until: set[str] = FINAL, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = server.get(f"/api/analyze/{job_id}").json()
        if job["status"] in until:
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still {job['status']} after {timeout} s: {job}")
        time.sleep(0.1)


def analyze(server, filename: str) -> str:
    response = server.post("/api/analyze", {"filename": filename, "path": f"/uploads/{filename}"})
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    return response.json()["jobId"]


def test_capture_and_analyze_gets_a_job_that_a_real_worker_finishes(server, worker):
    worker.start()
    body = {"format": "jpg", "width": 640, "height": 360, "durationSec": 0.5}
    answer = server.post("/api/camera/capture-and-analyze", body)
    assert answer.status_code == 200, answer.text
    job = poll_job(server, answer.json()["jobId"])

    assert job["status"] == "done", job
    assert job["filename"] == answer.json()["filename"]
    result = job["result"]
    with Image.open(server.uploads / job["filename"]) as image:
        assert (result["width"], result["height"]) == image.size == (640, 360)
    assert result["kind"] == "image"
    assert result["exposure"] == "ok"  # the simulated camera's test pattern
    assert result["sharpness"] > 50  # sharp edges everywhere
    assert (server.uploads / result["thumbnail"]).stat().st_size > 0
    # The capture row knows its job, and shows it with the result.
    capture = server.get(f"/api/captures/{job['captureId']}/").json()
    assert capture["analyzeJobId"] == job["jobId"]
    assert [j["jobId"] for j in capture["analysisJobs"]] == [job["jobId"]]
    assert capture["analysisJobs"][0]["result"] == result


@pytest.mark.parametrize("fmt", ["mp4", "h264"])
def test_a_video_result_matches_the_recording(server, worker, fmt):
    worker.start()
    body = {"format": fmt, "width": 320, "height": 240, "fps": 30, "durationSec": 2}
    answer = server.post("/api/camera/capture-and-analyze", body)
    assert answer.status_code == 200, answer.text
    job = poll_job(server, answer.json()["jobId"])

    assert job["status"] == "done", job
    result = job["result"]
    assert result["kind"] == "video"
    assert result["container"] == fmt and result["codec"] == "h264"
    assert (result["width"], result["height"], result["fps"]) == (320, 240, 30)
    assert result["durationSec"] == pytest.approx(2, rel=0.1)
    assert result["frames"] == pytest.approx(60, rel=0.1)
    assert result["bitrate"] == pytest.approx(result["sizeBytes"] * 8 / result["durationSec"], rel=0.05)
    assert result["motionScore"] > 1  # the test pattern moves
    assert (server.uploads / result["thumbnail"]).stat().st_size > 0
    if fmt == "h264":
        assert result["fpsSource"] == "capture"  # a raw stream has no trustworthy rate of its own


@pytest.mark.parametrize(("colour", "verdict"), [(0, "dark"), (255, "bright")])
def test_a_black_frame_is_dark_and_a_white_one_bright(server, worker, colour, verdict):
    # Not every file comes from this server's camera: one put in the upload directory is analysed too.
    Image.new("RGB", (800, 600), (colour,) * 3).save(server.uploads / f"frame{colour}.jpg", quality=90)
    worker.start()
    job = poll_job(server, analyze(server, f"frame{colour}.jpg"))
    assert job["status"] == "done", job
    assert job["captureId"] is None
    assert job["result"]["exposure"] == verdict
    assert job["result"]["brightness"] == pytest.approx(colour, abs=3)
    assert (job["result"]["width"], job["result"]["height"]) == (800, 600)


def test_jobs_queued_while_the_worker_is_down_run_when_it_starts(server, worker):
    names = [f"still{n}.jpg" for n in range(3)]
    for n, name in enumerate(names):
        Image.new("L", (64, 48), 60 * n).save(server.uploads / name)
    job_ids = [analyze(server, name) for name in names]

    # No worker runs yet, so nothing can take them: they wait, on disk.
    assert [server.get(f"/api/analyze/{job}").json()["status"] for job in job_ids] == ["queued"] * 3
    assert messages_in_queue(server.tmp / "huey.sqlite3") == 3  # SqliteHuey keeps them on disk

    worker.start()
    jobs = [poll_job(server, job) for job in job_ids]
    assert [job["status"] for job in jobs] == ["done"] * 3
    assert [job["result"]["brightness"] for job in jobs] == pytest.approx([0, 60, 120], abs=3)


def test_a_job_running_when_its_worker_is_killed_runs_again_after_restart(server, worker):
    for name in ("first.jpg", "second.jpg"):
        Image.new("L", (64, 48), 128).save(server.uploads / name)
    worker.start(hold_sec=60)
    first = analyze(server, "first.jpg")
    second = analyze(server, "second.jpg")
    poll_job(server, first, until={"running"}, timeout=15)

    worker.kill()
    # huey deleted the message when the worker took it: only the database still knows about the job.
    assert server.get(f"/api/analyze/{first}").json()["status"] == "running"
    assert messages_in_queue(server.tmp / "huey.sqlite3") == 1  # the second job's

    started = time.monotonic()
    worker.start()
    jobs = {job_id: poll_job(server, job_id) for job_id in (first, second)}
    assert time.monotonic() - started < 20
    assert {job["status"] for job in jobs.values()} == {"done"}
    assert jobs[first]["attempts"] == 2 and jobs[second]["attempts"] == 1
    assert jobs[first]["error"] is None
    assert "Interrupted: worker process" in worker.log() and "queued again" in worker.log()


def test_sigint_lets_the_running_job_finish_first(server, worker):
    Image.new("L", (64, 48), 128).save(server.uploads / "slow.jpg")
    worker.start(hold_sec=2)
    job_id = analyze(server, "slow.jpg")
    poll_job(server, job_id, until={"running"}, timeout=15)

    assert worker.stop(timeout=25, sig=signal.SIGINT) == 0  # systemd's KillSignal for the worker
    job = server.get(f"/api/analyze/{job_id}").json()
    assert job["status"] == "done" and job["attempts"] == 1


def test_sigterm_stops_at_once_and_the_next_start_finishes_the_job(server, worker):
    Image.new("L", (64, 48), 128).save(server.uploads / "slow.jpg")
    worker.start(hold_sec=30)
    job_id = analyze(server, "slow.jpg")
    poll_job(server, job_id, until={"running"}, timeout=15)

    started = time.monotonic()
    worker.stop(timeout=25, sig=signal.SIGTERM)
    assert time.monotonic() - started < 10  # it did not wait for the 30 s analysis
    assert server.get(f"/api/analyze/{job_id}").json()["status"] == "running"

    worker.start()
    job = poll_job(server, job_id)
    assert job["status"] == "done" and job["attempts"] == 2


def test_a_transient_failure_is_retried_after_a_delay(server, worker):
    Image.new("L", (64, 48), 128).save(server.uploads / "flaky.jpg")
    worker.start(fail_first=True)  # the first analysis gets an I/O error
    job = poll_job(server, analyze(server, "flaky.jpg"))
    assert job["status"] == "done", job
    assert job["attempts"] == 2
    assert job["error"] is None
    assert "Attempt 1 failed: OSError: [Errno 5] Input/output error (simulated)" in worker.log()
    assert "retrying in 1 s" in worker.log()


def test_a_file_that_cannot_be_analysed_fails_at_once_with_its_error(server, worker):
    (server.uploads / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    worker.start()
    job = poll_job(server, analyze(server, "broken.jpg"))
    assert job["status"] == "failed"
    assert job["attempts"] == 1  # a broken file is not retried
    assert "broken.jpg" in job["error"] and job["result"] is None


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server (apt install redis-server)")
def test_the_same_jobs_run_on_redis_huey(tmp_path, gunicorn):
    port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    worker = None
    try:
        env = {"HUEY_BACKEND": "redis", "HUEY_REDIS_URL": f"redis://127.0.0.1:{port}/0", "SIMULATED_SPEED": "5"}
        server = gunicorn(workers=1, threads=4, env=env)
        worker = HueyWorker(server.env, tmp_path / "worker.log").start()
        assert "queue: redis redis://127.0.0.1" in worker.log()
        answer = server.post("/api/camera/capture-and-analyze", {"format": "jpg", "width": 320, "height": 240})
        assert answer.status_code == 200, answer.text
        job = poll_job(server, answer.json()["jobId"])
        assert job["status"] == "done" and job["result"]["width"] == 320
        assert not (server.tmp / "huey.sqlite3").exists()  # nothing went through SQLite
    finally:
        if worker:
            worker.stop()
        redis.terminate()
        redis.wait(timeout=10)
