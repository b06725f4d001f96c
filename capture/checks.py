"""System checks (`manage.py check`, and at every server start): binaries and writable paths."""

from __future__ import annotations

import os
import shutil

from django.conf import settings
from django.core.checks import Error, Warning, register

from capture.lib.ffmpeg import FfmpegNotFound, find_ffmpeg


@register()
def check_upload_dir(app_configs, **kwargs):
    root = settings.MEDIA_ROOT
    if not root.is_dir() or not os.access(root, os.W_OK | os.X_OK):
        return [
            Error(
                f"Upload directory {root} is missing or not writable",
                hint="Set UPLOAD_DIR or fix its permissions.",
                id="capture.E001",
            )
        ]
    return []


@register()
def check_lock_dir(app_configs, **kwargs):
    directory = settings.CAMERA_LOCK_PATH.parent
    if not directory.is_dir() or not os.access(directory, os.W_OK | os.X_OK):
        return [
            Error(f"Camera lock directory {directory} is not writable", hint="Set CAMERA_LOCK_PATH.", id="capture.E002")
        ]
    return []


@register()
def check_ffmpeg(app_configs, **kwargs):
    try:
        find_ffmpeg(settings.FFMPEG_BINARY)
    except FfmpegNotFound as exc:
        return [Error(str(exc), hint="Install ffmpeg (apt install ffmpeg) or set FFMPEG_BINARY.", id="capture.E003")]
    return []


@register()
def check_camera_apps(app_configs, **kwargs):
    if settings.CAMERA_BACKEND != "rpicam":
        return []
    missing = [
        candidates[0]
        for candidates in (settings.RPICAM_STILL_COMMANDS, settings.RPICAM_VID_COMMANDS)
        if not any(shutil.which(name) for name in candidates)
    ]
    if missing:
        return [
            Warning(
                f"CAMERA_BACKEND=rpicam but {', '.join(missing)} is not installed",
                hint="sudo apt install rpicam-apps",
                id="capture.W001",
            )
        ]
    return []


@register()
def check_camera_control_defaults(app_configs, **kwargs):
    from django.core.exceptions import ImproperlyConfigured

    from capture.camera.params import control_defaults

    errors = []
    for index in sorted(settings.CAMERA_CONTROL_DEFAULTS):
        try:
            control_defaults(index)
        except ImproperlyConfigured as exc:
            errors.append(Error(str(exc), hint="See the README's camera controls.", id="capture.E004"))
    return errors


# Names that many machines share: Raspberry Pi OS names every Pi `raspberrypi`.
COMMON_HOST_NAMES = {"raspberrypi", "localhost", "localhost.localdomain"}


@register()
def check_host_name_on_a_shared_database(app_configs, **kwargs):
    """Two servers with one CAMSITE_HOST on one database would take each other's rows for their own."""
    shared = settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3"
    if shared and settings.CAMSITE_HOST in COMMON_HOST_NAMES:
        return [
            Warning(
                f"CAMSITE_HOST is {settings.CAMSITE_HOST!r}, a name many machines share, on a shared database",
                hint="Give each server on one database its own CAMSITE_HOST (or hostname).",
                id="capture.W014",
            )
        ]
    return []
