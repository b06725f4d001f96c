"""The web server's size (deploy/gunicorn.conf.py): one worker with 8 threads unless told otherwise."""

from __future__ import annotations

import runpy
from pathlib import Path

CONF = Path(__file__).resolve().parent.parent / "deploy" / "gunicorn.conf.py"


def test_one_worker_with_threads_by_default_and_the_environment_wins(monkeypatch):
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    monkeypatch.delenv("GUNICORN_THREADS", raising=False)
    conf = runpy.run_path(str(CONF))
    assert (conf["workers"], conf["threads"], conf["worker_class"]) == (1, 8, "gthread")

    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.setenv("GUNICORN_THREADS", "2")
    conf = runpy.run_path(str(CONF))
    assert (conf["workers"], conf["threads"]) == (3, 2)
