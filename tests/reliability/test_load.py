"""Load: 200 capture requests over ~30 s against 3 gunicorn workers, a CLI capture loop beside them, and
status/history pollers on every worker. The stand-in camera's own log proves runs never overlap."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import ROOT, capture_processes
from tests.reliability.figures import record
from tests.servers import GunicornServer

pytestmark = pytest.mark.slow

REQUESTS = 200
CLIENTS = 10
SPREAD_SEC = 30
BODY = {"format": "jpg", "durationSec": 0.3, "width": 320, "height": 240}


@pytest.fixture
def server(gunicorn, standins) -> GunicornServer:
    return gunicorn(workers=3, threads=4, env={"CAMERA_BACKEND": "rpicam"})


def camera_runs(runs_log) -> list[tuple[float, float, str]]:
    """(start, end, app) of every camera run, from the stand-in's own log."""
    starts, runs = {}, []
    for line in runs_log.read_text().splitlines():
        event, app, _camera, pid, when, *_ = line.split()  # `end` lines also say how the run stopped
        if event.startswith("list-"):
            continue  # camera listings: tests/test_cameras.py checks they never overlap a capture
        if event == "start":
            starts[pid] = float(when)
        else:
            runs.append((starts.pop(pid), float(when), app))
    assert not starts, f"camera runs that never ended: {starts}"
    return sorted(runs)


def cli_capture_loop(server: GunicornServer, stop: threading.Event, exit_codes: list[int]) -> None:
    while not stop.is_set():
        result = subprocess.run(
            [sys.executable, "manage.py", "capture", "--format", "jpg", "--duration", "0.3", "--width", "320",
             "--height", "240", "--json"],
            cwd=ROOT, env=server.env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        exit_codes.append(result.returncode)
        time.sleep(random.uniform(0.2, 1.0))


def poll(server: GunicornServer, stop: threading.Event, codes: list[int]) -> None:
    session = requests.Session()
    while not stop.is_set():
        for path in ("/api/camera/status", "/api/captures/?pageSize=5"):
            codes.append(session.get(server.url + path, timeout=30).status_code)
        time.sleep(0.05)


@pytest.mark.timeout(240)
def test_200_captures_under_load_lose_nothing_and_never_overlap(server, standins):
    rng = random.Random(7)
    schedule = sorted(rng.uniform(0, SPREAD_SEC) for _ in range(REQUESTS))
    started = time.monotonic()

    def fire(at: float) -> int:
        time.sleep(max(0.0, at - (time.monotonic() - started)))
        response = requests.post(f"{server.url}/api/camera/capture", json=BODY, timeout=60)
        return response.status_code, response.json()

    stop = threading.Event()
    cli_codes: list[int] = []
    poll_codes: list[int] = []
    helpers = [threading.Thread(target=cli_capture_loop, args=(server, stop, cli_codes))]
    helpers += [threading.Thread(target=poll, args=(server, stop, poll_codes)) for _ in range(3)]
    for thread in helpers:
        thread.start()
    try:
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            results = list(pool.map(fire, schedule))
    finally:
        stop.set()
        for thread in helpers:
            thread.join(timeout=90)
    elapsed = time.monotonic() - started

    codes = [code for code, _ in results]
    ok_names = [body["filename"] for code, body in results if code == 200]
    server_errors = [body for code, body in results if code >= 500]

    runs = camera_runs(standins / "runs.log")
    overlaps = [(a, b) for a, b in zip(runs, runs[1:], strict=False) if b[0] < a[1]]
    history = server.get("/api/captures/?pageSize=500&status=ok").json()
    ok_rows = {row["filename"] for row in history["results"]}
    files = {p.name for p in server.uploads.iterdir()}
    log = server.log()

    record("load", "api_requests", REQUESTS)
    record("load", "api_200", codes.count(200))
    record("load", "api_409", codes.count(409))
    record("load", "api_5xx", len(server_errors))
    record("load", "cli_captures", len(cli_codes))
    record("load", "cli_ok", cli_codes.count(0))
    record("load", "cli_busy_exit_3", cli_codes.count(3))
    record("load", "poll_requests", len(poll_codes))
    record("load", "camera_runs", len(runs))
    record("load", "camera_run_overlaps", len(overlaps))
    record("load", "files_without_row", len(files - ok_rows))
    record("load", "rows_without_file", len(ok_rows - files))
    record("load", "seconds", round(elapsed, 1))
    record("load", "database_locked_errors", log.count("database is locked"))

    assert server_errors == []
    assert set(codes) <= {200, 409}
    assert codes.count(200) >= 10
    assert set(cli_codes) <= {0, 3}
    assert overlaps == []
    assert set(ok_names) <= files
    assert files == ok_rows  # no orphan file, no row without its file
    assert len(runs) == codes.count(200) + cli_codes.count(0)  # every camera run is one success
    assert set(poll_codes) == {200}
    assert "database is locked" not in log
    assert server.get("/api/camera/status").json()["busy"] is False
    assert capture_processes(standins) == []
