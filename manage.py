#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "camsite.settings")
    from django.core.management import execute_from_command_line

    from camsite import lean_imports

    lean_imports.setup()  # execute_from_command_line's own setup then finds Django ready

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
