"""A schedule as clients give it (the API's camelCase body; the admin form and `manage.py schedule` build the
same body) and as the API shows it.

The capture parameters are validated by the capture's own serializer (capture.camera.params), so a schedule
can't hold what a capture would refuse. One 400 names every bad field, capture and timing alike.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers

from capture.camera.params import (
    CONTROLS,
    PARAMS,
    CaptureParamsSerializer,
    StrictBooleanField,
    StrictIntegerField,
    serializer_field,
)
from capture.schedules.models import Schedule
from capture.schedules.timing import CronSimError, validate_cron

# A schedule's frames get dated names: a fixed file name would only make name_1.jpg, name_2.jpg, ...
CAPTURE_FIELDS = [param for param in PARAMS if param.name != "filename"]
CAPTURE_NAMES = {param.name for param in CAPTURE_FIELDS}
MAX_EVERY_SEC = 366 * 86400
MAX_OFFSET_MIN = 12 * 60

_TIMING_HELP = {
    "everySec": "run every N seconds (an interval schedule; also the interval inside a daylight window)",
    "cron": "a cron expression (minute hour day month weekday) in TIME_ZONE, instead of everySec",
    "daylight": "run every everySec from sunrise to sunset only (needs the LATITUDE and LONGITUDE settings)",
}


class ScheduleBodySerializer(serializers.Serializer):
    """`{"camera": 0, "everySec": 60, "count": 100, "format": "jpg", "width": 1920, ...}`: the capture body
    (without filename) plus when to run."""

    def get_fields(self):
        fields = {
            "name": serializers.CharField(required=False, allow_blank=True, max_length=100),
            "everySec": StrictIntegerField(
                required=False,
                allow_null=True,
                min_value=1,
                max_value=MAX_EVERY_SEC,
                help_text=_TIMING_HELP["everySec"],
            ),
            "cron": serializers.CharField(
                required=False, allow_blank=True, allow_null=True, max_length=100, help_text=_TIMING_HELP["cron"]
            ),
            "daylight": StrictBooleanField(required=False, help_text=_TIMING_HELP["daylight"]),
            "sunriseOffsetMin": StrictIntegerField(
                required=False, min_value=-MAX_OFFSET_MIN, max_value=MAX_OFFSET_MIN, help_text="window starts then"
            ),
            "sunsetOffsetMin": StrictIntegerField(
                required=False, min_value=-MAX_OFFSET_MIN, max_value=MAX_OFFSET_MIN, help_text="window ends then"
            ),
            "startAt": serializers.DateTimeField(required=False, allow_null=True, help_text="no run before"),
            "endAt": serializers.DateTimeField(required=False, allow_null=True, help_text="no run after"),
            "count": StrictIntegerField(
                required=False, allow_null=True, min_value=1, help_text="at most this many runs, then it ends"
            ),
            "enabled": StrictBooleanField(required=False),
        }
        return {**fields, **{param.name: serializer_field(param) for param in CAPTURE_FIELDS}}

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"body": ["expected a JSON object"]})
        errors: dict[str, list] = {}
        for name in data:
            if name == "filename":
                errors[name] = ["a schedule's frames get dated names; leave filename out"]
            elif name not in self.fields:
                errors[name] = ["unknown field"]
        capture = CaptureParamsSerializer(data={name: data[name] for name in data if name in CAPTURE_NAMES})
        if not capture.is_valid():
            errors.update(capture.errors)
        timing_data = {name: data[name] for name in data if name in self.fields and name not in CAPTURE_NAMES}
        try:
            timing = super().to_internal_value(timing_data)
        except serializers.ValidationError as exc:
            errors.update(exc.detail)
            timing = {}
        if not errors:
            errors = _timing_errors(timing, capture.validated_data)
        if errors:
            raise serializers.ValidationError(errors)
        return {**timing, "capture": capture.validated_data}


def _timing_errors(timing: dict, capture: dict) -> dict[str, list[str]]:
    every, cron, daylight = timing.get("everySec"), timing.get("cron") or "", timing.get("daylight", False)
    errors: dict[str, list[str]] = {}
    if cron and (every is not None or daylight):
        errors["cron"] = ["give cron alone: not with everySec or daylight"]
    elif not cron and every is None:
        errors["everySec"] = ["give everySec (seconds), or cron, or daylight with everySec"]
    if cron and "cron" not in errors:
        try:
            validate_cron(cron)
        except CronSimError as exc:
            errors["cron"] = [f"not a cron expression: {exc}"]
    if every is not None and every <= capture["durationSec"]:
        errors["everySec"] = [
            f"must be longer than durationSec ({capture['durationSec']:g} s): a frame ends before the next starts"
        ]
    if daylight and (settings.LATITUDE is None or settings.LONGITUDE is None):
        errors["daylight"] = ["needs the LATITUDE and LONGITUDE settings (where the camera is)"]
    start, end = timing.get("startAt"), timing.get("endAt")
    if start and end and end <= start:
        errors["endAt"] = ["must be after startAt"]
    return errors


def schedule_body(schedule: Schedule) -> dict:
    """The body that would make this schedule (a PATCH is applied on top of it, then validated whole)."""
    return {
        "name": schedule.name,
        **schedule.capture_body,
        "everySec": schedule.every_sec,
        "cron": schedule.cron,
        "daylight": schedule.daylight,
        "sunriseOffsetMin": schedule.sunrise_offset_min,
        "sunsetOffsetMin": schedule.sunset_offset_min,
        "startAt": schedule.start_at.isoformat() if schedule.start_at else None,
        "endAt": schedule.end_at.isoformat() if schedule.end_at else None,
        "count": schedule.count,
        "enabled": schedule.enabled,
    }


def apply_body(schedule: Schedule, values: dict) -> Schedule:
    """Set a validated body's values on `schedule`, work out its next run, and save it."""
    capture = values["capture"]
    schedule.name = values.get("name", schedule.name) or ""
    schedule.camera_index = capture["camera"]
    schedule.format = capture["format"]
    schedule.width, schedule.height, schedule.fps = capture["width"], capture["height"], capture["fps"]
    schedule.duration_sec = capture["durationSec"]
    schedule.controls = {param.name: capture[param.name] for param in CONTROLS if capture.get(param.name) is not None}
    schedule.every_sec = values.get("everySec")
    schedule.cron = values.get("cron") or ""
    schedule.daylight = values.get("daylight", False)
    schedule.sunrise_offset_min = values.get("sunriseOffsetMin", 0)
    schedule.sunset_offset_min = values.get("sunsetOffsetMin", 0)
    schedule.start_at, schedule.end_at = values.get("startAt"), values.get("endAt")
    schedule.count = values.get("count")
    schedule.enabled = values.get("enabled", True)
    now = timezone.now()
    if schedule.pk is None:
        schedule.created_at = now  # an interval's runs count from here: the first one is now
    schedule.next_run_at = schedule.first_run(now)
    schedule.save()
    return schedule


def validated(body: dict) -> dict:
    """The validated values of a body, or ValidationError naming every bad field."""
    serializer = ScheduleBodySerializer(data=body)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class ScheduleSerializer(serializers.ModelSerializer):
    """A schedule as the API shows it (camelCase)."""

    camera = serializers.IntegerField(source="camera_index")
    kind = serializers.ChoiceField(choices=Schedule.Kind.choices, read_only=True)
    durationSec = serializers.FloatField(source="duration_sec")  # noqa: N815
    controls = serializers.DictField(help_text="the camera controls given (the camera's defaults apply to the rest)")
    everySec = serializers.IntegerField(source="every_sec", allow_null=True)  # noqa: N815
    sunriseOffsetMin = serializers.IntegerField(source="sunrise_offset_min")  # noqa: N815
    sunsetOffsetMin = serializers.IntegerField(source="sunset_offset_min")  # noqa: N815
    startAt = serializers.DateTimeField(source="start_at", allow_null=True)  # noqa: N815
    endAt = serializers.DateTimeField(source="end_at", allow_null=True)  # noqa: N815
    nextRunAt = serializers.DateTimeField(  # noqa: N815
        source="next_run_at", allow_null=True, help_text="null: disabled, finished, or no run to be found"
    )
    lastRunAt = serializers.DateTimeField(source="last_run_at", allow_null=True)  # noqa: N815
    lastError = serializers.CharField(source="last_error")  # noqa: N815
    framesTaken = serializers.IntegerField(source="frames_taken")  # noqa: N815
    framesFailed = serializers.IntegerField(source="frames_failed")  # noqa: N815
    framesMissed = serializers.IntegerField(  # noqa: N815
        source="frames_missed", help_text="skipped: the worker was down, or the camera stayed busy"
    )
    createdAt = serializers.DateTimeField(source="created_at")  # noqa: N815

    class Meta:
        model = Schedule
        fields = [
            "id", "name", "host", "camera", "format", "width", "height", "fps", "durationSec", "controls", "kind",
            "everySec", "cron", "daylight", "sunriseOffsetMin", "sunsetOffsetMin", "startAt", "endAt", "count",
            "enabled", "nextRunAt", "lastRunAt", "lastError", "runs", "framesTaken", "framesFailed", "framesMissed",
            "createdAt",
        ]  # fmt: skip
        read_only_fields = fields
