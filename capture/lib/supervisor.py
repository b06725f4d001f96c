"""Run the web server, the analysis worker and the camera owners together, the way `make run` starts them
(stdlib only).

`manage.py serve` execs this module (`python -m capture.lib.supervisor`), so the process that watches the
services holds no Django in memory. It passes the camera owners' configurations (capture.lib.owner, one per
camera) as a JSON list in argv[1], and the worker gate's (or "") in argv[2]. In production each service is its
own systemd unit (`gunicorn -c deploy/gunicorn.conf.py`, `manage.py worker`, `camsite-owner@N`).

- Ctrl-C (SIGINT), SIGTERM and SIGHUP are passed on to both; a second one kills them.
- If the web server or the worker exits, the rest is stopped too, and we exit with its status.
- A camera owner that exits is started again at once (at most once a second): a `kill -9` of an owner costs
  viewers a reconnect, not the preview.
- With a worker gate (argv[2], capture.lib.worker_gate: WORKER_IDLE_EXIT_SEC), the worker exiting with
  status 0 means it went idle: it is started again when the gate says there is work.
- They get a parent-death signal, so even a `kill -9` of this process (or of the `make` that started it)
  stops them.

These are long-running services, not commands run to completion, so they don't go through
capture.lib.runner.run_command (which waits for its command with a timeout).
"""

from __future__ import annotations

import ctypes
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from capture.lib.worker_gate import GateConfig, WorkerGate

BASE_DIR = Path(__file__).resolve().parents[2]
_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
POLL_SEC = 0.2
OWNER_RESTART_SEC = 1.0  # an owner that keeps dying is started at most this often


def _terminate_with_parent() -> None:
    # Also runs in each child between fork and exec: the kernel sends SIGTERM when its parent dies.
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _terminate_with_parent()  # started by `make run`: go when make goes
    received: list[int] = []
    for signum in STOP_SIGNALS:
        signal.signal(signum, lambda signum, frame: received.append(signum))
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    commands = {
        "web": [gunicorn, "-c", str(BASE_DIR / "deploy" / "gunicorn.conf.py")],
        "worker": [sys.executable, str(BASE_DIR / "manage.py"), "run_huey"],
    }
    for config in json.loads(argv[0]) if argv else []:
        commands[f"owner-{json.loads(config)['camera']}"] = [sys.executable, "-m", "capture.lib.owner", config]
    gate = WorkerGate(GateConfig(**json.loads(argv[1]))) if len(argv) > 1 and argv[1] else None
    if gate is not None:
        commands["worker"] = gate.config.command
    children: dict[str, subprocess.Popen] = {}
    try:
        for name in commands:
            _start(name, commands, children, gate)
        return _supervise(children, commands, received, gate)
    finally:
        for proc in children.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _start(name: str, commands: dict[str, list[str]], children: dict[str, subprocess.Popen],
           gate: WorkerGate | None = None) -> None:  # fmt: skip
    # Own process groups: signals reach them from us only, once each.
    argv = commands[name]
    env = None
    if name == "worker" and gate is not None:
        env = gate.env(gate.due() or "work")
        gate.started()
    children[name] = subprocess.Popen(argv, cwd=BASE_DIR, env=env, start_new_session=True,
                                      preexec_fn=_terminate_with_parent)  # fmt: skip
    shown = " ".join(argv[:4]) if name.startswith("owner-") else " ".join(argv)  # an owner's JSON is long
    _log(f"serve: started {name} (pid {children[name].pid}): {shown}")


def _supervise(children: dict[str, subprocess.Popen], commands: dict[str, list[str]], received: list[int],
               gate: WorkerGate | None = None) -> int:  # fmt: skip
    exit_code: int | None = None
    asleep = False  # the worker exited idle and waits for its gate
    handled = 0
    started = {name: time.monotonic() for name in children}
    while True:
        while handled < len(received):
            signum = received[handled]
            handled += 1
            if handled == 1:
                _log(f"serve: {signal.Signals(signum).name}: stopping web and worker (and the camera owners)")
                _stop(children, quick=signum == signal.SIGINT)
            else:
                _log("serve: second signal: killing web and worker")
                _stop(children, kill=True)
            exit_code = 128 + signum if exit_code is None else exit_code
        running = {name: proc for name, proc in children.items() if proc.poll() is None}
        if not running and not (asleep and exit_code is None):
            return exit_code if exit_code is not None else 0
        if exit_code is None and gate is not None and "worker" not in running:
            if not asleep and children["worker"].returncode == 0:
                asleep = True
                gate.exited()
                _log("serve: worker idle: stopped until there is work")
            if asleep and gate.due():
                asleep = False
                _start("worker", commands, children, gate)
                running["worker"] = children["worker"]
        if exit_code is None:
            for name in [name for name in children if name.startswith("owner-") and name not in running]:
                if time.monotonic() - started[name] >= OWNER_RESTART_SEC:
                    _log(f"serve: {name} exited with status {children[name].returncode}: starting it again")
                    _start(name, commands, children)
                    started[name] = time.monotonic()
            gone = [name for name in ("web", "worker") if name in children and name not in running]
            gone = [name for name in gone if not (name == "worker" and asleep)]
            if gone:
                status = children[gone[0]].returncode
                exit_code = 128 - status if status < 0 else status or 1  # a service that stops is a failure
                _log(f"serve: {gone[0]} exited with status {status}: stopping the rest")
                _stop(running)
        time.sleep(POLL_SEC)


def _stop(children: dict[str, subprocess.Popen], *, quick: bool = False, kill: bool = False) -> None:
    # gunicorn: SIGINT is its quick stop, SIGTERM its graceful one (SIGHUP would mean "reload").
    # huey: SIGINT is its graceful stop, letting a running analysis finish (SIGTERM would drop it).
    # A camera owner: SIGTERM stops its preview cleanly and releases the camera.
    signals = {"web": signal.SIGINT if quick else signal.SIGTERM, "worker": signal.SIGINT}
    for name, proc in children.items():
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL if kill else signals.get(name, signal.SIGTERM))


if __name__ == "__main__":
    sys.exit(main())
