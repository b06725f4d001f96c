"""WSGI entry point for gunicorn (see deploy/gunicorn.conf.py)."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "camsite.settings")

from camsite import lean_imports  # noqa: E402

lean_imports.setup(load_urls=True)  # the views are imported as the worker boots, not at the first request

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()

# Look for cameras as the server starts, in the background, so the first status call already knows.
from capture.camera.registry import warm_detection  # noqa: E402

warm_detection()
