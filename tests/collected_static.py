"""Static files collected the way `make run` collects them, for a real gunicorn in tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def collect_static(static_root: Path, env: dict[str, str]) -> dict[str, str]:
    """Run `manage.py collectstatic` with the real settings (hashed, compressed names) into `static_root`;
    return the environment entry that points a server at it."""
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env={**env, "STATIC_ROOT": str(static_root)},
        check=True,
        timeout=120,
    )
    return {"STATIC_ROOT": str(static_root)}


def with_collected_static(server) -> None:
    """A `before_start` for the gunicorn fixtures: collect static files into the server's own directory."""
    server.env.update(collect_static(server.tmp / "static", server.env))
