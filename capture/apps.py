from __future__ import annotations

from django.apps import AppConfig


class CaptureConfig(AppConfig):
    name = "capture"
    verbose_name = "Captures"

    def ready(self) -> None:
        from django.conf import settings

        from capture import checks  # noqa: F401  (registers the system checks)

        # The Node server created the upload directory on boot; so do we.
        settings.MEDIA_ROOT.mkdir(parents=True, exist_ok=True)

        from huey.contrib.djhuey import HUEY

        from capture import worker_idle

        worker_idle.connect_wake(HUEY)
