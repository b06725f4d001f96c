"""`manage.py serve`: gunicorn and the analysis worker together, the way `make run` starts them.

The work is done by capture/lib/supervisor.py, which this command execs: the long-lived watcher then
holds no Django in memory (about 45 MB less on a Pi).
"""

from __future__ import annotations

import os
import sys

from django.conf import settings
from django.core.management.base import BaseCommand

from capture.lib import supervisor


class Command(BaseCommand):
    help = "Run gunicorn (deploy/gunicorn.conf.py) and the analysis worker (run_huey) until stopped."
    requires_system_checks = []  # each child runs Django's checks itself

    def handle(self, *args, **options) -> None:
        if "*" in settings.ALLOWED_HOSTS:
            self.stderr.write(
                "serve: DJANGO_ALLOWED_HOSTS is * (any Host header): fine for development, open to DNS rebinding "
                "on a network; deploy/install.sh sets the Pi's own names"
            )
        sys.stderr.flush()
        os.execv(sys.executable, [sys.executable, supervisor.__file__])  # noqa: S606 - replaces this process
