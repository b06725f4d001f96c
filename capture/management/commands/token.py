"""`manage.py token create|list|revoke`: API tokens for the command line and scripts.

`create` prints the secret alone on stdout (`TOKEN=$(camsite-manage token create ...)`); it is shown this once,
only its hash is stored. Errors (an unknown scope, a label taken or unknown) exit with 2 (argument errors) or 1.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError, transaction

from capture.models import ApiToken


class Command(BaseCommand):
    help = "Create, list or revoke API tokens (scopes: " + ", ".join(ApiToken.Scope.values) + ")."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="create|list|revoke")
        create = actions.add_parser("create", help="make a token and print its secret (shown only this once)")
        create.add_argument(
            "--scope", action="append", required=True, choices=ApiToken.Scope.values, help="repeat for several"
        )
        create.add_argument("--label", required=True, help="a unique name, e.g. home-assistant")
        actions.add_parser("list", help="every token: label, prefix, scopes, dates (never the secret)")
        revoke = actions.add_parser("revoke", help="refuse this token from now on")
        revoke.add_argument("--label", required=True)

    def handle(self, *args, **options) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _create(self, options: dict) -> None:
        label = options["label"].strip()
        if not label:
            raise CommandError("--label must not be empty", returncode=2)
        try:
            with transaction.atomic():
                _, secret = ApiToken.objects.create_with_secret(label, options["scope"])
        except IntegrityError:
            raise CommandError(f"a token labelled {label!r} exists already", returncode=1) from None
        self.stdout.write(secret)

    def _list(self, options: dict) -> None:
        rows = [("label", "prefix", "scopes", "created", "last used", "revoked")]
        for token in ApiToken.objects.all():
            rows.append(
                (
                    token.label,
                    token.prefix,
                    ",".join(token.scopes),
                    _when(token.created_at),
                    _when(token.last_used_at),
                    _when(token.revoked_at),
                )
            )
        widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
        for row in rows:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())

    def _revoke(self, options: dict) -> None:
        token = ApiToken.objects.filter(label=options["label"]).first()
        if token is None:
            raise CommandError(f"no token labelled {options['label']!r}", returncode=1)
        if token.revoked_at is not None:
            self.stderr.write(f"{token.label} was already revoked")
            return
        token.revoke()
        self.stderr.write(f"revoked {token.label}")


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "-"
