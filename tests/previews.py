"""Helpers for the live-preview tests: a real gunicorn plus a real camera owner on the stand-in camera apps
(the viewers are in tests/viewers.py, which the benchmark shares)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from capture.lib import owner_client
from tests.conftest import ROOT
from tests.servers import GunicornServer
from tests.standins import install_standins
from tests.viewers import Viewer, camera_app_pids, wait_for_owner  # noqa: F401 - for the tests


def standin_env(tmp: Path, **extra: str) -> dict[str, str]:
    bin_dir = install_standins(tmp / "bin")
    state = tmp / "standin-state"
    state.mkdir(exist_ok=True)
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "STANDIN_STATE_DIR": str(state),
        "STANDIN_STARTUP_SEC": "0.05",
        "CAMERA_BACKEND": "rpicam",
        # A short name: a Unix socket's path (the lock's, plus .owner.sock) must fit in 108 bytes.
        "CAMERA_LOCK_PATH": str(tmp / "c.lock"),
        **extra,
    }


class Owner:
    """`manage.py camera_owner` with the server's environment."""

    def __init__(self, env: dict[str, str], log: Path, camera: int = 0) -> None:
        self.env = env
        self.log_path = log
        self.camera = camera
        lock = Path(env["CAMERA_LOCK_PATH"])
        self.socket = owner_client.socket_path(lock if camera == 0 else f"{lock}.{camera}")
        self.proc: subprocess.Popen | None = None

    def start(self) -> Owner:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "manage.py", "camera_owner", "--camera", str(self.camera)],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for_owner(self.socket)
        return self

    def status(self) -> dict:
        return owner_client.status(self.socket, timeout=5)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class LivePreview:
    """gunicorn (the deploy config) and the owner of camera 0, on the stand-ins."""

    def __init__(self, tmp: Path, **env: str) -> None:
        self.tmp = tmp
        self.server = GunicornServer(tmp, workers=1, threads=4, env=standin_env(tmp, **env))
        self.owner = Owner(self.server.env, tmp / "owner.log")
        self.runs_log = tmp / "standin-state" / "runs.log"

    def start(self) -> LivePreview:
        self.server.start()
        try:
            self.owner.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.owner.stop()
        self.server.stop()

    def runs(self, prog: str = "") -> list[str]:
        lines = self.runs_log.read_text().splitlines() if self.runs_log.exists() else []
        return [line for line in lines if prog in line]
