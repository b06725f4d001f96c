"""The REST API. Views validate input, call the capture service, and shape the seed's JSON."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view, inline_serializer
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from capture.api.analyze import CaptureDetailSerializer
from capture.api.serializers import CaptureParamsSerializer, CaptureSerializer
from capture.camera.service import CaptureService, camera_status
from capture.models import Capture

_ERROR = inline_serializer("Error", {"ok": serializers.BooleanField(), "error": serializers.CharField()})
_CAPTURE_ERRORS = {code: _ERROR for code in (400, 401, 409, 413, 415, 500, 504)}
_STATUS = inline_serializer(
    "CameraStatus",
    {
        "ok": serializers.BooleanField(),
        "cameraDetected": serializers.BooleanField(allow_null=True),
        "busy": serializers.BooleanField(),
        "busySince": serializers.DateTimeField(allow_null=True),
        "lastCaptureAt": serializers.DateTimeField(allow_null=True),
        "lastError": serializers.CharField(allow_null=True),
        "lastErrorAt": serializers.DateTimeField(allow_null=True),
        "backend": serializers.CharField(),
        "simulated": serializers.BooleanField(),
        "cameras": serializers.ListField(child=serializers.DictField()),
        "detectedAt": serializers.DateTimeField(allow_null=True),
    },
)


class CameraViewSet(viewsets.ViewSet):
    """`/api/camera/...`: take captures and read the camera's status."""

    @extend_schema(
        request=CaptureParamsSerializer,
        responses={
            200: inline_serializer(
                "CaptureDone",
                {"ok": serializers.BooleanField(), "filename": serializers.CharField(), "url": serializers.CharField()},
            ),
            **_CAPTURE_ERRORS,
        },
    )
    @action(detail=False, methods=["post"])
    def capture(self, request: Request) -> Response:
        row = self._capture(request, Capture.Source.API)
        return Response({"ok": True, "filename": row.filename, "url": row.url})

    @extend_schema(
        request=CaptureParamsSerializer,
        responses={
            200: inline_serializer(
                "CaptureQueued",
                {
                    "ok": serializers.BooleanField(),
                    "jobId": serializers.CharField(),
                    "filename": serializers.CharField(),
                    "status": serializers.CharField(),
                    "url": serializers.CharField(),
                },
            ),
            **_CAPTURE_ERRORS,
        },
    )
    @action(detail=False, methods=["post"], url_path="capture-and-analyze")
    def capture_and_analyze(self, request: Request) -> Response:
        service = CaptureService()
        row = self._capture(request, Capture.Source.API_ANALYZE, service)
        # The camera lock is already released: a slow analyzer never holds the camera.
        job_id = service.forward_to_analyzer(row, request.build_absolute_uri(row.url))
        return Response({"ok": True, "jobId": job_id, "filename": row.filename, "status": "queued", "url": row.url})

    @extend_schema(responses={200: _STATUS, 401: _ERROR})
    @action(detail=False, methods=["get"])
    def status(self, request: Request) -> Response:
        return Response(camera_status(settings.CAMERA_INDEX))

    def _capture(self, request: Request, source: str, service: CaptureService | None = None) -> Capture:
        params = CaptureParamsSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        return (service or CaptureService()).capture(params.to_request(settings.CAMERA_INDEX), source)


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("format", enum=Capture.Format.values),
            OpenApiParameter("status", enum=Capture.Status.values),
        ],
        responses={200: CaptureSerializer(many=True), 400: _ERROR, 401: _ERROR, 404: _ERROR},
    ),
    retrieve=extend_schema(responses={200: CaptureDetailSerializer, 401: _ERROR, 404: _ERROR}),
    destroy=extend_schema(
        description="Delete a capture: its row, its analysis jobs, its file and its thumbnails. "
        "409 while it is still running.",
        responses={
            200: inline_serializer(
                "CaptureDeleted",
                {
                    "ok": serializers.BooleanField(),
                    "id": serializers.IntegerField(),
                    "files": serializers.IntegerField(help_text="files removed from the upload directory (0 or 1)"),
                    "thumbnails": serializers.IntegerField(help_text="cached thumbnails removed"),
                },
            ),
            401: _ERROR,
            404: _ERROR,
            409: _ERROR,
        },
    ),
)
class CaptureViewSet(mixins.DestroyModelMixin, viewsets.ReadOnlyModelViewSet):
    """`/api/captures/`: the capture history, newest first; DELETE one to remove it with its files."""

    serializer_class = CaptureSerializer

    def get_queryset(self):
        queryset = Capture.objects.all()
        for field, choices in (("format", Capture.Format.values), ("status", Capture.Status.values)):
            value = self.request.query_params.get(field)
            if value is None:
                continue
            if value not in choices:
                raise ValidationError({field: [f"must be one of {', '.join(choices)}"]})
            queryset = queryset.filter(**{field: value})
        return queryset

    def get_serializer_class(self):
        # One capture comes with its analysis jobs; the list stays light.
        return CaptureDetailSerializer if self.action == "retrieve" else CaptureSerializer

    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        return Response({"ok": True, **self.get_serializer(self.get_object()).data})

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        # 200 with a body rather than 204: every route of this API answers JSON with "ok", and the counts
        # tell a client whether there was a file to delete.
        capture = self.get_object()
        files, thumbnails = capture.delete_with_files()
        return Response({"ok": True, "id": capture.pk, "files": files, "thumbnails": thumbnails})
