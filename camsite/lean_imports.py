"""Start Django without the optional modules our libraries import just because they are installed.

Some libraries import every optional dependency they find, at import time, whether it is used or not: huey's
storage imports psycopg (for its PostgreSQL queue), DRF's compat imports requests (for its test client) and
Pygments, and Django's test utilities import Jinja2 (drf-spectacular loads them). In a server
process that is about 15 MB of a Pi Zero's memory for nothing (issue 15). `setup()` starts Django with those
modules marked absent, then lets go, so our own code still imports them where it uses them (capture.lib.http
imports requests when it sends something; the PostgreSQL backend imports psycopg when DATABASE_URL says so).

Used by the server's entry points only (camsite/wsgi.py, manage.py); the tests' Django loads everything.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

OPTIONAL = ("requests", "pygments", "jinja2")


@contextmanager
def held_back(names: tuple[str, ...]) -> Iterator[None]:
    """Inside, importing one of `names` (not imported yet) raises ImportError, as if it were not installed."""
    blocked = [name for name in names if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment] - the import system's "not available" mark
    try:
        yield
    finally:
        for name in blocked:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


def setup(*, load_urls: bool = False) -> None:
    """django.setup() (and the URLconf with `load_urls`) with the optional modules held back."""
    import django
    from django.conf import settings

    try:
        engine = settings.DATABASES["default"]["ENGINE"]
    except Exception:  # a bad setting: Django's own start reports it, the way it reports such errors
        return
    names = OPTIONAL
    if "postgresql" not in engine:
        names += ("psycopg",)
    with held_back(names):
        django.setup()
        if load_urls:
            from django.urls import get_resolver

            get_resolver().url_patterns  # noqa: B018 - imports every view module now
