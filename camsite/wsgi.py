"""WSGI entry point for gunicorn (see deploy/gunicorn.conf.py)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "camsite.settings")

application = get_wsgi_application()

# Look for cameras as the server starts, in the background, so the first status call already knows.
from capture.camera.registry import warm_detection  # noqa: E402

warm_detection()
