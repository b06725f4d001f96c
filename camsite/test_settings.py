"""Settings for the test suite: the real settings with a throwaway key and a fast password hasher."""

import os
import tempfile

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key")

from camsite.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Tests never touch a real camera unless a test installs the stand-in apps and asks for rpicam.
CAMERA_BACKEND = "simulated"
SIMULATED_SPEED = 10.0

# Analysis jobs queue in memory and tests run them explicitly (tests/test_analyze_api.py); the end-to-end
# tests start a real `manage.py run_huey` with the real settings (SqliteHuey).
HUEY = {key: value for key, value in HUEY.items() if key not in ("filename", "url")}  # noqa: F405
HUEY.update(huey_class="huey.MemoryHuey", immediate=False)
# No worker gate in-process: enqueueing writes no wake file (tests/test_worker_gate.py turns it on).
WORKER_IDLE_EXIT_SEC = 0

# The manifest storage needs `collectstatic`, which tests don't run.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405

# The SQLite test database is a file, as the server's is: Django's default in-memory test database shares one
# cache between connections, whose table locks fail at once ("database table is locked") where the server's
# WAL file waits its busy timeout, so concurrent writers on real connections (tests/test_database_locking.py)
# would fail under load for a reason production never has. One per process (pytest-xdist workers).
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(tempfile.gettempdir(), f"camsite-test-{os.getpid()}.sqlite3")
    }
