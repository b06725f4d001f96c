"""Small lookups and writes on the hot paths (status, each capture, each request's auth check), compiled to
SQL once.

Django compiles a queryset to SQL at every evaluation. For the indexed one-row lookups that status and every
capture make, compiling costs 20–50 times the query itself (0.3–0.8 ms against 0.02 ms on SQLite here), and
with one web worker that CPU is the server's throughput. The queryset stays the declaration; `first_row`
keeps its SQL, parameters and Django's value converters (per thread, as Django's connections are), so the
values come back exactly as the ORM would give them. A capture's two writes, its `running` row and its outcome,
are compiled the same way (insert_row, save_columns).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model, QuerySet

_compiled = threading.local()


def _thread_cache(kind: str) -> dict:
    """This thread's compiled statements of one kind (Django's connections are per thread too)."""
    cache = getattr(_compiled, kind, None)
    if cache is None:
        cache = {}
        setattr(_compiled, kind, cache)
    return cache


def first_row(key: Hashable, build: Callable[[], QuerySet]) -> tuple | None:
    """The first row of `build()`, a `values_list()` queryset, or None. `key` names the query and every value
    it depends on (the host, the camera): `build` runs once per key and thread. The project has one database."""
    cache = _thread_cache("queries")
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


def save_columns(instance: Model, names: Sequence[str]) -> bool:
    """`instance.save(update_fields=names)` for a row on a hot path, with its UPDATE compiled once per model and
    set of columns (Django builds a queryset and compiles the statement at every save: 3–4 times the cost of
    running it). Values go through each field's get_db_prep_save(), as the ORM does. No pre_save/post_save
    signal is sent: nothing in the project listens to the models saved here. False if the row is gone."""
    if not names:
        return True
    model = type(instance)
    connection = connections[DEFAULT_DB_ALIAS]
    cache = _thread_cache("updates")
    key = (model, tuple(names))
    entry = cache.get(key)
    if entry is None:
        fields = [model._meta.get_field(name) for name in names]
        quote = connection.ops.quote_name
        assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
        # Only quoted names from the model go into the text; every value is a parameter.
        sql = f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {quote(model._meta.pk.column)} = %s"  # noqa: S608
        entry = cache[key] = (sql, fields)
    sql, fields = entry
    params = [field.get_db_prep_save(getattr(instance, field.attname), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, instance.pk])
        return cursor.rowcount > 0


def insert_row(instance: Model) -> None:
    """`instance.save()` for a new row on a hot path, with its INSERT compiled once per model: each field's
    pre_save() and get_db_prep_save() as the ORM runs them, the new primary key set on the instance. No signal
    is sent, as in save_columns()."""
    model = type(instance)
    connection = connections[DEFAULT_DB_ALIAS]
    cache = _thread_cache("inserts")
    entry = cache.get(model)
    if entry is None:
        meta = model._meta
        fields = [field for field in meta.concrete_fields if field is not meta.auto_field]
        quote = connection.ops.quote_name
        columns = ", ".join(quote(field.column) for field in fields)
        sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"  # noqa: S608
        returning = connection.features.can_return_columns_from_insert and meta.auto_field is not None
        if returning:
            sql += " " + connection.ops.return_insert_columns([meta.auto_field])[0]
        entry = cache[model] = (sql, fields, returning)
    sql, fields, returning = entry
    params = [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if returning:
            instance.pk = cursor.fetchone()[0]
        elif model._meta.auto_field is not None:
            instance.pk = connection.ops.last_insert_id(cursor, model._meta.db_table, model._meta.pk.column)
    instance._state.adding = False
    instance._state.db = DEFAULT_DB_ALIAS
