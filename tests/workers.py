"""A real analysis worker (`manage.py run_huey`), beside a GunicornServer and sharing its environment."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT

# The worker as `manage.py run_huey` runs it, except that each analysis first waits HOLD_ANALYSIS_SEC, and
# fails once with an I/O error when FAIL_FIRST_ANALYSIS is set: so a test can catch a job `running`, or
# make a transient failure. The patch is on capture.analysis.jobs' name for the analysis; nothing else
# changes.
_PATCHED_WORKER = """
import errno, os, time
import django
django.setup()
from capture.analysis import jobs
real = jobs.analyze_file
failed = []
def patched(path, **kwargs):
    time.sleep(float(os.environ.get("HOLD_ANALYSIS_SEC", "0")))
    if os.environ.get("FAIL_FIRST_ANALYSIS") and not failed:
        failed.append(path)
        raise OSError(errno.EIO, "Input/output error (simulated)", str(path))
    return real(path, **kwargs)
jobs.analyze_file = patched
from django.core.management import call_command
call_command("run_huey")
"""


class HueyWorker:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self, *, hold_sec: float = 0, fail_first: bool = False) -> HueyWorker:
        if hold_sec or fail_first:
            argv = [sys.executable, "-c", _PATCHED_WORKER]
            env = {**self.env, "HOLD_ANALYSIS_SEC": str(hold_sec), "FAIL_FIRST_ANALYSIS": "1" if fail_first else ""}
        else:
            argv, env = [sys.executable, "manage.py", "run_huey"], self.env
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.wait_for_log("analysis worker ready", timeout=30)
        return self

    def wait_for_log(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker log has no {text!r} after {timeout} s:\n{self.log()}")
            time.sleep(0.05)

    def kill(self) -> None:
        """kill -9, and reap it (a zombie would still look alive)."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 30, sig: signal.Signals = signal.SIGINT) -> int | None:
        """SIGINT is huey's graceful stop (the systemd unit's KillSignal); SIGTERM its immediate one."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            return None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def messages_in_queue(huey_db: Path, task: bytes = b"capture.tasks.analyze_job") -> int:
    """Messages for `task` waiting in a SqliteHuey queue file (its `task` table holds pickled messages)."""
    with sqlite3.connect(huey_db) as db:
        return sum(task in bytes(data) for (data,) in db.execute("select data from task"))
