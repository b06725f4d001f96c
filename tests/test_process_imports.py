"""What a Django process of the server loads: nothing it can't use (issue 15's memory budget)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

LOADED = """
import json, sys
import django
django.setup()
from huey.contrib.djhuey import HUEY
print(json.dumps({"redis": sys.modules.get("redis") is not None, "queue": type(HUEY).__name__}))
"""


def loaded(tmp_path, **env: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", LOADED],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "camsite.settings",
            "DJANGO_SECRET_KEY": "test-secret",
            "DATABASE_PATH": str(tmp_path / "db.sqlite3"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize(
    ("backend", "expected"),
    [
        ("sqlite", {"redis": False, "queue": "SqliteHuey"}),  # redis-py (~6 MB a process) never loaded
        ("redis", {"redis": True, "queue": "RedisHuey"}),
    ],
)
def test_redis_py_is_loaded_only_for_the_redis_queue(tmp_path, backend, expected):
    assert loaded(tmp_path, HUEY_BACKEND=backend) == expected
