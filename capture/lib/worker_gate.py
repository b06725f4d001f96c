"""Start the job worker only when it has work (stdlib only).

The worker (`manage.py run_huey`) is a whole Django process, about 60 MB: on a Pi Zero 2 W (512 MB shared
with the camera's buffers) that is too much to keep for a queue that is empty most of the day. So, with
WORKER_IDLE_EXIT_SEC set (the default with the SQLite queue), the worker exits by itself once it has had
nothing to do for that long (capture.worker_idle), and this gate starts it again when

- anything is queued: each enqueue writes the wake file (capture.worker_idle.wake), whose change we see;
- the time it asked for comes: before exiting, the worker writes the time of its next due work (a
  schedule's next frame) to the "next" file;
- an hour has passed since it last ran: housekeeping (retention rules by age, reconcile, lost jobs).

`manage.py serve` runs a gate inside its own loop (capture.lib.supervisor); the camsite-worker systemd unit
runs `manage.py worker`, which execs `main()` here. Either way the gate is tiny and holds no Django.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HOUSEKEEPING_SEC = 3600.0
POLL_SEC = 0.25
# Environment the worker is started with: it exits when idle only under a gate, and knows why it was woken.
ENV_IDLE_EXIT = "CAMSITE_WORKER_IDLE_EXIT_SEC"
ENV_WAKE_REASON = "CAMSITE_WORKER_WAKE"


@dataclass(frozen=True)
class GateConfig:
    """What `manage.py worker`/`serve` computes with Django and hands down as JSON."""

    command: list[str]
    wake_path: str
    next_path: str
    idle_exit_sec: float


class WorkerGate:
    """When the worker should run. Times are wall-clock seconds (the next-wake file holds an epoch time)."""

    def __init__(self, config: GateConfig, clock=time.time) -> None:
        self.config = config
        self.clock = clock
        self.started_at: float | None = None  # the running (or last) worker's start
        self.wake_at = 0.0  # the first start: recover lost work, run the start-up sweeps

    def _wake_mtime(self) -> float:
        try:
            return os.stat(self.config.wake_path).st_mtime
        except OSError:
            return 0.0

    def due(self) -> str | None:
        """Why the (stopped) worker should start now: "work", "timer", or None to keep it stopped."""
        # Work queued after the last worker started may have been missed by it (it was on its way out).
        if self.started_at is not None and self._wake_mtime() >= self.started_at:
            return "work"
        if self.clock() >= self.wake_at:
            return "timer"
        return None

    def started(self) -> None:
        self.started_at = self.clock()

    def exited(self) -> None:
        """The worker stopped after being idle: sleep until what it asked for, an hour at most."""
        now = self.clock()
        self.wake_at = now + HOUSEKEEPING_SEC
        try:
            asked = float(Path(self.config.next_path).read_text())
        except (OSError, ValueError):
            return
        self.wake_at = max(now, min(self.wake_at, asked))

    def env(self, reason: str) -> dict[str, str]:
        return {**os.environ, ENV_IDLE_EXIT: str(self.config.idle_exit_sec), ENV_WAKE_REASON: reason}


def main(argv: list[str] | None = None) -> int:
    """The camsite-worker unit: start the worker when due, pass SIGINT/SIGTERM on, exit with a failure's status."""
    argv = sys.argv[1:] if argv is None else argv
    gate = WorkerGate(GateConfig(**json.loads(argv[0])))
    received: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda signum, frame: received.append(signum))
    worker: subprocess.Popen | None = None
    while True:
        if worker is None and not received:
            reason = gate.due()
            if reason:
                worker = subprocess.Popen(gate.config.command, env=gate.env(reason))
                gate.started()
        if received:
            if worker is None:
                return 0
            worker.send_signal(received[-1])  # SIGINT: huey's graceful stop, as systemd's KillSignal says
            return worker.wait()
        if worker is not None and worker.poll() is not None:
            if worker.returncode != 0:
                return worker.returncode  # a crash: systemd's Restart=on-failure starts us again
            worker = None
            gate.exited()
        time.sleep(POLL_SEC)


if __name__ == "__main__":
    sys.exit(main())
