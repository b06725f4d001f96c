"""Running management commands in the test process exactly as `python manage.py ...` runs them."""

from __future__ import annotations

from django.core.management import load_command_class


def run_manage(capsys, *args: str) -> tuple[int, str, str]:
    """`manage.py <args>` through run_from_argv (real exit codes and argument errors); (code, stdout, stderr)."""
    command = load_command_class("capture", args[0])
    try:
        command.run_from_argv(["manage.py", *args])
        code = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err
