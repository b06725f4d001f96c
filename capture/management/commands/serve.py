"""`manage.py serve`: the web server and the analysis worker together, the way `make run` starts them.

In production each runs as its own systemd service (`gunicorn -c deploy/gunicorn.conf.py` and
`manage.py run_huey`). For one command on a development machine, this one starts both and owns them:

- Ctrl-C (SIGINT), SIGTERM and SIGHUP stop both: gunicorn gets SIGINT for Ctrl-C (its quick stop) and
  SIGTERM otherwise (its graceful stop); the worker always gets SIGINT, huey's graceful stop, which lets a
  running analysis finish. A second signal kills them.
- If either exits, the other is stopped too, and serve exits with the first one's status.
- They get a parent-death signal, so even a `kill -9` of serve (or of the `make` that started it) stops them.

These are long-running services, not commands run to completion, so they don't go through
capture.lib.runner.run_command (which waits for its command with a timeout).
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
POLL_SEC = 0.2


def _terminate_with_parent() -> None:
    # In the child between fork and exec: the kernel sends SIGTERM when serve dies, however it dies.
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Command(BaseCommand):
    help = "Run gunicorn (deploy/gunicorn.conf.py) and the analysis worker (run_huey) until stopped."
    requires_system_checks = []  # each child runs Django's checks itself

    def handle(self, *args, **options) -> None:
        _terminate_with_parent()  # started by `make run`: go when make goes
        self._received: list[int] = []
        for signum in STOP_SIGNALS:
            signal.signal(signum, lambda signum, frame: self._received.append(signum))
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        commands = {
            "web": [gunicorn, "-c", str(settings.BASE_DIR / "deploy" / "gunicorn.conf.py")],
            "worker": [sys.executable, str(settings.BASE_DIR / "manage.py"), "run_huey"],
        }
        children: dict[str, subprocess.Popen] = {}
        try:
            for name, argv in commands.items():
                # Own process groups: signals reach them from serve only, once each.
                children[name] = subprocess.Popen(
                    argv, cwd=settings.BASE_DIR, start_new_session=True, preexec_fn=_terminate_with_parent
                )
                self.stderr.write(f"serve: started {name} (pid {children[name].pid}): {' '.join(argv)}")
            exit_code = self._supervise(children)
        finally:
            for proc in children.values():
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        sys.exit(exit_code)

    def _supervise(self, children: dict[str, subprocess.Popen]) -> int:
        exit_code: int | None = None
        handled = 0
        while True:
            while handled < len(self._received):
                signum = self._received[handled]
                handled += 1
                if handled == 1:
                    self.stderr.write(f"serve: {signal.Signals(signum).name}: stopping web and worker")
                    self._stop(children, quick=signum == signal.SIGINT)
                else:
                    self.stderr.write("serve: second signal: killing web and worker")
                    self._stop(children, kill=True)
                exit_code = 128 + signum if exit_code is None else exit_code
            running = {name: proc for name, proc in children.items() if proc.poll() is None}
            if not running:
                return exit_code if exit_code is not None else 0
            if exit_code is None and len(running) < len(children):
                gone = next(name for name in children if name not in running)
                status = children[gone].returncode
                exit_code = 128 - status if status < 0 else status or 1  # a service that stops is a failure
                self.stderr.write(f"serve: {gone} exited with status {status}: stopping the rest")
                self._stop(running)
            time.sleep(POLL_SEC)

    @staticmethod
    def _stop(children: dict[str, subprocess.Popen], *, quick: bool = False, kill: bool = False) -> None:
        # gunicorn: SIGINT is its quick stop, SIGTERM its graceful one (SIGHUP would mean "reload").
        # huey: SIGINT is its graceful stop, letting a running analysis finish (SIGTERM would drop it).
        signals = {"web": signal.SIGINT if quick else signal.SIGTERM, "worker": signal.SIGINT}
        for name, proc in children.items():
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL if kill else signals[name])
