"""Running management commands in the test process exactly as `python manage.py ...` runs them."""

from __future__ import annotations

from unittest import mock

from django.core.management import load_command_class


def run_manage(capsys, *args: str) -> tuple[int, str, str]:
    """`manage.py <args>` through run_from_argv (real exit codes and argument errors); (code, stdout, stderr).

    run_from_argv ends by closing every database connection, as a process about to exit may. Here that would
    be the test's own connection, inside its transaction: SQLite's in-memory test database ignores the close,
    PostgreSQL's would be gone for the rest of the test. So the close is skipped."""
    command = load_command_class("capture", args[0])
    try:
        with mock.patch("django.core.management.base.connections.close_all"):
            command.run_from_argv(["manage.py", *args])
        code = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err
