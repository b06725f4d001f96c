"""`make run` as a new user runs it: the web server and the analysis worker, and nothing left when stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, free_port, wait_for_http

pytestmark = pytest.mark.slow


def pids_tagged(tag: str) -> list[tuple[int, str]]:
    """(pid, command line) of live processes whose environment holds `tag` (everything make run started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if tag.encode() not in (entry / "environ").read_bytes():
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if state != "Z":
            found.append((int(entry.name), cmdline))
    return found


def processes_tagged(tag: str) -> list[str]:
    return [cmdline for _, cmdline in pids_tagged(tag)]


@pytest.fixture
def make_run(tmp_path):
    stale = subprocess.run(["make", "-q", ".venv/.runtime"], cwd=ROOT, capture_output=True, timeout=30)
    if stale.returncode != 0:
        pytest.skip("the .venv is older than requirements.txt: make run would reinstall it first")
    port = free_port()
    tag = f"MAKE_RUN_TEST={uuid.uuid4().hex}"
    env = {
        **os.environ,
        tag.split("=")[0]: tag.split("=")[1],
        "PORT": str(port),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "DATABASE_PATH": str(tmp_path / "db.sqlite3"),
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "CAMERA_LOCK_PATH": str(tmp_path / "camera.lock"),
        "STATIC_ROOT": str(tmp_path / "static"),
        "CAMERA_BACKEND": "simulated",
        "SIMULATED_SPEED": "5",
        "WEB_CONCURRENCY": "1",
        "DJANGO_SECRET_KEY": "test-secret",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)  # make run uses the real settings
    log = (tmp_path / "make.log").open("wb")
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as a terminal's foreground job has
    )  # fmt: skip
    try:
        wait_for_http(f"http://127.0.0.1:{port}/api/camera/status", timeout=90)
        yield proc, f"http://127.0.0.1:{port}", tag, tmp_path / "make.log"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_make_run_gives_a_job_that_gets_done_and_sigterm_stops_everything(make_run):
    proc, url, tag, log = make_run
    # The README's first try, as a new user types it.
    answer = requests.post(
        f"{url}/api/camera/capture-and-analyze",
        data='{"format":"jpg"}',
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    deadline = time.monotonic() + 30
    while (job := requests.get(f"{url}/api/analyze/{answer.json()['jobId']}", timeout=10).json())["status"] != "done":
        assert job["status"] in ("queued", "running") and time.monotonic() < deadline, job
        time.sleep(0.2)
    assert job["result"]["width"] == 1920 and job["result"]["exposure"] == "ok"

    started = processes_tagged(tag)
    assert any("gunicorn" in cmd for cmd in started) and any("run_huey" in cmd for cmd in started), started
    assert "DJANGO_ALLOWED_HOSTS is * (any Host header): fine for development" in log.read_text()

    proc.send_signal(signal.SIGTERM)  # `kill <make's pid>`, as a process manager would
    proc.wait(timeout=60)
    assert_all_gone(tag, log)


def test_ctrl_c_on_make_run_stops_everything(make_run):
    proc, url, tag, log = make_run
    assert len(processes_tagged(tag)) >= 4  # make, serve, gunicorn's master and worker, run_huey
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    proc.wait(timeout=60)
    assert_all_gone(tag, log)


def assert_all_gone(tag: str, log: Path, stopped_by: str = "stopping web and worker", timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while (left := processes_tagged(tag)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == [], log.read_text(errors="replace")[-3000:]
    assert "serve: " in log.read_text() and stopped_by in log.read_text()


def start_serve(tmp_path: Path, **extra: str) -> tuple[subprocess.Popen, int, str, Path]:
    """`manage.py serve` with the real settings on a free port, tagged for pids_tagged(): (process, port, tag,
    log). The caller stops it."""
    port = free_port()
    tag = uuid.uuid4().hex
    env = {
        **os.environ,
        "SERVE_TEST": tag,
        "DJANGO_SETTINGS_MODULE": "camsite.settings",
        "DJANGO_SECRET_KEY": "test-secret",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "PORT": str(port),  # the default ANALYZE_URL is this server's own
        "DATABASE_PATH": str(tmp_path / "db.sqlite3"),  # and the job queue beside it
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "CAMERA_LOCK_PATH": str(tmp_path / "camera.lock"),  # and the camera owner's socket beside it
        "CAMERA_BACKEND": "simulated",
        **extra,
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        serve = subprocess.Popen(
            [sys.executable, "manage.py", "serve"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    return serve, port, tag, log


def test_serve_stops_the_web_server_when_the_worker_dies(tmp_path):
    serve, port, tag, log = start_serve(tmp_path, WEB_CONCURRENCY="1")
    try:
        wait_for_http(f"http://127.0.0.1:{port}/api/camera/status", timeout=60)
        [worker_pid] = [pid for pid, cmd in pids_tagged(tag) if cmd.endswith("manage.py run_huey")]
        os.kill(worker_pid, signal.SIGKILL)
        assert serve.wait(timeout=60) == 128 + signal.SIGKILL  # it reports how the worker ended
        assert_all_gone(tag, log, stopped_by="worker exited with status -9: stopping the rest")
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()


def test_make_run_serves_the_live_view_and_a_capture_does_not_break_it(make_run):
    from tests.previews import Viewer

    proc, url, tag, log = make_run
    port = int(url.rsplit(":", 1)[1])
    snapshot = requests.get(f"{url}/snapshot.jpg", timeout=30)
    assert (snapshot.status_code, snapshot.content[:2]) == (200, b"\xff\xd8"), snapshot.text
    viewer = Viewer(port, "/stream.mjpg")
    viewer.start()
    try:
        assert viewer.wait_for_frames(3), log.read_text(errors="replace")[-3000:]
        assert requests.post(f"{url}/api/camera/capture", json={}, timeout=60).status_code == 200
        assert viewer.wait_for_frames(len(viewer.frames) + 5)
        assert viewer.ended is None
    finally:
        viewer.close()


def test_serve_lets_an_idle_worker_exit_and_starts_it_again_for_a_job(tmp_path):
    serve, port, tag, log = start_serve(tmp_path, SIMULATED_SPEED="5", WORKER_IDLE_EXIT_SEC="1")

    def workers() -> list[int]:
        return [pid for pid, cmd in pids_tagged(tag) if cmd.endswith("manage.py run_huey")]

    def wait(condition, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline and serve.poll() is None, log.read_text(errors="replace")[-3000:]
            time.sleep(0.1)

    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{url}/api/camera/status", timeout=60)
        wait(lambda: "serve: worker idle" in log.read_text())
        wait(lambda: workers() == [])  # the idle worker is gone; web and owner stay
        assert any("gunicorn" in cmd for cmd in processes_tagged(tag))

        answer = requests.post(f"{url}/api/camera/capture-and-analyze", json={"format": "jpg"}, timeout=60)
        assert answer.status_code == 200, answer.text
        job_url = f"{url}/api/analyze/{answer.json()['jobId']}"
        wait(lambda: requests.get(job_url, timeout=10).json()["status"] == "done")
        assert log.read_text().count("serve: started worker") >= 2

        wait(lambda: log.read_text().count("serve: worker idle") >= 2)  # and idle again after the job
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)
        assert_all_gone(tag, log)
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
