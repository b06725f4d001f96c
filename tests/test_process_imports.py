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


def run_in_new_process(code: str, tmp_path, **env: str) -> dict:
    """Run `code` in a fresh Python with the server's settings; the JSON it prints last."""
    result = subprocess.run(
        [sys.executable, "-c", code],
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
    assert run_in_new_process(LOADED, tmp_path, HUEY_BACKEND=backend) == expected


SERVER_PROCESS = """
import json, sys
from camsite import lean_imports
lean_imports.setup(load_urls=True)  # what wsgi.py does for each gunicorn worker (manage.py: without the URLs)
held = {name: sys.modules.get(name) is not None for name in ("requests", "psycopg", "jinja2", "pygments")}
from capture.lib import http
try:
    http.post_json("http://127.0.0.1:9/", {}, timeout=0.5)  # port 9 (discard): refused at once
except http.TransportError as exc:
    sent = str(exc)
print(json.dumps({"held": held, "later": "requests" in sys.modules, "sent": sent}))
"""


@pytest.mark.parametrize(
    ("database_url", "psycopg"),
    [("", False), ("postgresql://camsite@127.0.0.1:9/camsite", True)],  # never connected to here
)
def test_server_processes_start_without_the_optional_modules_and_load_them_when_used(tmp_path, database_url, psycopg):
    answer = run_in_new_process(SERVER_PROCESS, tmp_path, DATABASE_URL=database_url)
    assert answer["held"] == {"requests": False, "psycopg": psycopg, "jinja2": False, "pygments": False}
    assert answer["later"] is True  # requests, loaded where the server sends something
    assert answer["sent"].startswith("could not reach http://127.0.0.1:9/")
