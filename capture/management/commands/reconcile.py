"""`manage.py reconcile [--dry-run] [--orphans adopt|trash]`: make the upload directory and the rows agree.

Prints one line per change (or per change it would make, with --dry-run); capture.retention.reconcile says what
it does. Exit 0 either way: differences are what it is for.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from capture.retention.reconcile import reconcile


class Command(BaseCommand):
    help = "Adopt (or trash) files without a capture row, mark rows whose file is gone as missing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="only say what would change")
        parser.add_argument(
            "--orphans",
            choices=["adopt", "trash"],
            help="files without a row: adopt them as captures, or move them to the trash (default: RECONCILE_ORPHANS)",
        )

    def handle(self, *args, **options) -> None:
        report = reconcile(dry_run=options["dry_run"], orphans=options["orphans"])
        for line in report.lines():
            self.stdout.write(line)
