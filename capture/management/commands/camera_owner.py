"""`manage.py camera_owner --camera N`: the camera's owner, which runs its live preview (capture.lib.owner).

It reads the settings here, then execs capture/lib/owner.py with them as JSON: the long-running process holds
no Django in memory. `manage.py serve` starts one per camera; an installed Pi runs camsite-owner@N.service.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from capture.camera.preview import owner_config
from capture.camera.registry import MAX_CAMERA_INDEX, get_camera
from capture.errors import CaptureFailed


class Command(BaseCommand):
    help = "Run the owner of one camera: its live MJPEG preview and snapshots, which captures pre-empt."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--camera", type=int, default=settings.CAMERA_INDEX, help=f"camera index (default {settings.CAMERA_INDEX})"
        )
        parser.add_argument("--print-config", action="store_true", help="print the owner's configuration and exit")

    def handle(self, *args, **options) -> None:
        index = options["camera"]
        if not 0 <= index <= MAX_CAMERA_INDEX:
            raise CommandError(f"--camera must be between 0 and {MAX_CAMERA_INDEX}")
        try:
            config = json.dumps(asdict(owner_config(get_camera(index))))
        except CaptureFailed as exc:  # no camera app installed
            raise CommandError(str(exc.detail)) from exc
        if options["print_config"]:
            self.stdout.write(config)
            return
        sys.stdout.flush()
        sys.stderr.flush()
        # `-m` from the project directory, so the owner imports capture.lib without Django.
        os.chdir(settings.BASE_DIR)
        env = {**os.environ, "OWNER_LOG_LEVEL": settings.LOG_LEVEL}
        os.execve(sys.executable, [sys.executable, "-m", "capture.lib.owner", config], env)  # noqa: S606
