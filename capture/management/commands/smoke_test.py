"""`manage.py smoke_test`: the smoke test (capture/management/smoke.py) against a running server."""

from __future__ import annotations

import os

from django.core.management.base import BaseCommand, CommandError, CommandParser

from capture.management import smoke


class Command(BaseCommand):
    help = (
        "Check a running server over HTTP: status, a jpg and an mp4 capture, and a 409 for a capture fired "
        "during another. Env: SMOKE_URL or PORT, SMOKE_TOKEN or AUTH_TOKEN. Exits 1 if any step fails."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        smoke.add_arguments(parser, os.environ)

    def handle(self, *args, **options) -> None:
        if not smoke.run(smoke.SmokeClient(options["url"], options["token"]), self.stdout.write):
            raise CommandError("smoke test failed")
