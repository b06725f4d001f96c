from __future__ import annotations

from rest_framework import serializers

from capture.camera.params import CaptureParamsSerializer
from capture.links import file_url, uploads_protected
from capture.models import Capture, Deletion

__all__ = ["CaptureParamsSerializer", "CapturePinSerializer", "CaptureSerializer", "DeletionSerializer"]


class CaptureSerializer(serializers.ModelSerializer):
    """A Capture row as the history API shows it (camelCase, like the rest of the API)."""

    url = serializers.SerializerMethodField(
        help_text="/uploads/<file> (/uploads/<host>/<file> for another host's), a signed link while files are protected"
    )
    uploadStatus = serializers.CharField(source="upload_status", help_text="object storage: pending, uploaded, failed")  # noqa: N815
    uploadError = serializers.CharField(source="upload_error")  # noqa: N815
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
    fileWidth = serializers.IntegerField(source="file_width", allow_null=True)  # noqa: N815
    fileHeight = serializers.IntegerField(source="file_height", allow_null=True)  # noqa: N815
    scheduleId = serializers.IntegerField(source="schedule_id", allow_null=True)  # noqa: N815
    controls = serializers.DictField(help_text="the camera controls used (API names)")
    metadata = serializers.DictField(allow_null=True, help_text="what the camera reported about the shot")
    warm = serializers.BooleanField(
        help_text="taken by the warm still process (CAMERA_WARM_STILLS): one trigger of a camera that had been "
        "running and settling all along, so durationSec (the auto-exposure time before a cold still) did not apply"
    )

    def get_url(self, capture: Capture) -> str | None:
        # Asked once per answer, not per row: a page of history is one question to the database, not 50.
        if "uploads_protected" not in self.context:
            self.context["uploads_protected"] = uploads_protected()
        return file_url(capture.media_name, protected=self.context["uploads_protected"])

    class Meta:
        model = Capture
        fields = [
            "id", "host", "filename", "url", "status", "error", "source", "backend", "format", "width", "height", "fps",
            "durationSec", "requestedFilename", "cameraIndex", "controls", "sizeBytes", "fileWidth", "fileHeight",
            "metadata", "commands", "requestedAt", "startedAt", "finishedAt", "cameraMs", "remuxMs", "totalMs",
            "analyzeJobId", "analyzeError", "uploadStatus", "uploadError", "pinned", "scheduleId", "warm",
        ]  # fmt: skip
        read_only_fields = fields


class CapturePinSerializer(serializers.Serializer):
    """`PATCH /api/captures/<id>/`: only `pinned` can change (a capture's record is otherwise the camera's)."""

    pinned = serializers.BooleanField(help_text="true: retention never deletes this capture")

    def validate(self, attrs: dict) -> dict:
        unknown = sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        if unknown:
            raise serializers.ValidationError(f"only pinned can be changed, not {', '.join(unknown)}")
        return attrs


class DeletionSerializer(serializers.ModelSerializer):
    """One deleted capture (or orphan file), as `GET /api/deletions/` shows it."""

    captureId = serializers.IntegerField(source="capture_id", allow_null=True)  # noqa: N815
    cameraIndex = serializers.IntegerField(source="camera_index", allow_null=True)  # noqa: N815
    capturedAt = serializers.DateTimeField(source="captured_at", allow_null=True)  # noqa: N815
    deletedAt = serializers.DateTimeField(source="deleted_at")  # noqa: N815
    sizeBytes = serializers.IntegerField(source="size_bytes", help_text="bytes of the file removed")  # noqa: N815
    inTrash = serializers.BooleanField(source="in_trash", help_text="restorable from the admin")  # noqa: N815
    purgedAt = serializers.DateTimeField(source="purged_at", allow_null=True)  # noqa: N815
    restoredAt = serializers.DateTimeField(source="restored_at", allow_null=True)  # noqa: N815
    restoredBy = serializers.CharField(source="restored_by")  # noqa: N815

    class Meta:
        model = Deletion
        fields = [
            "id", "host", "captureId", "filename", "cameraIndex", "source", "format", "capturedAt", "deletedAt",
            "reason", "rule", "by", "sizeBytes", "files", "thumbnails", "inTrash", "purgedAt", "restoredAt",
            "restoredBy",
        ]  # fmt: skip
        read_only_fields = fields
