"""Settings for the camera capture server.

Every value that an operator may change comes from the environment through the strict readers in
camsite.env; the README's configuration table lists them all. Nothing else in the code reads os.environ.
"""

from __future__ import annotations

import socket
import sys
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from camsite.env import (
    DATABASE_ENGINES,
    env_bool,
    env_bytes,
    env_choice,
    env_database_url,
    env_float,
    env_host_name,
    env_int,
    env_list,
    env_networks,
    env_optional_float,
    env_per_camera,
    env_secret,
    env_str,
    env_topic,
    env_url,
)
from camsite.s3 import s3_storage

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DJANGO_DEBUG", False)
# DJANGO_SECRET_KEY, else the file DJANGO_SECRET_KEY_FILE names, else the .secret_key `make run` writes.
# Production secrets have no default: refuse to start rather than sign sessions with a known key.
SECRET_KEY = env_secret("DJANGO_SECRET_KEY", BASE_DIR / ".secret_key", required=not DEBUG)
if not SECRET_KEY:
    SECRET_KEY = "insecure-development-key-only-used-with-DJANGO_DEBUG"  # noqa: S105

# A Pi on a home network is reached by IP, hostname.local or a DNS name, so the default accepts any
# Host; restrict it in /etc/camsite/env when the server is exposed further.
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["*"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

PORT = env_int("PORT", 3000, minimum=1, maximum=65535)

# This server's name on a shared database: every Capture and AnalysisJob records it, and crash recovery,
# status, file names and job claiming only ever touch this host's rows. Two Pis on one database need two names
# (Raspberry Pi OS names every Pi `raspberrypi`: set a hostname, or this).
CAMSITE_HOST = env_host_name("CAMSITE_HOST", socket.gethostname())

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's static files, for /api/docs/ without internet
    "huey.contrib.djhuey",  # the analysis worker: `manage.py run_huey`
    "axes",  # throttles failed admin logins
    "capture",
]

MIDDLEWARE = [
    # Request logging wraps everything so that even 401s and CORS preflights are logged with timing.
    "capture.middleware.RequestLogMiddleware",
    # A database that is away is a 503 JSON for every page, not a 500 (the API's views: capture.api.errors).
    "capture.middleware.DatabaseUnavailableMiddleware",
    # CORS answers preflights before any view: browsers never send Authorization on a preflight. Auth itself
    # is DRF's (capture.api.auth), and the /uploads view's and the 404 handler's (capture.tokens).
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: answers a locked-out login attempt.
    "axes.middleware.AxesMiddleware",
]

# django-axes first, so a locked-out user name is refused before its password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]

ROOT_URLCONF = "camsite.urls"
WSGI_APPLICATION = "camsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# SQLite in DATABASE_PATH by default (nothing to install); DATABASE_URL (postgres://...) for several Pis and a
# central server on one PostgreSQL, or sqlite:////path. Nothing in the code depends on the engine: every
# concurrent write is one conditional UPDATE, which both serialise per row.
DATABASE_PATH = Path(env_str("DATABASE_PATH", str(BASE_DIR / "db.sqlite3")))
DATABASE_CONNECT_TIMEOUT_SEC = env_int("DATABASE_CONNECT_TIMEOUT_SEC", 5, minimum=2, maximum=120)
DATABASES = {
    "default": env_database_url("DATABASE_URL") or {"ENGINE": DATABASE_ENGINES["sqlite"], "NAME": DATABASE_PATH}
}
if DATABASES["default"]["ENGINE"] == DATABASE_ENGINES["sqlite"]:
    DATABASES["default"].update(
        {
            # Keep each thread's connection: reopening SQLite and re-running the PRAGMAs cost more than the query.
            "CONN_MAX_AGE": None,
            "OPTIONS": {
                # WAL lets readers run beside the one writer; IMMEDIATE transactions plus a busy timeout make
                # writers queue instead of failing with "database is locked" across gunicorn workers.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    )
else:
    # A connection per thread kept for a minute, checked before each request reuses it: after the database
    # was away (a restart, a lost network), the next request reconnects instead of failing on a dead socket.
    DATABASES["default"].update(CONN_MAX_AGE=60, CONN_HEALTH_CHECKS=True)
    # Give up connecting after a few seconds: a request then answers 503 (capture.api.errors) instead of
    # hanging while the database is unreachable. A connect_timeout in the URL's query wins.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", DATABASE_CONNECT_TIMEOUT_SEC)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
# `collectstatic` writes here and whitenoise serves it (also with DEBUG off, under gunicorn).
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles"))).resolve()
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Captures live here and are served at /uploads/<name>, as in the Node server.
MEDIA_ROOT = Path(env_str("UPLOAD_DIR", str(BASE_DIR / "uploads"))).resolve()
MEDIA_URL = "/uploads/"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Object storage: STORAGE_BACKEND=s3 copies every capture to a bucket (AWS S3, MinIO, Garage) -------------
# The Pi writes the file locally as always; its worker (run_huey) then uploads it with its thumbnails, retrying
# while the bucket is unreachable, and keeps the local copy or not (STORAGE_LOCAL_COPY). /uploads answers a
# file that is only in the bucket with a redirect to a presigned URL, and a worker on another machine reads it
# from there (capture.objects).
STORAGE_BACKEND = env_choice("STORAGE_BACKEND", "local", ("local", "s3"))
S3_BUCKET = env_str("S3_BUCKET")
S3_ENDPOINT_URL = env_str("S3_ENDPOINT_URL")  # unset for AWS; http(s)://host:port for MinIO or Garage
S3_REGION = env_str("S3_REGION", "us-east-1")
S3_ACCESS_KEY_ID = env_str("S3_ACCESS_KEY_ID")  # unset: boto3's own chain (AWS_* variables, instance role)
S3_SECRET_ACCESS_KEY = env_secret("S3_SECRET_ACCESS_KEY", None, required=False)
S3_PREFIX = env_str("S3_PREFIX").strip("/")  # keys are <prefix>/<host>/<file name>
# path-style (bucket in the path) suits MinIO, Garage and any endpoint by IP; AWS takes both.
S3_ADDRESSING_STYLE = env_choice("S3_ADDRESSING_STYLE", "path", ("path", "virtual"))
STORAGE_LOCAL_COPY = env_choice("STORAGE_LOCAL_COPY", "keep", ("keep", "none"))
STORAGE_UPLOAD_MAX_ATTEMPTS = env_int("STORAGE_UPLOAD_MAX_ATTEMPTS", 8, minimum=1, maximum=100)
STORAGE_UPLOAD_RETRY_DELAY_SEC = env_float("STORAGE_UPLOAD_RETRY_DELAY_SEC", 5, minimum=0, maximum=3600)
if STORAGE_BACKEND == "s3":
    if not S3_BUCKET:
        raise ImproperlyConfigured("S3_BUCKET must be set when STORAGE_BACKEND=s3")
    STORAGES["captures"] = s3_storage(
        bucket=S3_BUCKET,
        endpoint_url=S3_ENDPOINT_URL,
        region=S3_REGION,
        access_key=S3_ACCESS_KEY_ID,
        secret_key=S3_SECRET_ACCESS_KEY,
        prefix=S3_PREFIX,
        addressing_style=S3_ADDRESSING_STYLE,
    )

# --- The seed's options -------------------------------------------------------------------------------
AUTH_TOKEN = env_str("AUTH_TOKEN")
# With auth on, /uploads needs a read token, a staff session or a signed link (capture.links), valid this long
# (share links choose their own, up to 7 days). UPLOADS_PUBLIC=true serves the files to anyone, as the seed did.
SIGNED_URL_TTL_SEC = env_int("SIGNED_URL_TTL_SEC", 86400, minimum=60, maximum=7 * 86400)
UPLOADS_PUBLIC = env_bool("UPLOADS_PUBLIC", False)
CORS_ALLOW_ALL_ORIGINS = env_bool("CORS_ALLOW_ALL", False)
CORS_ALLOWED_ORIGINS = env_list("CORS_ORIGIN")
CORS_URLS_REGEX = r"^/(api|uploads)/.*$"

DEFAULT_WIDTH = env_int("DEFAULT_WIDTH", 1920, minimum=1)
DEFAULT_HEIGHT = env_int("DEFAULT_HEIGHT", 1080, minimum=1)
DEFAULT_FPS = env_int("DEFAULT_FPS", 30, minimum=1)
DEFAULT_STILL_DURATION_SEC = env_float("DEFAULT_STILL_DURATION_SEC", 1, minimum=0.1)
DEFAULT_VIDEO_DURATION_SEC = env_float("DEFAULT_VIDEO_DURATION_SEC", 3, minimum=0.1)
ANALYZE_URL = env_str("ANALYZE_URL", f"http://127.0.0.1:{PORT}/api/analyze")

# --- Capture limits: requests outside them get a 400 naming the field ------------------------------------
CAPTURE_MAX_WIDTH = env_int("CAPTURE_MAX_WIDTH", 4608, minimum=16)
CAPTURE_MAX_HEIGHT = env_int("CAPTURE_MAX_HEIGHT", 3496, minimum=16)
CAPTURE_MAX_FPS = env_int("CAPTURE_MAX_FPS", 120, minimum=1)
CAPTURE_MAX_DURATION_SEC = env_float("CAPTURE_MAX_DURATION_SEC", 600, minimum=1)

# --- Camera -----------------------------------------------------------------------------------------------
CAMERA_BACKEND = env_choice("CAMERA_BACKEND", "auto", ("auto", "rpicam", "simulated"))
# The camera the seed's routes use, and captures that name none. `GET /api/cameras/` lists them all.
CAMERA_INDEX = env_int("CAMERA_INDEX", 0, minimum=0, maximum=63)
# Per-camera defaults for the capture controls, e.g. CAMERA_0_ROTATION=180 for a camera mounted upside down,
# CAMERA_1_AWB=daylight. Validated by capture.camera.params (a bad value fails `manage.py check`).
CAMERA_CONTROL_DEFAULTS = env_per_camera()
# rpicam-* first: Raspberry Pi OS dropped the libcamera-* names in rpicam-apps 1.8 (Bookworm and Trixie).
RPICAM_STILL_COMMANDS = env_list("RPICAM_STILL_COMMANDS", ["rpicam-still", "libcamera-still"])
RPICAM_VID_COMMANDS = env_list("RPICAM_VID_COMMANDS", ["rpicam-vid", "libcamera-vid"])
RPICAM_HELLO_COMMANDS = env_list("RPICAM_HELLO_COMMANDS", ["rpicam-hello", "libcamera-hello"])
CAMERA_LOCK_PATH = Path(env_str("CAMERA_LOCK_PATH", "/tmp/camera.lock"))
CAMERA_DETECT_TTL_SEC = env_float("CAMERA_DETECT_TTL_SEC", 60, minimum=1)
# Seconds added to durationSec for the camera command, as in the Node server (durationSec*1000 + 3 s).
CAMERA_TIMEOUT_MARGIN_SEC = env_float("CAMERA_TIMEOUT_MARGIN_SEC", 3, minimum=0)
REMUX_TIMEOUT_SEC = env_float("REMUX_TIMEOUT_SEC", 30, minimum=1)
# Time a stopped process gets after each signal (SIGINT, then SIGTERM) before the next one.
CAMERA_KILL_GRACE_SEC = env_float("CAMERA_KILL_GRACE_SEC", 1, minimum=0.1)
# Simulated camera only: >1 makes captures faster than real time (tests).
SIMULATED_SPEED = env_float("SIMULATED_SPEED", 1, minimum=0.01, maximum=1000)
# How many cameras the simulated backend has (each frame says which one it came from).
SIMULATED_CAMERAS = env_int("SIMULATED_CAMERAS", 1, minimum=1, maximum=8)
FFMPEG_BINARY = env_str("FFMPEG_BINARY")
# The live preview that the camera owner (`manage.py camera_owner`) runs while someone watches.
PREVIEW_WIDTH = env_int("PREVIEW_WIDTH", 640, minimum=16, maximum=4608)
PREVIEW_HEIGHT = env_int("PREVIEW_HEIGHT", 480, minimum=16, maximum=3496)
PREVIEW_FPS = env_int("PREVIEW_FPS", 15, minimum=1, maximum=120)
# Seconds the preview keeps running after the last viewer left (a viewer coming back gets frames at once).
PREVIEW_IDLE_SEC = env_float("PREVIEW_IDLE_SEC", 10, minimum=0, maximum=3600)
# How long a capture waits for the preview to give the camera up before it answers 409.
PREVIEW_YIELD_SEC = env_float("PREVIEW_YIELD_SEC", 2, minimum=0.1, maximum=30)
# Keep a warm rpicam-still (signal mode) while no preview runs: a capture with the default size and controls is
# then one trigger (~0.25 s on the stand-ins) instead of a cold start.
CAMERA_WARM_STILLS = env_bool("CAMERA_WARM_STILLS", False)
# CAMERA_<N>_WARM_STILLS=true|false: the same for one camera (it is not a capture control, so it leaves those).
CAMERA_WARM_STILLS_BY_CAMERA = {
    index: env_bool(f"CAMERA_{index}_WARM_STILLS", CAMERA_WARM_STILLS)
    for index, names in CAMERA_CONTROL_DEFAULTS.items()
    if names.pop("WARM_STILLS", None) is not None
}
# Where the camera owners' sockets go (`<lock file name>.owner.sock`); nginx must be able to reach them.
PREVIEW_SOCKET_DIR = Path(env_str("PREVIEW_SOCKET_DIR", str(CAMERA_LOCK_PATH.parent)))
ANALYZE_TIMEOUT_SEC = env_float("ANALYZE_TIMEOUT_SEC", 10, minimum=0.1)
# Largest JSON body accepted by the API (bytes).
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 64 * 1024, minimum=1024)

# --- Retention (capture.retention): what is deleted, oldest first, so the card never fills ----------------
# These are the defaults for every capture; rules made in the admin add more specific ones (per camera and
# per source). 0 turns a limit off. Pinned captures are never deleted.
RETENTION_MAX_AGE_DAYS = env_float("RETENTION_MAX_AGE_DAYS", 0, minimum=0)
RETENTION_MAX_TOTAL_BYTES = env_bytes("RETENTION_MAX_TOTAL_BYTES", 0)
# The free space to keep on the upload filesystem: captures are deleted to keep it, and a capture that would go
# below it anyway is refused with 507 before the camera starts.
RETENTION_MIN_FREE_BYTES = env_bytes("RETENTION_MIN_FREE_BYTES", 0)
# Deleted files wait in UPLOAD_DIR/.trash this long, restorable from the admin, before they are purged.
TRASH_RETENTION_DAYS = env_float("TRASH_RETENTION_DAYS", 7, minimum=0)
# `manage.py reconcile` (and its hourly job) with a file that has no row: adopt it as a capture, or trash it.
RECONCILE_ORPHANS = env_choice("RECONCILE_ORPHANS", "adopt", ("adopt", "trash"))

# --- Built-in analyzer: POST /api/analyze queues a job, `manage.py run_huey` runs it ----------------------
# Attempts per job (a transient failure, or a worker that died running it), retried after
# ANALYSIS_RETRY_DELAY_SEC, doubling each time. A job `running` for longer than ANALYSIS_STALE_SEC is taken
# to be lost with its worker (on another machine, where its process can't be checked) and queued again.
ANALYSIS_MAX_ATTEMPTS = env_int("ANALYSIS_MAX_ATTEMPTS", 3, minimum=1, maximum=20)
ANALYSIS_RETRY_DELAY_SEC = env_float("ANALYSIS_RETRY_DELAY_SEC", 5, minimum=0, maximum=3600)
ANALYSIS_STALE_SEC = env_float("ANALYSIS_STALE_SEC", 900, minimum=10)
# The queue: SQLite beside the database (no extra server), or Redis. Only the queue: the job lives in the
# database, so a worker on another machine needs DATABASE_URL (PostgreSQL) and Redis, and reads the files
# through the storage seam (object storage when STORAGE_BACKEND=s3).
HUEY_BACKEND = env_choice("HUEY_BACKEND", "sqlite", ("sqlite", "redis"))
HUEY_SQLITE_PATH = Path(env_str("HUEY_SQLITE_PATH", str(DATABASE_PATH.with_name("huey.sqlite3"))))
HUEY_REDIS_URL = env_str("HUEY_REDIS_URL", "redis://127.0.0.1:6379/0")
# Two threads: a long job (a timelapse, an analysis) never holds back a schedule's next frame.
HUEY_WORKERS = env_int("HUEY_WORKERS", 2, minimum=1, maximum=16)
HUEY = {
    "name": "camsite",
    "immediate": False,  # djhuey would follow DEBUG: jobs always go through the worker
    "results": False,  # results live on AnalysisJob rows, not in huey's result store
    "consumer": {
        "workers": HUEY_WORKERS,
        "worker_type": "thread",
        "max_delay": 1.0,  # poll an idle queue every second at most: a job starts within a second
        # How often the scheduler looks for tasks whose time has come (a schedule's frames, every 2 s at the
        # shortest): every second. Periodic tasks (the schedules' tick) stay minute-granular.
        "scheduler_interval": 1,
        "periodic": True,
        # huey's own signals: SIGINT (the systemd unit's KillSignal, and what `make run` sends) lets a running
        # analysis finish, this long at most; SIGTERM stops at once. Either way a job cut short is picked up
        # again at the next start.
        "shutdown_timeout": 20,
    },
}
if HUEY_BACKEND == "sqlite":
    HUEY.update(huey_class="huey.SqliteHuey", filename=str(HUEY_SQLITE_PATH))
    # huey.storage imports redis-py whenever it is installed (requirements.txt has it, for HUEY_BACKEND=redis):
    # about 6 MB in every web worker and in the analysis worker. Nothing uses it with the SQLite queue, so it is
    # marked absent before djhuey loads huey; huey then leaves its Redis storage undefined.
    sys.modules.setdefault("redis", None)
else:
    # A worker reads its own host's files: on a Redis shared by several Pis, each host has its own queue.
    HUEY.update(huey_class="huey.RedisHuey", url=HUEY_REDIS_URL, name=f"camsite-{CAMSITE_HOST}")

# The worker on demand (capture.lib.worker_gate): it exits after this long with nothing to do, and starts
# again when something is queued, when a schedule's next frame comes, and hourly for housekeeping. About
# 60 MB less on an idle Pi. 0 keeps it running. Only with the SQLite queue: with Redis the web server and the
# worker may be on different machines, where the wake file can't reach, so there it stays running.
WORKER_IDLE_EXIT_SEC = env_float("WORKER_IDLE_EXIT_SEC", 60, minimum=0) if HUEY_BACKEND == "sqlite" else 0.0
# Written at each enqueue (its mtime wakes the worker) and, by a worker going idle, the time it wants back.
WORKER_WAKE_PATH = HUEY_SQLITE_PATH.with_name("worker.wake")
WORKER_NEXT_PATH = HUEY_SQLITE_PATH.with_name("worker.next")

# --- Events out: webhooks and MQTT (capture.events), delivered by the worker from the outbox ---------------
# Links in events are made absolute with this (e.g. http://camera.local); empty leaves them as paths.
PUBLIC_URL = env_url("PUBLIC_URL")
WEBHOOK_TIMEOUT_SEC = env_float("WEBHOOK_TIMEOUT_SEC", 10, minimum=0.5, maximum=120)
# A delivery that fails is tried again after EVENT_RETRY_DELAY_SEC, doubling each time up to
# EVENT_RETRY_MAX_DELAY_SEC, EVENT_MAX_ATTEMPTS times in all (the defaults keep trying for about 40 minutes).
EVENT_MAX_ATTEMPTS = env_int("EVENT_MAX_ATTEMPTS", 12, minimum=1, maximum=100)
EVENT_RETRY_DELAY_SEC = env_float("EVENT_RETRY_DELAY_SEC", 5, minimum=0.1, maximum=3600)
EVENT_RETRY_MAX_DELAY_SEC = env_float("EVENT_RETRY_MAX_DELAY_SEC", 600, minimum=0.1, maximum=86400)
# MQTT: empty is off. mqtt://user:password@host:1883 (mqtts:// for TLS). Topics start with MQTT_PREFIX;
# Home Assistant's discovery configs go under MQTT_DISCOVERY_PREFIX.
MQTT_URL = env_url("MQTT_URL", schemes=("mqtt", "mqtts"))
MQTT_PREFIX = env_topic("MQTT_PREFIX", "camsite")
MQTT_DISCOVERY_PREFIX = env_topic("MQTT_DISCOVERY_PREFIX", "homeassistant")

# --- Metrics: GET /metrics needs a read token, or a client address in METRICS_ALLOWED_IPS -----------------
# Behind nginx the client address is nginx's own (127.0.0.1): listing it opens /metrics to everyone nginx serves.
METRICS_ALLOWED_IPS = env_networks("METRICS_ALLOWED_IPS")

# --- Admin login throttling (django-axes): this many failures for a user name lock it for the cool-off -----
AXES_FAILURE_LIMIT = env_int("ADMIN_LOGIN_FAILURE_LIMIT", 5, minimum=1, maximum=1000)
AXES_COOLOFF_TIME = timedelta(seconds=env_float("ADMIN_LOGIN_COOLOFF_SEC", 900, minimum=1, maximum=7 * 86400))
# A user name that keeps failing is locked wherever the guesses come from, and so is an address that keeps
# failing whatever names it tries (behind nginx, the address its X-Forwarded-For gives).
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

# --- Schedules and timelapses (capture.schedules) -----------------------------------------------------------
# Where the camera is, for daylight schedules (sunrise and sunset through astral); cron expressions and the
# days of daylight windows are in TIME_ZONE.
LATITUDE = env_optional_float("LATITUDE", minimum=-90, maximum=90)
LONGITUDE = env_optional_float("LONGITUDE", minimum=-180, maximum=180)
if (LATITUDE is None) != (LONGITUDE is None):
    raise ImproperlyConfigured("LATITUDE and LONGITUDE go together: set both, or neither")
# A frame more than this late (a worker that was down, a reboot) is skipped and counted, not taken late;
# schedules with a shorter interval use their interval.
SCHEDULE_MISSED_AFTER_SEC = env_float("SCHEDULE_MISSED_AFTER_SEC", 60, minimum=1, maximum=3600)
# ffmpeg's time limit for one timelapse (it runs niced, in the job queue).
TIMELAPSE_TIMEOUT_SEC = env_float("TIMELAPSE_TIMEOUT_SEC", 3600, minimum=10)

# --- REST framework ---------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # API tokens only (no sessions, so no CSRF on the API), each view declaring the scope of each action.
    "DEFAULT_AUTHENTICATION_CLASSES": ["capture.api.auth.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["capture.api.auth.HasScope"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_PARSER_CLASSES": ["capture.api.parsers.LimitedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # `?format=` filters the history by capture format; it must not pick a renderer.
    "URL_FORMAT_OVERRIDE": None,
    "EXCEPTION_HANDLER": "capture.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "capture.api.pagination.CapturePagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Camera capture server",
    "DESCRIPTION": "Take photos and short videos with the Raspberry Pi camera over HTTP.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and Swagger UI need a `read` token, like the routes they describe.
    "SERVE_PERMISSIONS": ["capture.api.auth.HasScope"],
    # Swagger UI from our own static files: the default CDN leaves /api/docs/ blank on a Pi without internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Captures and analysis jobs both have a `status`: name each enum after its model.
    "ENUM_NAME_OVERRIDES": {
        "CaptureStatusEnum": "capture.models.Capture.Status",
        "AnalysisJobStatusEnum": "capture.models.AnalysisJob.Status",
        "CaptureFormatEnum": "capture.models.Capture.Format",
        # A capture's body and a schedule's share the capture parameters.
        "CaptureParamsFormatEnum": "capture.formats.FORMAT_NAMES",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "capture.api.schema.document_server_limits",
        "capture.api.schema.document_auth_errors",
    ],
}

LOG_LEVEL = env_choice("LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "capture": {"level": LOG_LEVEL},
        "camsite": {"level": LOG_LEVEL},
        # Our RequestLogMiddleware logs every request; Django's own request logger would repeat 4xx/5xx.
        "django.request": {"level": "ERROR"},
        # The analysis worker's queue machinery: its per-task INFO lines (a sweep every minute) are noise next
        # to capture.analysis.jobs' own lines, so below debug it logs warnings only. A handler here also keeps
        # run_huey from adding its own, which printed every line twice.
        "huey": {"level": "WARNING" if LOG_LEVEL == "INFO" else LOG_LEVEL, "handlers": ["console"], "propagate": False},
    },
}
