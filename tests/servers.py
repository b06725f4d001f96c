"""A real gunicorn, started the way `make run` starts it (deploy/gunicorn.conf.py), on 127.0.0.1 only."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import requests

from tests import pg
from tests.conftest import ROOT, free_port, wait_for_http

# Servers a test starts get SIGTERM if the test's process dies (a killed pytest, a crashed xdist worker), so
# none is left running: util-linux's setpriv sets the parent-death signal and execs the server (same pid).
DIE_WITH_TEST = [shutil.which("setpriv") or "setpriv", "--pdeathsig", "TERM", "--"]


class GunicornServer:
    def __init__(self, tmp: Path, *, workers: int = 2, threads: int = 2, env: dict[str, str] | None = None) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.uploads = tmp / "uploads"
        self.lock_path = tmp / "camera.lock"
        self.log_path = tmp / "gunicorn.log"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "camsite.settings",
            "DJANGO_SECRET_KEY": "test-secret",
            "DATABASE_PATH": str(tmp / "db.sqlite3"),
            "UPLOAD_DIR": str(self.uploads),
            "CAMERA_LOCK_PATH": str(self.lock_path),
            "CAMERA_BACKEND": "simulated",
            "PORT": str(self.port),
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": str(workers),
            "GUNICORN_THREADS": str(threads),
            **(env or {}),
        }
        # On PostgreSQL runs (CAMSITE_TEST_DB=postgres), each server gets a fresh database on the cluster.
        if "DATABASE_URL" not in self.env and (url := pg.server_database_url()):
            self.env["DATABASE_URL"] = url
        self.proc: subprocess.Popen | None = None

    def start(self) -> GunicornServer:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=ROOT,
            env=self.env,
            check=True,
            timeout=120,
        )
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [*DIE_WITH_TEST, str(Path(sys.executable).with_name("gunicorn")), "-c", "deploy/gunicorn.conf.py"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_for_http(f"{self.url}/api/camera/status")
        except BaseException:
            self.stop()  # a server that never answered must not outlive the test
            raise
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.url + path, timeout=kwargs.pop("timeout", 30), **kwargs)

    def post(self, path: str, body: dict | None = None, **kwargs) -> requests.Response:
        return requests.post(self.url + path, json=body or {}, timeout=kwargs.pop("timeout", 60), **kwargs)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")
