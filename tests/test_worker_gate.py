"""The job worker on demand: the gate's timing, the worker's idleness, and enqueueing that wakes it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import timedelta

import pytest
from django.utils import timezone
from huey import MemoryHuey, crontab

from capture import worker_idle
from capture.lib.worker_gate import ENV_IDLE_EXIT, ENV_WAKE_REASON, HOUSEKEEPING_SEC, GateConfig, WorkerGate
from capture.schedules.models import Schedule
from tests.conftest import ROOT


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def gate_at(tmp_path, now: float) -> tuple[WorkerGate, Clock]:
    clock = Clock(now)
    config = GateConfig(["true"], str(tmp_path / "worker.wake"), str(tmp_path / "worker.next"), 5)
    return WorkerGate(config, clock=clock), clock


def test_the_gate_starts_the_worker_at_once_then_only_for_work_or_its_time(tmp_path):
    now = time.time()
    gate, clock = gate_at(tmp_path, now)
    assert gate.due() == "timer"  # the first start: start-up sweeps and lost work
    gate.started()
    gate.exited()
    assert gate.due() is None
    clock.now += HOUSEKEEPING_SEC - 1
    assert gate.due() is None
    clock.now += 1
    assert gate.due() == "timer"  # hourly housekeeping

    gate.started()
    gate.exited()
    (tmp_path / "worker.wake").write_text("x")  # something queued after it started
    os.utime(tmp_path / "worker.wake", (clock.now + 1, clock.now + 1))
    assert gate.due() == "work"
    clock.now += 2
    gate.started()
    assert gate.due() is None  # that wake was before this start: it saw the work


def test_the_gate_wakes_the_worker_when_it_asked(tmp_path):
    now = time.time()
    gate, clock = gate_at(tmp_path, now)
    gate.started()
    (tmp_path / "worker.next").write_text(f"{now + 600}\n")
    gate.exited()
    clock.now += 599
    assert gate.due() is None
    clock.now += 1
    assert gate.due() == "timer"

    (tmp_path / "worker.next").write_text(f"{clock.now - 30}\n")  # a frame already due
    gate.started()
    gate.exited()
    assert gate.due() == "timer"
    (tmp_path / "worker.next").write_text(f"{clock.now + 10 * HOUSEKEEPING_SEC}\n")
    gate.started()
    gate.exited()
    clock.now += HOUSEKEEPING_SEC
    assert gate.due() == "timer"  # never longer than the housekeeping hour


def test_a_gate_started_worker_knows_its_idle_time_and_why(tmp_path):
    gate, _ = gate_at(tmp_path, time.time())
    env = gate.env("work")
    assert (env[ENV_IDLE_EXIT], env[ENV_WAKE_REASON]) == ("5", "work")


def run_gate(tmp_path, worker_code: str) -> tuple[subprocess.Popen, GateConfig]:
    config = GateConfig(
        command=[sys.executable, "-c", worker_code],
        wake_path=str(tmp_path / "worker.wake"),
        next_path=str(tmp_path / "worker.next"),
        idle_exit_sec=1,
    )
    gate = subprocess.Popen(
        [sys.executable, "-m", "capture.lib.worker_gate", json.dumps(asdict(config))],
        cwd=ROOT,
        env={**os.environ, "RUNS": str(tmp_path / "runs")},
    )
    return gate, config


def wait_for(condition, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_standalone_gate_starts_a_worker_per_wake_and_stops_on_sigterm(tmp_path):
    # The "worker" notes each start (with its reason and idle time), then exits idle at once.
    code = (
        "import os; open(os.environ['RUNS'], 'a').write("
        f"os.environ['{ENV_WAKE_REASON}'] + ' ' + os.environ['{ENV_IDLE_EXIT}'] + '\\n')"
    )
    gate, config = run_gate(tmp_path, code)
    runs = tmp_path / "runs"
    try:
        wait_for(lambda: runs.exists() and runs.read_text() == "timer 1\n")
        time.sleep(0.6)  # more polls of the gate: nothing more without work
        assert runs.read_text() == "timer 1\n"
        (tmp_path / "worker.wake").write_text("now")
        wait_for(lambda: runs.read_text() == "timer 1\nwork 1\n")
        gate.send_signal(signal.SIGTERM)
        assert gate.wait(timeout=20) == 0
    finally:
        if gate.poll() is None:
            gate.kill()
            gate.wait()


def test_the_standalone_gate_exits_with_a_crashed_workers_status(tmp_path):
    gate, _ = run_gate(tmp_path, "raise SystemExit(3)")
    try:
        assert gate.wait(timeout=20) == 3  # systemd's Restart=on-failure takes it from there
    finally:
        if gate.poll() is None:
            gate.kill()
            gate.wait()


def test_the_standalone_gate_passes_sigint_to_a_running_worker_and_waits_for_it(tmp_path):
    code = (
        "import os, signal, sys, time\n"
        "signal.signal(signal.SIGINT, lambda *a: sys.exit(0))\n"
        "open(os.environ['RUNS'], 'w').write('up')\n"
        "time.sleep(60)\n"
    )
    gate, _ = run_gate(tmp_path, code)
    try:
        wait_for(lambda: (tmp_path / "runs").exists())
        gate.send_signal(signal.SIGINT)  # the camsite-worker unit's KillSignal
        assert gate.wait(timeout=20) == 0
    finally:
        if gate.poll() is None:
            gate.kill()
            gate.wait()


@pytest.fixture
def gated(settings, tmp_path):
    settings.WORKER_IDLE_EXIT_SEC = 60
    settings.WORKER_WAKE_PATH = tmp_path / "worker.wake"
    settings.WORKER_NEXT_PATH = tmp_path / "worker.next"
    return settings


def test_enqueueing_and_saving_a_schedule_wake_the_worker(gated, db, monkeypatch):
    from capture.analysis.tasks import HUEY, recover_jobs

    monkeypatch.delenv(ENV_IDLE_EXIT, raising=False)
    recover_jobs()  # any task: enqueueing is what wakes
    assert gated.WORKER_WAKE_PATH.exists()
    gated.WORKER_WAKE_PATH.unlink()
    Schedule.objects.create(format="jpg", width=640, height=480, fps=30, duration_sec=1, every_sec=3600)
    assert gated.WORKER_WAKE_PATH.exists()
    gated.WORKER_WAKE_PATH.unlink()
    HUEY.flush()

    monkeypatch.setenv(ENV_IDLE_EXIT, "60")  # the worker itself: it runs what it queues before going idle
    recover_jobs()
    assert not gated.WORKER_WAKE_PATH.exists()
    HUEY.flush()


def test_no_wake_file_without_a_gate(settings, tmp_path, db):
    from capture.analysis.tasks import HUEY, recover_jobs

    settings.WORKER_IDLE_EXIT_SEC = 0
    settings.WORKER_WAKE_PATH = tmp_path / "worker.wake"
    recover_jobs()
    HUEY.flush()
    assert not settings.WORKER_WAKE_PATH.exists()


def test_the_worker_is_busy_while_anything_is_queued_running_or_due_soon(gated, db):
    huey = MemoryHuey("idle-test")
    task = huey.task(name="job")(lambda: None)
    seen_while_sweeping = []
    sweep = huey.periodic_task(crontab(), name="sweep")(lambda: seen_while_sweeping.append(watch.busy(now)))
    watch = worker_idle.IdleWatch(huey, idle_exit_sec=60)
    watch.connect()
    now = timezone.now()
    assert watch.busy(now) is None

    sweep()  # the minute's sweeps waiting their turn are not work: they would keep the worker up for ever
    assert watch.busy(now) is None
    huey.execute(huey.dequeue())
    assert seen_while_sweeping == ["a task is running"]  # running, it counts: a long reconcile is not cut short
    assert watch.running == 0
    task.schedule(delay=600)  # a retry's or a frame's later run: queued, then kept in huey's schedule
    assert watch.busy(now) == "tasks are queued"
    huey.add_schedule(huey.dequeue())
    assert watch.busy(now) == "tasks are scheduled"
    huey.flush()

    task()
    assert watch.busy(now) == "tasks are queued"
    huey.execute(huey.dequeue())  # runs it, emitting executing and complete
    assert watch.busy(now) is None and watch.running == 0
    watch._task_started("executing", None)
    assert watch.busy(now) == "a task is running"
    watch._task_ended("complete", None)

    schedule = Schedule.objects.create(format="jpg", width=640, height=480, fps=30, duration_sec=1, every_sec=3600)
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=now + timedelta(seconds=120))
    assert watch.busy(now) == "a schedule runs soon"
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=now + timedelta(hours=2))
    assert watch.busy(now) is None
    Schedule.objects.filter(pk=schedule.pk).update(enabled=False, next_run_at=now + timedelta(seconds=10))
    assert watch.busy(now) is None

    gated.MQTT_URL = "mqtt://127.0.0.1:1883"
    assert watch.busy(now).startswith("MQTT_URL is set")


def test_a_worker_going_idle_asks_to_be_back_before_the_next_frame(gated, db):
    later = timezone.now() + timedelta(hours=3)
    schedule = Schedule.objects.create(format="jpg", width=640, height=480, fps=30, duration_sec=1, every_sec=3600)
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=later)
    assert worker_idle.next_due(timezone.now()) == later
    worker_idle.write_next_wake()
    asked = float(gated.WORKER_NEXT_PATH.read_text())
    assert asked == pytest.approx(later.timestamp() - worker_idle.START_AHEAD_SEC)
    Schedule.objects.filter(pk=schedule.pk).update(enabled=False)
    worker_idle.write_next_wake()
    assert not gated.WORKER_NEXT_PATH.exists()  # nothing due: the gate's hourly wake
    assert worker_idle.gate_config().idle_exit_sec == 60
    assert worker_idle.gate_config().command[-1] == "run_huey"

    gated.WORKER_IDLE_EXIT_SEC = 0
    assert worker_idle.gate_config() is None
