"""`/api/schedules/`: captures the server takes on its own, and timelapses of their frames (`/api/timelapses/`).

Views validate and hand over: capture.schedules.body checks a schedule, capture.schedules.runner takes its
frames (in the worker, `manage.py run_huey`), capture.schedules.timelapse makes videos in the job queue.
"""

from __future__ import annotations

import uuid

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from capture.api.filters import host_param
from capture.camera.service import captured
from capture.errors import OtherHost
from capture.links import file_url
from capture.models import ApiToken, this_host
from capture.schedules import runner, tasks, timelapse
from capture.schedules.body import ScheduleBodySerializer, ScheduleSerializer, apply_body, schedule_body, validated
from capture.schedules.models import Schedule, TimelapseJob

CAPTURE, READ, MANAGE = ApiToken.Scope.CAPTURE.value, ApiToken.Scope.READ.value, ApiToken.Scope.MANAGE.value
_ERROR = inline_serializer("ScheduleError", {"ok": serializers.BooleanField(), "error": serializers.CharField()})
_ONE = inline_serializer("ScheduleAnswer", {"ok": serializers.BooleanField(), **ScheduleSerializer().get_fields()})


class TimelapseRequestSerializer(serializers.Serializer):
    fps = serializers.IntegerField(min_value=1, max_value=120, default=25, help_text="frames per second of video")
    width = serializers.IntegerField(
        required=False,
        min_value=16,
        max_value=7680,
        help_text="of the video (default: the frames'); the height follows their aspect ratio",
    )


class TimelapseJobSerializer(serializers.ModelSerializer):
    jobId = serializers.CharField(source="job_id")  # noqa: N815
    scheduleId = serializers.IntegerField(source="schedule_id", allow_null=True)  # noqa: N815
    frames = serializers.IntegerField()
    framesDone = serializers.IntegerField(source="frames_done")  # noqa: N815
    progress = serializers.FloatField(help_text="0 to 1")
    captureId = serializers.IntegerField(source="result_id", allow_null=True)  # noqa: N815
    url = serializers.SerializerMethodField(help_text="the video, once done")
    createdAt = serializers.DateTimeField(source="created_at")  # noqa: N815
    startedAt = serializers.DateTimeField(source="started_at", allow_null=True)  # noqa: N815
    finishedAt = serializers.DateTimeField(source="finished_at", allow_null=True)  # noqa: N815

    class Meta:
        model = TimelapseJob
        fields = [
            "jobId", "host", "status", "scheduleId", "frames", "framesDone", "progress", "fps", "width", "height",
            "error", "captureId", "url", "createdAt", "startedAt", "finishedAt",
        ]  # fmt: skip
        read_only_fields = fields

    def get_url(self, job: TimelapseJob) -> str | None:
        return file_url(job.result.media_name) if job.result and job.result.filename else None


@extend_schema_view(
    list=extend_schema(
        parameters=[OpenApiParameter("host", str, description="the server whose camera takes its frames")],
        responses={200: ScheduleSerializer(many=True), 400: _ERROR, 401: _ERROR, 404: _ERROR},
    ),
    retrieve=extend_schema(responses={200: _ONE, 404: _ERROR}),
    create=extend_schema(
        description="Make a schedule. Give everySec, or cron, or daylight with everySec; the capture parameters "
        "are a capture's (POST /api/camera/capture) without filename.",
        request=ScheduleBodySerializer,
        responses={201: _ONE, 400: _ERROR},
    ),
    partial_update=extend_schema(
        description="Change a schedule: the body is applied over the schedule's own and validated whole.",
        request=ScheduleBodySerializer,
        responses={200: _ONE, 400: _ERROR, 404: _ERROR},
    ),
    destroy=extend_schema(
        description="Delete a schedule. Its frames stay (unlinked from it).",
        responses={
            200: inline_serializer(
                "ScheduleDeleted", {"ok": serializers.BooleanField(), "id": serializers.IntegerField()}
            ),
            404: _ERROR,
        },
    ),
)
class ScheduleViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """`/api/schedules/`: make, list, change and delete schedules; run one now; make a timelapse of its frames."""

    queryset = Schedule.objects.all()
    serializer_class = ScheduleSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    required_scopes = {
        "list": READ,
        "retrieve": READ,
        "create": CAPTURE,
        "run": CAPTURE,
        "timelapse": CAPTURE,
        "partial_update": MANAGE,
        "destroy": MANAGE,
    }

    def create(self, request: Request) -> Response:
        schedule = apply_body(Schedule(), validated(request.data))
        runner.queue_if_due(schedule, tasks.FRAMES)
        return Response({"ok": True, **ScheduleSerializer(schedule).data}, status=status.HTTP_201_CREATED)

    def get_queryset(self):
        queryset = Schedule.objects.all()
        if self.action == "list" and (host := host_param(self.request)) is not None:
            queryset = queryset.filter(host=host)
        return queryset

    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        return Response({"ok": True, **self.get_serializer(self.get_object()).data})

    def partial_update(self, request: Request, *args, **kwargs) -> Response:
        schedule = self.get_object()
        if not isinstance(request.data, dict):
            raise ValidationError({"body": ["expected a JSON object"]})
        schedule = apply_body(schedule, validated({**schedule_body(schedule), **request.data}))
        runner.queue_if_due(schedule, tasks.FRAMES)
        return Response({"ok": True, **ScheduleSerializer(schedule).data})

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        schedule = self.get_object()
        pk = schedule.pk
        schedule.delete()
        return Response({"ok": True, "id": pk})

    @extend_schema(
        request=None,
        description="Take one frame now with the schedule's parameters (its next run stays as it was).",
        responses={
            200: inline_serializer(
                "ScheduleRunNow",
                {"ok": serializers.BooleanField(), "filename": serializers.CharField(), "url": serializers.CharField()},
            ),
            **{code: _ERROR for code in (400, 404, 409, 500, 504)},
        },
    )
    @action(detail=True, methods=["post"])
    def run(self, request: Request, pk: str | None = None) -> Response:
        return Response(captured(runner.run_now(self.get_object())))

    @extend_schema(
        request=TimelapseRequestSerializer,
        description="Queue a timelapse of the schedule's jpg frames (an MP4, a capture with source timelapse). "
        "Follow it at GET /api/timelapses/<jobId>. 507 when the disk lacks room for it.",
        responses={
            202: inline_serializer(
                "TimelapseQueued",
                {
                    "ok": serializers.BooleanField(),
                    "jobId": serializers.CharField(),
                    "status": serializers.CharField(),
                    "frames": serializers.IntegerField(),
                },
            ),
            **{code: _ERROR for code in (400, 404, 409, 503, 507)},
        },
    )
    @action(detail=True, methods=["post"])
    def timelapse(self, request: Request, pk: str | None = None) -> Response:
        body = TimelapseRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        schedule = self.get_object()
        if schedule.host != this_host():
            raise OtherHost(f"{schedule} is {schedule.host}'s: its frames are there, so make its timelapse there")
        job = timelapse.submit(
            timelapse.frames_of(schedule),
            tasks.TIMELAPSES,
            fps=body.validated_data["fps"],
            width=body.validated_data.get("width"),
            schedule=schedule,
        )
        answer = {"ok": True, "jobId": str(job.job_id), "status": job.status, "frames": job.frames}
        return Response(answer, status=status.HTTP_202_ACCEPTED)


class TimelapseViewSet(viewsets.ViewSet):
    """`GET /api/timelapses/<jobId>`: a timelapse job, its progress and, once done, its video."""

    required_scopes = {"retrieve": READ}
    lookup_field = "job_id"
    lookup_value_regex = "[^/]+"

    @extend_schema(responses={200: TimelapseJobSerializer, 404: _ERROR})
    def retrieve(self, request: Request, job_id: str | None = None) -> Response:
        try:
            job = TimelapseJob.objects.select_related("result").filter(job_id=uuid.UUID(str(job_id))).first()
        except ValueError:
            job = None
        if job is None:
            raise NotFound(f"No timelapse job {job_id}")
        return Response({"ok": True, **TimelapseJobSerializer(job).data})


__all__ = ["ScheduleViewSet", "TimelapseViewSet"]
