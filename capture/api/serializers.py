from __future__ import annotations

import math

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from rest_framework import serializers

from capture.camera.backends import CaptureRequest
from capture.filenames import BadFilename, sanitize_filename
from capture.models import Capture


class StrictFloatField(serializers.FloatField):
    """A float that refuses booleans, NaN and infinities (DRF's FloatField lets all three through)."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            self.fail("invalid")
        return value


class CaptureParamsSerializer(serializers.Serializer):
    """The capture body: `{filename?, format, width, height, fps, durationSec}`. Omitted values take the
    configured defaults; present but invalid values are errors (the Node server silently used defaults)."""

    filename = serializers.CharField(required=False, allow_blank=True, max_length=255, trim_whitespace=True)
    format = serializers.ChoiceField(choices=Capture.Format.values, required=False, default="jpg")
    width = serializers.IntegerField(required=False)
    height = serializers.IntegerField(required=False)
    fps = serializers.IntegerField(required=False)
    durationSec = StrictFloatField(required=False)  # noqa: N815 - the API's field name

    def get_fields(self):
        # The bounds are settings, so they're read per instance; declaring them on the fields puts them
        # in the OpenAPI schema too. 0 s would mean "forever" to the camera apps, hence the 0.1 s floor.
        fields = super().get_fields()
        for name, low, high in (
            ("width", 16, settings.CAPTURE_MAX_WIDTH),
            ("height", 16, settings.CAPTURE_MAX_HEIGHT),
            ("fps", 1, settings.CAPTURE_MAX_FPS),
            ("durationSec", 0.1, settings.CAPTURE_MAX_DURATION_SEC),
        ):
            field = fields[name]
            field.min_value, field.max_value = low, high
            field.validators += [MinValueValidator(low), MaxValueValidator(high)]
        return fields

    def to_internal_value(self, data):
        if isinstance(data, dict) and isinstance(data.get("format"), str):
            data = {**data, "format": data["format"].strip().lower()}
        return super().to_internal_value(data)

    # Field validators run even when other fields fail, so one 400 names every bad field. The checks that
    # depend on the format read it from the raw body.

    def _format(self) -> str:
        fmt = self.initial_data.get("format", "jpg") if isinstance(self.initial_data, dict) else "jpg"
        return fmt.strip().lower() if isinstance(fmt, str) else ""

    def validate_width(self, value: int) -> int:
        return _even_for_video(value, self._format())

    def validate_height(self, value: int) -> int:
        return _even_for_video(value, self._format())

    def validate_filename(self, value: str) -> str:
        if not value:
            return ""
        fmt = self._format()
        try:
            return sanitize_filename(value, fmt if fmt in Capture.Format.values else "jpg")
        except BadFilename as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate(self, attrs: dict) -> dict:
        video = attrs["format"] in ("h264", "mp4")
        attrs.setdefault("width", settings.DEFAULT_WIDTH)
        attrs.setdefault("height", settings.DEFAULT_HEIGHT)
        attrs.setdefault("fps", settings.DEFAULT_FPS)
        attrs.setdefault(
            "durationSec", settings.DEFAULT_VIDEO_DURATION_SEC if video else settings.DEFAULT_STILL_DURATION_SEC
        )
        return attrs

    def to_request(self, camera: int = 0) -> CaptureRequest:
        data = self.validated_data
        return CaptureRequest(
            format=data["format"],
            width=data["width"],
            height=data["height"],
            fps=data["fps"],
            duration_sec=data["durationSec"],
            filename=data.get("filename") or "",
            camera=camera,
        )


def _even_for_video(value: int, fmt: str) -> int:
    # H.264 encodes 4:2:0 chroma, which needs even dimensions.
    if fmt in ("h264", "mp4") and value % 2:
        raise serializers.ValidationError(f"must be even for {fmt} video")
    return value


class CaptureSerializer(serializers.ModelSerializer):
    """A Capture row as the history API shows it (camelCase, like the rest of the API)."""

    url = serializers.CharField(read_only=True, allow_null=True)
    durationSec = serializers.FloatField(source="duration_sec")  # noqa: N815
    requestedFilename = serializers.CharField(source="requested_filename")  # noqa: N815
    cameraIndex = serializers.IntegerField(source="camera_index")  # noqa: N815
    sizeBytes = serializers.IntegerField(source="size_bytes", allow_null=True)  # noqa: N815
    requestedAt = serializers.DateTimeField(source="requested_at")  # noqa: N815
    startedAt = serializers.DateTimeField(source="started_at", allow_null=True)  # noqa: N815
    finishedAt = serializers.DateTimeField(source="finished_at", allow_null=True)  # noqa: N815
    cameraMs = serializers.IntegerField(source="camera_ms", allow_null=True)  # noqa: N815
    remuxMs = serializers.IntegerField(source="remux_ms", allow_null=True)  # noqa: N815
    totalMs = serializers.IntegerField(source="total_ms", allow_null=True)  # noqa: N815
    analyzeJobId = serializers.CharField(source="analyze_job_id")  # noqa: N815
    analyzeError = serializers.CharField(source="analyze_error")  # noqa: N815

    class Meta:
        model = Capture
        fields = [
            "id", "filename", "url", "status", "error", "source", "backend", "format", "width", "height", "fps",
            "durationSec", "requestedFilename", "cameraIndex", "sizeBytes", "commands", "requestedAt", "startedAt",
            "finishedAt", "cameraMs", "remuxMs", "totalMs", "analyzeJobId", "analyzeError",
        ]  # fmt: skip
        read_only_fields = fields
