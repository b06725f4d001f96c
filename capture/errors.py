"""Domain errors. Each is an APIException, so the API maps it to the seed's status code directly;
the CLI and the admin catch the same classes."""

from __future__ import annotations

from django.db import InterfaceError, OperationalError
from rest_framework import status
from rest_framework.exceptions import APIException

from capture.camera.lock import LockBusy


class CaptureError(APIException):
    status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
    default_detail = "Capture failed"
    default_code = "capture_failed"

    def __init__(self, detail: str | None = None, *, capture=None) -> None:
        super().__init__(detail)
        # The Capture row written for this attempt, when the camera was reached.
        self.capture = capture


class CameraBusy(CaptureError, LockBusy):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Camera busy: another capture is in progress"
    default_code = "camera_busy"


class CaptureFailed(CaptureError):
    pass


class CaptureTimeout(CaptureError):
    status_code = status.HTTP_504_GATEWAY_TIMEOUT
    default_detail = "Capture timed out"
    default_code = "capture_timeout"


class CaptureInterrupted(CaptureError):
    default_detail = "Capture interrupted"
    default_code = "capture_interrupted"


class AnalyzeFailed(CaptureError):
    default_detail = "Analyze request failed"
    default_code = "analyze_failed"


class CaptureRunning(APIException):
    """A capture's row and files can't be deleted while its capture is still being taken."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The capture is still running"
    default_code = "capture_running"

    def __init__(self, capture_id: int) -> None:
        super().__init__(f"Capture {capture_id} is still running")
        self.capture_id = capture_id


class OtherHost(APIException):
    """Something only the host that owns it can do (run a schedule, make a timelapse of its frames, restore
    from its trash): that host's camera and disk are not this server's."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "This belongs to another host"
    default_code = "other_host"


class DatabaseUnavailable(APIException):
    """The database could not be reached or refused the query (PostgreSQL down or unreachable, SQLite locked
    for longer than its timeout): a 503 the client may retry, never a 500."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Database unavailable: try again shortly"
    default_code = "database_unavailable"


def is_database_unavailable(exc: BaseException) -> bool:
    # OperationalError: the connection failed or broke; InterfaceError: a connection already closed under us.
    return isinstance(exc, OperationalError | InterfaceError)


class InsufficientStorage(CaptureError):
    """The capture would take the upload filesystem's free space below the retention floor (capture.retention),
    even after retention deleted what it may: refused before the camera starts."""

    status_code = status.HTTP_507_INSUFFICIENT_STORAGE
    default_detail = "Insufficient storage for this capture"
    default_code = "insufficient_storage"
