"""The fleet: two camera servers and one central server on one PostgreSQL, one Redis and one bucket.

Every part is a real process on 127.0.0.1: each camera server is a gunicorn with its own CAMSITE_HOST, lock
path, upload directory and simulated camera, plus its worker (`run_huey`, which uploads its captures); the
central server is a gunicorn (the admin, /api/analyze) and the worker that analyses every host's captures.
The camera servers' capture-and-analyze forwards to the central server (ANALYZE_URL).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import ExitStack

import pytest
import requests

from tests import pg
from tests.collected_static import collect_static
from tests.conftest import ROOT
from tests.net import free_port
from tests.s3 import MotoServer
from tests.servers import GunicornServer
from tests.workers import HueyWorker

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(420),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server (apt install redis-server)"),
    pytest.mark.skipif(not pg.available(), reason="no PostgreSQL 15 (apt install postgresql)"),
]

OUTAGE_SEC = 30
UNAVAILABLE = {"ok": False, "error": "Database unavailable: try again shortly"}


def start_redis(stack: ExitStack, tmp_path) -> str:
    port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        cwd=tmp_path,
    )

    def stop() -> None:
        redis.terminate()
        redis.wait(timeout=10)

    stack.callback(stop)
    return f"redis://127.0.0.1:{port}/0"


def start_server(stack: ExitStack, tmp_path, host: str, env: dict) -> GunicornServer:
    directory = tmp_path / host
    directory.mkdir(exist_ok=True)
    server = GunicornServer(directory, workers=1, threads=4, env={**env, "CAMSITE_HOST": host})
    stack.callback(server.stop)
    return server.start()


def start_worker(stack: ExitStack, server: GunicornServer) -> HueyWorker:
    worker = HueyWorker(server.env, server.tmp / "worker.log")
    stack.callback(worker.stop)
    return worker.start()


def poll(fetch, until, timeout: float = 60, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if until(value):
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what or 'condition'} not met after {timeout} s: {value}")
        time.sleep(0.2)


def rows(central: GunicornServer, query: str) -> list[dict]:
    return central.get(f"/api/captures/?{query}&pageSize=500").json()["results"]


def admin_session(central: GunicornServer) -> requests.Session:
    env = {**central.env, "DJANGO_SUPERUSER_PASSWORD": "fleet-admin-pw"}
    subprocess.run(
        [sys.executable, "manage.py", "createsuperuser", "--noinput", "--username", "admin", "--email", "a@b.test"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    session = requests.Session()
    login = session.get(f"{central.url}/admin/login/", timeout=30)
    assert login.status_code == 200, login.text[:2000]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text)[1]
    answer = session.post(
        f"{central.url}/admin/login/?next=/admin/",
        data={"username": "admin", "password": "fleet-admin-pw", "csrfmiddlewaretoken": token},
        headers={"Referer": f"{central.url}/admin/login/"},
        timeout=30,
    )
    assert answer.url.endswith("/admin/"), answer.text[:500]
    return session


def test_two_camera_servers_and_a_central_one_on_shared_services(tmp_path):
    with ExitStack() as stack:
        cluster = pg.PostgresCluster().start()  # its own cluster: this test stops it for a while
        stack.callback(cluster.stop)
        moto = MotoServer(tmp_path / "moto.log").start()
        stack.callback(moto.stop)
        bucket = moto.new_bucket()
        shared = {
            "DATABASE_URL": cluster.create_database("fleet"),
            "HUEY_BACKEND": "redis",
            "HUEY_REDIS_URL": start_redis(stack, tmp_path),
            **moto.env(bucket, prefix="fleet"),
            "ANALYSIS_RETRY_DELAY_SEC": "1",
            "STORAGE_UPLOAD_RETRY_DELAY_SEC": "1",
        }
        # The central server's admin is what people open: its static files collected as `make run` does.
        static = collect_static(
            tmp_path / "static", {**os.environ, "DJANGO_SETTINGS_MODULE": "camsite.settings", "DJANGO_SECRET_KEY": "k"}
        )
        central = start_server(stack, tmp_path, "central", {**shared, **static})
        cameras = {**shared, "ANALYZE_URL": f"{central.url}/api/analyze"}
        pi_a = start_server(stack, tmp_path, "pi-a", {**cameras, "SIMULATED_SPEED": "5"})
        pi_b = start_server(stack, tmp_path, "pi-b", {**cameras, "SIMULATED_SPEED": "1"})
        for server in (central, pi_a, pi_b):
            start_worker(stack, server)

        # --- Captures from both appear centrally, by host, analysed by the central worker, and play there.
        taken = {}
        for name, pi in (("pi-a", pi_a), ("pi-b", pi_b)):
            answer = pi.post("/api/camera/capture-and-analyze", {"format": "jpg", "width": 320, "height": 240})
            assert answer.status_code == 200, answer.text
            taken[name] = answer.json()
        for name, answer in taken.items():
            job = poll(
                lambda answer=answer: central.get(f"/api/analyze/{answer['jobId']}").json(),
                lambda job: job["status"] in ("done", "failed"),
                what=f"{name}'s analysis",
            )
            assert job["status"] == "done", job
            assert job["host"] == "central" and (job["result"]["width"], job["result"]["height"]) == (320, 240)
            [row] = rows(central, f"host={name}")
            assert row["host"] == name and row["filename"] == answer["filename"]
            assert row["url"] == f"/uploads/{name}/{answer['filename']}"
            played = central.get(row["url"])  # a redirect to the bucket, followed
            pi = pi_a if name == "pi-a" else pi_b
            assert played.status_code == 200 and played.content == (pi.uploads / answer["filename"]).read_bytes()
        admin = admin_session(central)
        listing = admin.get(f"{central.url}/admin/capture/capture/?host=pi-a", timeout=30).text
        assert taken["pi-a"]["filename"] in listing and taken["pi-b"]["filename"] not in listing
        assert "By host" in listing

        # --- kill -9 of pi-a mid-capture leaves pi-b's running capture alone.
        outcomes: dict[str, object] = {}

        def record(name: str, pi: GunicornServer, duration: float) -> None:
            try:
                body = {"format": "mp4", "width": 320, "height": 240, "fps": 10, "durationSec": duration}
                outcomes[name] = pi.post("/api/camera/capture", body, timeout=120).status_code
            except requests.RequestException as exc:
                outcomes[name] = exc

        threads = [
            threading.Thread(target=record, args=("pi-a", pi_a, 60)),  # 12 s at SIMULATED_SPEED=5
            threading.Thread(target=record, args=("pi-b", pi_b, 25)),  # 25 s at real time
        ]
        for thread in threads:
            thread.start()
        running = poll(
            lambda: rows(central, "status=running"),
            lambda found: {row["host"] for row in found} == {"pi-a", "pi-b"},
            what="both captures running",
        )
        ids = {row["host"]: row["id"] for row in running}
        os.killpg(pi_a.proc.pid, signal.SIGKILL)
        pi_a.proc.wait(timeout=10)
        threads[0].join(timeout=30)
        assert isinstance(outcomes["pi-a"], requests.RequestException)

        pi_a = start_server(stack, tmp_path, "pi-a", {**cameras, "SIMULATED_SPEED": "5"})  # it comes back
        again = pi_a.post("/api/camera/capture", {"format": "jpg", "width": 160, "height": 120})
        assert again.status_code == 200, again.text
        by_id = {row["id"]: row for row in rows(central, "camera=0")}
        assert by_id[ids["pi-a"]]["status"] == "interrupted"  # its own row, by its own recovery
        assert by_id[ids["pi-b"]]["status"] == "running" and by_id[ids["pi-b"]]["error"] == ""
        threads[1].join(timeout=90)
        assert outcomes["pi-b"] == 200
        assert central.get(f"/api/captures/{ids['pi-b']}/").json()["status"] == "ok"

        # --- pi-b loses the database for 30 s: its captures are a clear 503, then it carries on.
        cluster.pause()
        started = time.monotonic()
        refused = []
        while time.monotonic() - started < OUTAGE_SEC:
            answer = pi_b.post("/api/camera/capture", {"format": "jpg", "width": 160, "height": 120})
            refused.append((answer.status_code, answer.json()))
            time.sleep(5)
        cluster.resume()
        assert len(refused) >= 3 and all(outcome == (503, UNAVAILABLE) for outcome in refused), refused
        after = pi_b.post("/api/camera/capture", {"format": "jpg", "width": 160, "height": 120})
        assert after.status_code == 200, after.text
        assert pi_b.get("/api/camera/status").json()["busy"] is False  # the camera was never left locked
        assert "Traceback" not in pi_b.log()
