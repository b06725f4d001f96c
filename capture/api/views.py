"""The REST API. Views validate input, call the capture service, and shape the seed's JSON."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from capture.api.analyze import CaptureDetailSerializer
from capture.api.filters import host_param
from capture.api.serializers import (
    CaptureParamsSerializer,
    CapturePinSerializer,
    CaptureSerializer,
    DeletionSerializer,
)
from capture.camera.params import control_defaults, parse_capture_request
from capture.camera.registry import MAX_CAMERA_INDEX, Camera, all_cameras, get_camera, known_camera_indexes
from capture.camera.service import CaptureService, captured, refuse_if_busy
from capture.camera.status import CameraSerializer, CameraStatusSerializer, camera_status, camera_summary
from capture.errors import CaptureRunning
from capture.links import SHARE_MAX_SEC, signed_url
from capture.models import ApiToken, Capture, Deletion

CAPTURE, READ, MANAGE = ApiToken.Scope.CAPTURE.value, ApiToken.Scope.READ.value, ApiToken.Scope.MANAGE.value
_ERROR = inline_serializer("Error", {"ok": serializers.BooleanField(), "error": serializers.CharField()})
_CAPTURE_ERRORS = {code: _ERROR for code in (400, 401, 409, 413, 415, 500, 503, 504)}
# 507: the capture would take the upload filesystem's free space below the retention floor.
_CAPTURE_ERRORS[507] = OpenApiResponse(
    _ERROR,
    description="Insufficient storage: the capture would leave less free space than the floor "
    "(RETENTION_MIN_FREE_BYTES or a retention rule's), even after retention deleted what it may. "
    "Refused before the camera starts; the error names the floor and the free space.",
)
_CAPTURED = {
    "ok": serializers.BooleanField(),
    "filename": serializers.CharField(),
    "url": serializers.CharField(),
    "camera": serializers.IntegerField(),
    "width": serializers.IntegerField(help_text="the file's real width (the camera may round what was asked)"),
    "height": serializers.IntegerField(help_text="the file's real height"),
    "sizeBytes": serializers.IntegerField(),
    "metadata": serializers.DictField(allow_null=True, help_text="what the camera reported (jpg on rpicam)"),
}


class CameraViewSet(viewsets.ViewSet):
    """`/api/camera/...`: the seed's routes. Captures take `camera` in the body (default CAMERA_INDEX)."""

    required_scopes = {"capture": CAPTURE, "capture_and_analyze": CAPTURE, "status": READ}

    @extend_schema(
        request=CaptureParamsSerializer,
        responses={200: inline_serializer("CaptureDone", _CAPTURED), **_CAPTURE_ERRORS},
    )
    @action(detail=False, methods=["post"])
    def capture(self, request: Request) -> Response:
        refuse_if_busy(request.data)
        row = CaptureService().capture(parse_capture_request(request.data), Capture.Source.API)
        return Response(captured(row, request._request))

    @extend_schema(
        request=CaptureParamsSerializer,
        responses={
            200: inline_serializer(
                "CaptureQueued", {**_CAPTURED, "jobId": serializers.CharField(), "status": serializers.CharField()}
            ),
            **_CAPTURE_ERRORS,
        },
    )
    @action(detail=False, methods=["post"], url_path="capture-and-analyze")
    def capture_and_analyze(self, request: Request) -> Response:
        refuse_if_busy(request.data)
        service = CaptureService()
        row = service.capture(parse_capture_request(request.data), Capture.Source.API_ANALYZE)
        # The camera lock is already released: a slow analyzer never holds the camera.
        answer = captured(row, request._request)
        job_id = service.forward_to_analyzer(row, request.build_absolute_uri(answer["url"]))
        return Response({**answer, "jobId": job_id, "status": "queued"})

    @extend_schema(responses={200: CameraStatusSerializer, 401: _ERROR})
    @action(detail=False, methods=["get"])
    def status(self, request: Request) -> Response:
        return Response(camera_status(get_camera(settings.CAMERA_INDEX)))


class _ObjectAnswers(AutoSchema):
    """The camera list answers `{"ok": true, "cameras": [...]}` like every route, not a bare JSON array."""

    def _is_list_view(self, serializer=None) -> bool:
        return False


class CamerasViewSet(viewsets.ViewSet):
    """`/api/cameras/`: every camera of this Pi, one camera, and one camera's status."""

    schema = _ObjectAnswers()
    required_scopes = {"list": READ, "retrieve": READ, "status": READ}
    lookup_field = "index"
    lookup_value_regex = "[0-9]+"

    @extend_schema(
        responses={
            200: inline_serializer(
                "CameraList",
                {
                    "ok": serializers.BooleanField(),
                    "host": serializers.CharField(help_text="this server's CAMSITE_HOST: the cameras are its own"),
                    "cameras": CameraSerializer(many=True),
                },
            ),
            401: _ERROR,
        }
    )
    def list(self, request: Request) -> Response:
        cameras = all_cameras()
        detection = get_camera().detection(wait=True)
        return Response(
            {"ok": True, "host": settings.CAMSITE_HOST, "cameras": [_summary(camera, detection) for camera in cameras]}
        )

    @extend_schema(
        responses={
            200: inline_serializer("CameraDetail", {"ok": serializers.BooleanField(), **CameraSerializer().fields}),
            401: _ERROR,
            404: _ERROR,
        }
    )
    def retrieve(self, request: Request, index: str | None = None) -> Response:
        camera = _camera_or_404(index)
        return Response({"ok": True, **_summary(camera, camera.detection(wait=True))})

    @extend_schema(responses={200: CameraStatusSerializer, 401: _ERROR, 404: _ERROR})
    @action(detail=True, methods=["get"])
    def status(self, request: Request, index: str | None = None) -> Response:
        return Response(camera_status(_camera_or_404(index)))


def requester(request: Request) -> str:
    """Who asked, for the deletion audit: the token's label (never its secret)."""
    token = request.auth
    return f"token {token.label}" if token is not None else "api (auth off)"


def _camera_or_404(index: str | None) -> Camera:
    number = int(index or 0)
    known = known_camera_indexes()
    if number != settings.CAMERA_INDEX and number not in known:
        listed = ", ".join(str(i) for i in known) or "none"
        raise NotFound(f"No camera {number}: the cameras are {listed}")
    return get_camera(number)


def _summary(camera: Camera, detection) -> dict:
    return camera_summary(camera, detection, control_defaults(camera.index))


class ShareSerializer(serializers.Serializer):
    expiresSec = serializers.IntegerField(  # noqa: N815
        min_value=60,
        max_value=SHARE_MAX_SEC,
        default=lambda: settings.SIGNED_URL_TTL_SEC,
        help_text=f"the link's lifetime (default SIGNED_URL_TTL_SEC, at most {SHARE_MAX_SEC} s: 7 days)",
    )


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("format", enum=Capture.Format.values),
            OpenApiParameter("status", enum=Capture.Status.values),
            OpenApiParameter("camera", int, description="camera index (on each host)"),
            OpenApiParameter("host", str, description="the server that took it (CAMSITE_HOST)"),
            OpenApiParameter("source", enum=Capture.Source.values, description="who took it"),
            OpenApiParameter("schedule", int, description="a schedule's frames (and timelapses)"),
        ],
        responses={200: CaptureSerializer(many=True), 400: _ERROR, 401: _ERROR, 404: _ERROR},
    ),
    retrieve=extend_schema(responses={200: CaptureDetailSerializer, 401: _ERROR, 404: _ERROR}),
    partial_update=extend_schema(
        description='Pin a capture (`{"pinned": true}`: retention rules never delete it) or unpin it. '
        "Only `pinned` can be changed; 409 while the capture is still running.",
        request=CapturePinSerializer,
        responses={200: CaptureDetailSerializer, 400: _ERROR, 401: _ERROR, 403: _ERROR, 404: _ERROR, 409: _ERROR},
    ),
    destroy=extend_schema(
        description="Delete a capture: its row and its analysis jobs; its file and its thumbnails go to the "
        "trash (restorable from the admin for TRASH_RETENTION_DAYS), and the deletion is recorded (GET "
        "/api/deletions/) with the token's label. 409 while it is still running.",
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
    # Sharing a file is reading it: a read token can fetch the file anyway. A link outlives the token's
    # revocation, so its lifetime is bounded (SHARE_MAX_SEC).
    required_scopes = {"list": READ, "retrieve": READ, "partial_update": MANAGE, "destroy": MANAGE, "share": READ}

    def get_queryset(self):
        queryset = Capture.objects.all()
        for field, choices in (
            ("format", Capture.Format.values),
            ("status", Capture.Status.values),
            ("source", Capture.Source.values),
        ):
            value = self.request.query_params.get(field)
            if value is None:
                continue
            if value not in choices:
                raise ValidationError({field: [f"must be one of {', '.join(choices)}"]})
            queryset = queryset.filter(**{field: value})
        camera = self.request.query_params.get("camera")
        if camera is not None:
            if not camera.isdigit() or int(camera) > MAX_CAMERA_INDEX:
                raise ValidationError({"camera": [f"must be a camera index (0-{MAX_CAMERA_INDEX})"]})
            queryset = queryset.filter(camera_index=int(camera))
        if (host := host_param(self.request)) is not None:
            queryset = queryset.on_host(host)
        schedule = self.request.query_params.get("schedule")
        if schedule is not None:
            if not schedule.isdigit() or len(schedule) > 18:
                raise ValidationError({"schedule": ["must be a schedule id"]})
            queryset = queryset.filter(schedule_id=int(schedule))
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
        files, thumbnails = capture.delete_with_files(by=requester(request))
        return Response({"ok": True, "id": capture.pk, "files": files, "thumbnails": thumbnails})

    def partial_update(self, request: Request, *args, **kwargs) -> Response:
        body = CapturePinSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        capture = self.get_object()
        # Conditional: the service writes a running capture's whole row when it ends, which would undo a pin.
        pinned = body.validated_data["pinned"]
        if not Capture.objects.filter(pk=capture.pk).exclude(status=Capture.Status.RUNNING).update(pinned=pinned):
            raise CaptureRunning(capture.pk)
        capture.refresh_from_db()
        return Response({"ok": True, **CaptureDetailSerializer(capture, context=self.get_serializer_context()).data})

    @extend_schema(
        request=ShareSerializer,
        responses={
            200: inline_serializer(
                "CaptureShared",
                {
                    "ok": serializers.BooleanField(),
                    "url": serializers.CharField(help_text="/uploads/<file>?sig=..., opens the file until expiresAt"),
                    "expiresAt": serializers.DateTimeField(),
                },
            ),
            400: _ERROR,
            404: _ERROR,
        },
    )
    @action(detail=True, methods=["post"])
    def share(self, request: Request, pk: str | None = None) -> Response:
        body = ShareSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        capture = self.get_object()
        if capture.status != Capture.Status.OK or not capture.filename:
            raise NotFound(f"Capture {capture.pk} has no file to share")
        url, expires_at = signed_url(capture.media_name, body.validated_data["expiresSec"])
        return Response({"ok": True, "url": url, "expiresAt": expires_at})


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("reason", enum=Deletion.Reason.values),
            OpenApiParameter("host", str, description="the server whose capture it was (its trash is there)"),
        ],
        responses={200: DeletionSerializer(many=True), 400: _ERROR, 401: _ERROR, 404: _ERROR},
    ),
    retrieve=extend_schema(responses={200: DeletionSerializer, 401: _ERROR, 404: _ERROR}),
)
class DeletionViewSet(viewsets.ReadOnlyModelViewSet):
    """`/api/deletions/`: the audit of every deletion, newest first: by a retention rule (which one), by a
    person or token (who), or by reconcile; with the bytes and whether the file is still in the trash."""

    serializer_class = DeletionSerializer
    required_scopes = {"list": READ, "retrieve": READ}

    def get_queryset(self):
        queryset = Deletion.objects.all()
        reason = self.request.query_params.get("reason")
        if reason is not None:
            if reason not in Deletion.Reason.values:
                raise ValidationError({"reason": [f"must be one of {', '.join(Deletion.Reason.values)}"]})
            queryset = queryset.filter(reason=reason)
        if (host := host_param(self.request)) is not None:
            queryset = queryset.filter(host=host)
        return queryset

    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        return Response({"ok": True, **self.get_serializer(self.get_object()).data})
