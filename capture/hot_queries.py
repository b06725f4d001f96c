"""Small lookups on the hot paths (status, each capture, each request's auth check), compiled to SQL once.

Django compiles a queryset to SQL at every evaluation. For the indexed one-row lookups that status and every
capture make, compiling costs 20–50 times the query itself (0.3–0.8 ms against 0.02 ms on SQLite here), and
with one web worker that CPU is the server's throughput. The queryset stays the declaration; `first_row`
keeps its SQL, parameters and Django's value converters (per thread, as Django's connections are), so the
values come back exactly as the ORM would give them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import QuerySet

_compiled = threading.local()


def first_row(key: Hashable, build: Callable[[], QuerySet]) -> tuple | None:
    """The first row of `build()`, a `values_list()` queryset, or None. `key` names the query and every value
    it depends on (the host, the camera): `build` runs once per key and thread. The project has one database."""
    cache = getattr(_compiled, "queries", None)
    if cache is None:
        cache = _compiled.queries = {}
    entry = cache.get(key)
    if entry is None:
        compiler = build()[:1].query.get_compiler(using=DEFAULT_DB_ALIAS)
        sql, params = compiler.as_sql()
        selected = [column for column, _, _ in compiler.select[: compiler.col_count]]
        entry = cache[key] = (sql, params, compiler, compiler.get_converters(selected))
    sql, params, compiler, converters = entry
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    return tuple(next(compiler.apply_converters([row], converters))) if converters else tuple(row)
