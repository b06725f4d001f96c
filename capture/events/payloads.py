"""The JSON an event carries: the capture as the API answers it, and a signed link to its file."""

from __future__ import annotations

from django.conf import settings
from rest_framework.fields import DateTimeField

from capture.api.serializers import CaptureSerializer
from capture.links import signed_url
from capture.models import AnalysisJob, Capture


def capture_event(row: Capture) -> dict:
    return {"capture": _capture_json(row), "fileUrl": file_link(row.filename)}


def analysis_event(job: AnalysisJob) -> dict:
    return {
        "capture": _capture_json(job.capture) if job.capture else None,
        "analysis": _analysis_json(job),
        "fileUrl": file_link(job.filename),
    }


def file_link(name: str) -> str | None:
    """A signed link to the file (valid SIGNED_URL_TTL_SEC), absolute when PUBLIC_URL is set. Signed even when
    files are public, so it keeps working if they are protected later."""
    if not name:
        return None
    return settings.PUBLIC_URL + signed_url(name)[0]


def _capture_json(row: Capture) -> dict:
    data = dict(CaptureSerializer(row).data)
    data["url"] = file_link(row.filename)
    return data


def _analysis_json(job: AnalysisJob) -> dict:
    """The job as `GET /api/analyze/<jobId>` shows it (capture.api.analyze's serializer, whose module imports
    the analysis queue, which imports this one)."""
    return {
        "jobId": str(job.job_id),
        "status": job.status,
        "filename": job.filename,
        "captureId": job.capture_id,
        "createdAt": _iso(job.created_at),
        "startedAt": _iso(job.started_at),
        "finishedAt": _iso(job.finished_at),
        "attempts": job.attempts,
        "error": job.error or None,
        "result": job.result,
    }


def _iso(moment) -> str | None:
    return DateTimeField().to_representation(moment) if moment else None
