"""The job worker on demand (capture.lib.worker_gate): it exits when idle, and enqueueing wakes it.

In the worker (`manage.py run_huey` started by a gate, which sets CAMSITE_WORKER_IDLE_EXIT_SEC): a thread
checks every few seconds whether anything is left to do; after WORKER_IDLE_EXIT_SEC with nothing, it writes
when its next due work is (a schedule's next frame) for the gate and stops the consumer the graceful way.

In every process: each task enqueued, and each schedule saved, writes the wake file, which the gate watches.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections
from django.db.models.signals import post_save
from django.utils import timezone
from huey import signals as huey_signals
from huey.api import PeriodicTask

from capture.lib.worker_gate import ENV_IDLE_EXIT, ENV_WAKE_REASON, GateConfig

log = logging.getLogger(__name__)

CHECK_SEC = 2.0
# A schedule's frame is queued by the tick up to a minute ahead; the worker starts this much before it.
START_AHEAD_SEC = 90


def wake(**_ignored) -> None:
    """Tell the gate there is work: rewrite the wake file (its mtime is what the gate compares)."""
    if not settings.WORKER_IDLE_EXIT_SEC or os.environ.get(ENV_IDLE_EXIT):
        return  # no gate, or this is the worker itself: what it queues, it runs before it goes idle
    try:
        settings.WORKER_WAKE_PATH.write_text(f"{time.time()}\n")
    except OSError as exc:  # the hourly wake and the next start still find the work
        log.warning("could not wake the worker (%s): %s", settings.WORKER_WAKE_PATH, exc)


def connect_wake(huey) -> None:
    """Called once from the app's ready(): every enqueue and schedule change wakes a sleeping worker."""
    from capture.schedules.models import Schedule

    huey.signal(huey_signals.SIGNAL_ENQUEUED)(lambda signal, task, *args: wake())
    post_save.connect(wake, sender=Schedule, dispatch_uid="capture.worker_idle.wake")


class IdleWatch:
    """Counts the tasks running in this worker (huey's signals) and decides when it has been idle long enough."""

    def __init__(self, huey, idle_exit_sec: float) -> None:
        self.huey = huey
        self.idle_exit_sec = idle_exit_sec
        self.running = 0
        self._lock = threading.Lock()

    def connect(self) -> None:
        self.huey.signal(huey_signals.SIGNAL_EXECUTING)(self._task_started)
        ends = (huey_signals.SIGNAL_COMPLETE, huey_signals.SIGNAL_ERROR, huey_signals.SIGNAL_RETRYING,
                huey_signals.SIGNAL_CANCELED, huey_signals.SIGNAL_INTERRUPTED, huey_signals.SIGNAL_LOCKED,
                huey_signals.SIGNAL_REVOKED, huey_signals.SIGNAL_EXPIRED)  # fmt: skip
        self.huey.signal(*ends)(self._task_ended)

    def _task_started(self, signal, task, *args) -> None:
        with self._lock:
            self.running += 1

    def _task_ended(self, signal, task, *args) -> None:
        with self._lock:
            self.running = max(0, self.running - 1)

    def busy(self, now: datetime) -> str | None:
        """What keeps the worker up now, or None."""
        if self.running:
            return "a task is running"
        if self.huey.scheduled_count():
            return "tasks are scheduled"
        # The minute's periodic sweeps waiting their turn (up to a second) are not work: they would keep the
        # worker up for ever. Running, they count (a long reconcile must not be cut short).
        if self.huey.pending_count() and not all(isinstance(task, PeriodicTask) for task in self.huey.pending()):
            return "tasks are queued"
        if settings.MQTT_URL:
            return "MQTT_URL is set (it keeps the broker connection)"
        due = next_due(now)
        if due is not None and due <= now + timedelta(seconds=self.idle_exit_sec + START_AHEAD_SEC):
            return "a schedule runs soon"
        return None

    def run(self) -> None:
        idle_since: float | None = None
        last_reason = None
        while True:
            time.sleep(CHECK_SEC)
            try:
                reason = self.busy(timezone.now())
            except Exception:
                log.exception("worker: could not tell whether it is idle; staying up")
                reason = "unknown"
            finally:
                close_old_connections()
            if reason:
                if idle_since is not None or reason != last_reason:
                    log.debug("worker: staying up: %s", reason)
                idle_since, last_reason = None, reason
                continue
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= self.idle_exit_sec:
                self.exit_idle()
                return

    def exit_idle(self) -> None:
        try:
            write_next_wake()
        finally:
            close_old_connections()  # this thread's own connection
        log.info("worker: idle for %ss, exiting until there is work", self.idle_exit_sec)
        os.kill(os.getpid(), signal.SIGINT)  # the consumer's own graceful stop


def write_next_wake() -> None:
    """Tell the gate when to start the worker again: ahead of the next schedule's frame (none: no file)."""
    due = next_due(timezone.now())
    if due is None:
        settings.WORKER_NEXT_PATH.unlink(missing_ok=True)
    else:
        settings.WORKER_NEXT_PATH.write_text(f"{due.timestamp() - START_AHEAD_SEC}\n")


def next_due(now: datetime) -> datetime | None:
    """The next frame of this host's enabled schedules (their next_run_at), or None."""
    from capture.hosts import this_host
    from capture.schedules.models import Schedule

    return (
        Schedule.objects.filter(host=this_host(), enabled=True, next_run_at__isnull=False)
        .order_by("next_run_at")
        .values_list("next_run_at", flat=True)
        .first()
    )


_started = threading.Event()


def start_in_worker(huey) -> None:
    """From the worker's start-up hook (which huey runs in each of its worker threads: only the first one
    counts): under a gate, watch for idleness; after a timer wake, housekeep."""
    if _started.is_set():
        return
    _started.set()
    idle_exit_sec = float(os.environ.get(ENV_IDLE_EXIT) or 0)
    if idle_exit_sec <= 0:
        return  # a resident worker (WORKER_IDLE_EXIT_SEC=0, or run_huey started by hand)
    if os.environ.get(ENV_WAKE_REASON) == "timer":
        from capture.retention.tasks import reconcile_uploads, retention_sweep

        retention_sweep()  # the periodic jobs' slots passed while it slept
        reconcile_uploads()
    watch = IdleWatch(huey, idle_exit_sec)
    watch.connect()
    threading.Thread(target=watch.run, name="idle-watch", daemon=True).start()


def gate_config() -> GateConfig | None:
    """For `manage.py serve` and `manage.py worker`: the gate's settings, or None for a resident worker."""
    if not settings.WORKER_IDLE_EXIT_SEC:
        return None
    return GateConfig(
        command=[sys.executable, str(settings.BASE_DIR / "manage.py"), "run_huey"],
        wake_path=str(settings.WORKER_WAKE_PATH),
        next_path=str(settings.WORKER_NEXT_PATH),
        idle_exit_sec=settings.WORKER_IDLE_EXIT_SEC,
    )
