"""gunicorn settings for the camera server (used by `make run`, the tests, the benchmark and systemd).

gthread workers: a capture request spends seconds waiting on the camera process, so threads (cheap on a
Pi's memory) keep status and history answering while one request holds the camera.
"""

import os

from camsite.env import env_float, env_int, env_str

_port = env_int("PORT", 3000, minimum=1, maximum=65535)
bind = env_str("GUNICORN_BIND", f"0.0.0.0:{_port}")
worker_class = "gthread"
workers = env_int("WEB_CONCURRENCY", 2, minimum=1)
threads = env_int("GUNICORN_THREADS", 4, minimum=1)

# Longer than the longest capture allowed (duration + camera margin + remux + stop grace), so gunicorn
# never kills a worker in the middle of a legitimate capture.
_longest_capture = env_float("CAPTURE_MAX_DURATION_SEC", 600) + env_float("REMUX_TIMEOUT_SEC", 30) + 30
timeout = int(_longest_capture)
graceful_timeout = int(_longest_capture)
keepalive = 5

# Our RequestLogMiddleware logs every request (method, path, status, ms), so no separate access log.
accesslog = None
errorlog = "-"
loglevel = env_str("LOG_LEVEL", "info").lower()
capture_output = True

# A per-instance control socket path would be needed to run several servers as one user; we don't use it.
control_socket_disable = True

# The app lives one directory up from this file.
chdir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
wsgi_app = "camsite.wsgi:application"
