"""`manage.py serve`: gunicorn, the analysis worker and one camera owner per camera, the way `make run`
starts them.

The work is done by capture/lib/supervisor.py, which this command execs: the long-lived watcher then
holds no Django in memory (about 45 MB less on a Pi). The owners' configurations are computed here, with
Django, and passed down, so the supervisor can restart an owner at once without starting Django again.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict

from django.conf import settings
from django.core.management.base import BaseCommand

from capture import worker_idle
from capture.camera.preview import owner_config
from capture.camera.registry import all_cameras
from capture.errors import CaptureFailed
from capture.lib import supervisor


class Command(BaseCommand):
    help = (
        "Run gunicorn (deploy/gunicorn.conf.py), the analysis worker (run_huey) and a camera owner per camera "
        "(camera_owner) until stopped."
    )
    requires_system_checks = []  # each child runs Django's checks itself

    def handle(self, *args, **options) -> None:
        try:
            owners = [json.dumps(asdict(owner_config(camera))) for camera in all_cameras()]
        except CaptureFailed as exc:  # no camera app installed: captures will say so too
            self.stderr.write(f"serve: no camera owner (no live preview): {exc.detail}")
            owners = []
        if "*" in settings.ALLOWED_HOSTS:
            self.stderr.write(
                "serve: DJANGO_ALLOWED_HOSTS is * (any Host header): fine for development, open to DNS rebinding "
                "on a network; deploy/install.sh sets the Pi's own names"
            )
        sys.stderr.flush()
        os.chdir(settings.BASE_DIR)  # the owners run as `python -m capture.lib.owner`
        env = {**os.environ, "OWNER_LOG_LEVEL": settings.LOG_LEVEL}
        gate = worker_idle.gate_config()
        argv = [sys.executable, "-m", supervisor.__name__, json.dumps(owners), json.dumps(asdict(gate)) if gate else ""]
        os.execve(sys.executable, argv, env)  # noqa: S606 - replaces this process
