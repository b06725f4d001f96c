"""`manage.py worker`: the job worker as the camsite-worker unit runs it.

With WORKER_IDLE_EXIT_SEC (the default with the SQLite queue) this execs the gate (capture.lib.worker_gate),
which starts `manage.py run_huey` only when there is work; with 0 it execs `run_huey` itself. Either way
this Django process is gone once the exec is done.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict

from django.conf import settings
from django.core.management.base import BaseCommand

from capture import worker_idle
from capture.lib import worker_gate


class Command(BaseCommand):
    help = "Run the job worker (run_huey), started only when there is work unless WORKER_IDLE_EXIT_SEC=0."
    requires_system_checks = []  # run_huey runs them

    def handle(self, *args, **options) -> None:
        config = worker_idle.gate_config()
        os.chdir(settings.BASE_DIR)
        sys.stdout.flush()
        sys.stderr.flush()
        if config is None:
            argv = [sys.executable, str(settings.BASE_DIR / "manage.py"), "run_huey"]
        else:
            argv = [sys.executable, worker_gate.__file__, json.dumps(asdict(config))]
        os.execv(sys.executable, argv)  # noqa: S606 - replaces this process
