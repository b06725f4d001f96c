"""What the management commands share about talking to a terminal."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from rest_framework.renderers import JSONRenderer


def api_json(data: dict) -> str:
    """`data` exactly as the API sends it (DRF's JSONRenderer: compact, ISO dates), as text."""
    return JSONRenderer().render(data).decode()


@contextmanager
def server_logs_only_when_verbose(verbosity: int) -> Iterator[None]:
    """The service logs every command it runs, which suits a server's journal. In a shell the command's own
    output says it all, so those lines show with -v 2 or more; warnings and errors always show."""
    logger = logging.getLogger("capture")
    level = logger.level
    if verbosity < 2:
        logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)
