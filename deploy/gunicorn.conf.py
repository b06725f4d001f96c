"""gunicorn settings for the camera server (used by `make run`, the tests, the benchmark and systemd).

gthread workers: a capture request spends seconds waiting on the camera process, so threads (cheap on a
Pi's memory) keep status and history answering while one request holds the camera.
"""

import os

# The app's own settings (read once, with their checks) give the port and the capture limits.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "camsite.settings")
from django.conf import settings  # noqa: E402

from camsite.env import env_int, env_str  # noqa: E402
from capture.camera.budget import longest_capture_sec  # noqa: E402

bind = env_str("GUNICORN_BIND", f"0.0.0.0:{settings.PORT}")
worker_class = "gthread"
# One worker with 8 threads on any machine. A capture holds a thread while it waits on the camera, a live view
# is handed to the camera owner, and files go out with sendfile: threads serve a camera server's clients,
# while each worker process more is another whole Django (about 50 MB, a tenth of a Pi Zero 2 W). More workers
# (WEB_CONCURRENCY) only help CPU-bound load, such as a fleet's central server with many admin users.
workers = env_int("WEB_CONCURRENCY", 1, minimum=1)
threads = env_int("GUNICORN_THREADS", 8, minimum=1)

# Longer than the longest capture allowed (capture.camera.budget), so gunicorn never kills a worker in the
# middle of a legitimate capture.
timeout = int(longest_capture_sec()) + 1
graceful_timeout = timeout
keepalive = 5

# Our RequestLogMiddleware logs every request (method, path, status, ms), so no separate access log.
accesslog = None
errorlog = "-"
loglevel = settings.LOG_LEVEL.lower()
capture_output = True

# A per-instance control socket path would be needed to run several servers as one user; we don't use it.
control_socket_disable = True

# The app lives one directory up from this file.
chdir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
wsgi_app = "camsite.wsgi:application"
