"""`/api/analyze`: the built-in analyzer. POST queues a job and answers at once; GET reads a job.

The analysis itself never runs here: capture.analysis.tasks queues it for the worker (`manage.py
run_huey`).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from capture.analysis import jobs, tasks
from capture.api.serializers import CaptureSerializer
from capture.models import AnalysisJob, ApiToken, Capture

_ERROR = inline_serializer("AnalyzeError", {"ok": serializers.BooleanField(), "error": serializers.CharField()})


class AnalyzeRequestSerializer(serializers.Serializer):
    """`{filename, path: "/uploads/<file>"}`, either or both; the seed's extra `captureId` and `url` are
    accepted. The capture is found by its file name on this host, or by `captureId` for another host's."""

    filename = serializers.CharField(required=False, max_length=255, trim_whitespace=False)
    path = serializers.CharField(required=False, max_length=1024, trim_whitespace=False)
    captureId = serializers.IntegerField(required=False, allow_null=True)  # noqa: N815
    url = serializers.CharField(required=False, allow_blank=True, max_length=2048)

    def validate(self, attrs: dict) -> dict:
        filename, path = attrs.get("filename"), attrs.get("path")
        if filename is None and path is None:
            raise serializers.ValidationError({"filename": ["give filename, or path /uploads/<file>"]})
        if path is not None:
            if not path.startswith(settings.MEDIA_URL):
                raise serializers.ValidationError({"path": [f"must be {settings.MEDIA_URL}<file>"]})
            from_path = path[len(settings.MEDIA_URL) :]
            if filename is not None and from_path != filename:
                raise serializers.ValidationError({"path": [f"names {from_path!r}, but filename is {filename!r}"]})
            filename = from_path
        # A capture of another host of the fleet (capture-and-analyze forwarding to a central server): its
        # captureId says whose file it is, which its name alone can't (names are unique per host only).
        host = None
        if attrs.get("captureId") is not None:
            capture = Capture.objects.filter(pk=attrs["captureId"], filename=filename).first()
            host = capture.host if capture is not None else None
        try:
            jobs.readable_capture(filename, host)
        except jobs.UnknownUpload as exc:
            field = "path" if attrs.get("filename") is None else "filename"
            raise serializers.ValidationError({field: [str(exc)]}) from None
        attrs["filename"], attrs["host"] = filename, host
        return attrs


class AnalysisJobSerializer(serializers.ModelSerializer):
    jobId = serializers.CharField(source="job_id")  # noqa: N815
    captureId = serializers.IntegerField(source="capture_id", allow_null=True)  # noqa: N815
    createdAt = serializers.DateTimeField(source="created_at")  # noqa: N815
    startedAt = serializers.DateTimeField(source="started_at", allow_null=True)  # noqa: N815
    finishedAt = serializers.DateTimeField(source="finished_at", allow_null=True)  # noqa: N815
    error = serializers.SerializerMethodField()

    class Meta:
        model = AnalysisJob
        fields = [
            "jobId", "host", "status", "filename", "captureId", "createdAt", "startedAt", "finishedAt", "attempts",
            "error", "result",
        ]  # fmt: skip
        read_only_fields = fields

    def get_error(self, job: AnalysisJob) -> str | None:
        return job.error or None


class CaptureDetailSerializer(CaptureSerializer):
    """A capture with its analysis jobs, newest first (GET /api/captures/<id>/)."""

    analysisJobs = AnalysisJobSerializer(source="analysis_jobs", many=True, read_only=True)  # noqa: N815

    class Meta(CaptureSerializer.Meta):
        fields = [*CaptureSerializer.Meta.fields, "analysisJobs"]
        read_only_fields = fields


class AnalyzeViewSet(viewsets.ViewSet):
    """`POST /api/analyze` queues an analysis; `GET /api/analyze/<jobId>` follows it."""

    required_scopes = {"create": ApiToken.Scope.CAPTURE.value, "retrieve": ApiToken.Scope.READ.value}
    lookup_field = "job_id"
    lookup_value_regex = "[^/]+"

    @extend_schema(
        request=AnalyzeRequestSerializer,
        responses={
            202: inline_serializer(
                "AnalysisQueued",
                {"ok": serializers.BooleanField(), "jobId": serializers.CharField(), "status": serializers.CharField()},
            ),
            400: _ERROR,
            401: _ERROR,
            503: _ERROR,
        },
    )
    def create(self, request: Request) -> Response:
        body = AnalyzeRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        job = tasks.submit(body.validated_data["filename"], body.validated_data["host"])
        return Response({"ok": True, "jobId": str(job.job_id), "status": job.status}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={200: AnalysisJobSerializer, 401: _ERROR, 404: _ERROR})
    def retrieve(self, request: Request, job_id: str | None = None) -> Response:
        try:
            job = AnalysisJob.objects.filter(job_id=uuid.UUID(str(job_id))).first()
        except ValueError:  # not a job id at all
            job = None
        if job is None:
            raise NotFound(f"No analysis job {job_id}")
        return Response({"ok": True, **AnalysisJobSerializer(job).data})
