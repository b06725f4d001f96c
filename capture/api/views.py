"""The REST API. Views validate input, call the capture service, and shape the seed's JSON."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view, inline_serializer
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from camsite.env import HOST_NAME
from capture.api.analyze import CaptureDetailSerializer
from capture.api.serializers import CaptureParamsSerializer, CaptureSerializer
from capture.camera.params import control_defaults, parse_capture_request
from capture.camera.registry import MAX_CAMERA_INDEX, Camera, all_cameras, get_camera, known_camera_indexes
from capture.camera.service import CaptureService, captured, refuse_if_busy
from capture.camera.status import CameraSerializer, CameraStatusSerializer, camera_status, camera_summary
from capture.links import SHARE_MAX_SEC, signed_url
from capture.models import ApiToken, Capture

CAPTURE, READ, MANAGE = ApiToken.Scope.CAPTURE.value, ApiToken.Scope.READ.value, ApiToken.Scope.MANAGE.value
_ERROR = inline_serializer("Error", {"ok": serializers.BooleanField(), "error": serializers.CharField()})
_CAPTURE_ERRORS = {code: _ERROR for code in (400, 401, 409, 413, 415, 500, 503, 504)}
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
        return Response(captured(row))

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
        answer = captured(row)
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
    # Sharing a file is reading it: a read token can fetch the file anyway. A link outlives the token's
    # revocation, so its lifetime is bounded (SHARE_MAX_SEC).
    required_scopes = {"list": READ, "retrieve": READ, "destroy": MANAGE, "share": READ}

    def get_queryset(self):
        queryset = Capture.objects.all()
        for field, choices in (("format", Capture.Format.values), ("status", Capture.Status.values)):
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
        host = self.request.query_params.get("host")
        if host is not None:
            if not HOST_NAME.fullmatch(host):
                raise ValidationError({"host": ["must be a host name (letters, digits, '.', '_', '-')"]})
            queryset = queryset.on_host(host)
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
