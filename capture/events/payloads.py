"""The JSON an event carries: the capture as the API answers it, and a signed link to its file."""

from __future__ import annotations

from django.conf import settings

from capture.links import signed_url
from capture.models import AnalysisJob, Capture


def capture_event(row: Capture) -> dict:
    return {"capture": _capture_json(row), "fileUrl": file_link(row.filename)}


def analysis_event(job: AnalysisJob) -> dict:
    from capture.api.analyze import AnalysisJobSerializer  # the API's module imports the task queue

    return {
        "capture": _capture_json(job.capture) if job.capture else None,
        "analysis": dict(AnalysisJobSerializer(job).data),
        "fileUrl": file_link(job.filename),
    }


def file_link(name: str) -> str | None:
    """A signed link to the file (valid SIGNED_URL_TTL_SEC), absolute when PUBLIC_URL is set. Signed even when
    files are public, so it keeps working if they are protected later."""
    if not name:
        return None
    return settings.PUBLIC_URL + signed_url(name)[0]


def _capture_json(row: Capture) -> dict:
    from capture.api.serializers import CaptureSerializer

    data = dict(CaptureSerializer(row).data)
    data["url"] = file_link(row.filename)
    return data
