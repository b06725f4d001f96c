"""The host this process speaks for (CAMSITE_HOST). Its own module, free of models, so that every model module
(capture.models, capture.schedules.models) can default a row's `host` to it without importing another."""

from __future__ import annotations

from django.conf import settings


def this_host() -> str:
    """The host this process speaks for (CAMSITE_HOST): the default `host` of every row it makes.

    Rows carry their host so that several Pis and a central server can share one database. A model that a Pi
    acts on by itself (a Schedule, a TimelapseJob) records its host the same way, and each Pi runs only its own."""
    return settings.CAMSITE_HOST
