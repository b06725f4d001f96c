"""The capture parameters, declared once.

PARAMS drives the API's body (CaptureParamsSerializer below, and so the OpenAPI schema), the options of
`manage.py capture` and the admin's "Take a capture" form. Each entry names the field as the API spells it,
its type, bounds, default and help; the rpicam backend maps the controls to the apps' flags. Bounds that are
settings (CAPTURE_MAX_WIDTH, ...) are read when a serializer is built, so tests and operators can change them.

Per-camera defaults for the controls come from the environment as `CAMERA_<N>_<NAME>` (a camera mounted
upside down: `CAMERA_0_ROTATION=180`); a request's own value wins.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.validators import MaxValueValidator, MinValueValidator
from rest_framework import serializers
from rest_framework.utils.serializer_helpers import BindingDict

from capture.camera.registry import MAX_CAMERA_INDEX, get_camera, known_camera_indexes
from capture.camera.request import CaptureRequest
from capture.filenames import BadFilename, sanitize_filename
from capture.formats import DEFAULT_FORMAT, FORMATS

Bound = float | Callable[[], float] | None


@dataclass(frozen=True)
class Param:
    name: str  # the API's field name
    kind: str  # "int", "float", "bool", "choice", "str" or "floats" (a fixed-length list of floats)
    help: str
    minimum: Bound = None
    maximum: Bound = None
    choices: tuple = ()
    length: int = 0  # for "floats"
    control: bool = True  # a camera control (stored in Capture.controls), not one of the seed's parameters
    cli: str = ""  # option name of `manage.py capture` when it isn't the kebab-case of `name`
    stills_only: bool = False
    needs: str = ""  # a camera capability: "autofocus" or "sensor_hdr"
    example: object = None

    @property
    def option(self) -> str:
        return self.cli or re.sub(r"(?<!^)(?=[A-Z])", "-", self.name).lower()

    def bound(self, which: str) -> float | None:
        value = getattr(self, which)
        return value() if callable(value) else value


def _setting(name: str) -> Callable[[], float]:
    return lambda: getattr(settings, name)


PARAMS: list[Param] = [
    # The seed's parameters.
    Param("format", "choice", "jpg (a still), h264 (raw stream) or mp4", choices=tuple(FORMATS), control=False),
    Param("width", "int", "pixels", 16, _setting("CAPTURE_MAX_WIDTH"), control=False),
    Param("height", "int", "pixels", 16, _setting("CAPTURE_MAX_HEIGHT"), control=False),
    Param("fps", "int", "frames per second (video)", 1, _setting("CAPTURE_MAX_FPS"), control=False),
    # 0 s would mean "forever" to the camera apps, hence the 0.1 s floor.
    Param(
        "durationSec",
        "float",
        "recording time for video; for a jpg the preview (auto-exposure) time before the still (a warm still, "
        "CAMERA_WARM_STILLS, has been settling all along and is taken at once: the row records `warm`)",
        0.1,
        _setting("CAPTURE_MAX_DURATION_SEC"),
        control=False,
        cli="duration",
    ),
    Param("filename", "str", "name of the file in the upload directory (default: a dated name)", control=False),
    Param("camera", "int", "camera index (GET /api/cameras/ lists them)", 0, MAX_CAMERA_INDEX, control=False),
    # Orientation.
    Param("rotation", "choice", "0 or 180 degrees (the only values the camera apps accept)", choices=(0, 180)),
    Param("hflip", "bool", "mirror left to right"),
    Param("vflip", "bool", "flip top to bottom"),
    # Exposure.
    Param("shutterUs", "int", "fixed exposure time in microseconds (default: automatic)", 1, 60_000_000),
    Param("gain", "float", "fixed analogue gain (default: automatic)", 1.0, 64.0),
    Param("ev", "float", "exposure compensation in stops", -10.0, 10.0),
    Param("metering", "choice", "metering mode", choices=("centre", "spot", "average")),
    Param("exposure", "choice", "exposure profile", choices=("normal", "sport", "long")),
    # Colour.
    Param(
        "awb",
        "choice",
        "white balance mode",
        choices=("auto", "incandescent", "tungsten", "fluorescent", "indoor", "daylight", "cloudy", "custom"),
    ),
    Param("awbGains", "floats", "fixed white balance as [red, blue] gains", 0.1, 32.0, length=2, example=[1.5, 1.2]),
    Param("brightness", "float", "-1 (black) to 1 (white); 0 is normal", -1.0, 1.0),
    Param("contrast", "float", "1 is normal", 0.0, 32.0),
    Param("saturation", "float", "1 is normal, 0 is greyscale", 0.0, 32.0),
    Param("sharpness", "float", "1 is normal sharpening", 0.0, 16.0),
    Param("denoise", "choice", "denoise mode", choices=("auto", "off", "cdn_off", "cdn_fast", "cdn_hq")),
    # Output.
    Param("quality", "int", "JPEG quality (jpg only)", 1, 100, stills_only=True),
    # Focus: only cameras with a motorised lens (Camera Module 3 and alike).
    Param(
        "autofocusMode",
        "choice",
        "autofocus mode (cameras with autofocus only)",
        choices=("default", "manual", "auto", "continuous"),
        needs="autofocus",
    ),
    Param(
        "lensPosition",
        "float",
        "lens position in dioptres, 0 is infinity (cameras with autofocus only)",
        0.0,
        32.0,
        needs="autofocus",
    ),
    Param(
        "hdr",
        "choice",
        "high dynamic range: sensor HDR (auto, sensor) where the camera has it, or PiSP single-exp on a Pi 5",
        choices=("off", "auto", "sensor", "single-exp"),
    ),
    Param(
        "roi", "floats", "region of interest [x, y, w, h] as fractions of the frame (digital zoom)", 0.0, 1.0, length=4
    ),
]
PARAMS_BY_NAME = {param.name: param for param in PARAMS}
CONTROLS = [param for param in PARAMS if param.control]
# `hdr: auto|sensor` needs the sensor's own HDR; single-exp is done by the Pi 5's ISP on any sensor.
SENSOR_HDR_MODES = ("auto", "sensor")


def parse_text(param: Param, text: str) -> object:
    """A value as given on a command line, a form or in the environment, before validation: lists are
    comma-separated (`1.5,1.2`), booleans are true/false/1/0/yes/no."""
    text = text.strip()
    if param.kind == "floats":
        return [part.strip() for part in text.split(",")]
    if param.kind == "bool":
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
    return text


class StrictFloatField(serializers.FloatField):
    """A float that refuses booleans, NaN and infinities (DRF's FloatField lets all three through)."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            self.fail("invalid")
        return value


class StrictIntegerField(serializers.IntegerField):
    """An integer that refuses booleans (`true` is not camera 1)."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """true/false (and 1/0, "true"/"false"), but not any other number."""

    def to_internal_value(self, data):
        if isinstance(data, (int, float)) and not isinstance(data, bool) and data not in (0, 1):
            self.fail("invalid", input=data)
        return super().to_internal_value(data)


def serializer_field(param: Param) -> serializers.Field:
    """The DRF field for one parameter, with its bounds (so they reach the OpenAPI schema too)."""
    low, high = param.bound("minimum"), param.bound("maximum")
    common = {"required": False, "help_text": param.help}
    if param.kind == "choice":
        return serializers.ChoiceField(choices=list(param.choices), **common)
    if param.kind == "bool":
        return StrictBooleanField(**common)
    if param.kind == "str":
        return serializers.CharField(allow_blank=True, max_length=255, trim_whitespace=True, **common)
    if param.kind == "floats":
        child = StrictFloatField(min_value=low, max_value=high, validators=_bounds(low, high))
        return serializers.ListField(child=child, min_length=param.length, max_length=param.length, **common)
    number = StrictIntegerField if param.kind == "int" else StrictFloatField
    return number(min_value=low, max_value=high, validators=_bounds(low, high), **common)


def _bounds(low: float | None, high: float | None) -> list:
    return [v for v in (MinValueValidator(low) if low is not None else None, MaxValueValidator(high)) if v]


class CaptureParamsSerializer(serializers.Serializer):
    """The capture body: the seed's `{filename?, format, width, height, fps, durationSec}` plus `camera` and the
    camera controls. Omitted values take the configured defaults; present but invalid values are errors (the
    Node server silently used defaults). One 400 names every bad field."""

    @cached_property
    def fields(self):
        return _bound_fields()

    def to_internal_value(self, data):
        if isinstance(data, dict) and isinstance(data.get("format"), str):
            data = {**data, "format": data["format"].strip().lower()}
        return super().to_internal_value(data)

    # Field validators run even when other fields fail, so one 400 names every bad field. The checks that
    # depend on the format read it from the raw body.

    def _format(self) -> str:
        fmt = self.initial_data.get("format", DEFAULT_FORMAT) if isinstance(self.initial_data, dict) else ""
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
            return sanitize_filename(value, FORMATS[fmt].extension if fmt in FORMATS else DEFAULT_FORMAT)
        except BadFilename as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate_camera(self, value: int) -> int:
        indexes = known_camera_indexes()
        if indexes and value not in indexes:
            listed = ", ".join(str(index) for index in indexes)
            raise serializers.ValidationError(f"camera {value} is not detected; the cameras are: {listed}")
        return value

    def validate(self, attrs: dict) -> dict:
        attrs.setdefault("format", DEFAULT_FORMAT)
        video = FORMATS[attrs["format"]].video
        attrs.setdefault("width", settings.DEFAULT_WIDTH)
        attrs.setdefault("height", settings.DEFAULT_HEIGHT)
        attrs.setdefault("fps", settings.DEFAULT_FPS)
        attrs.setdefault(
            "durationSec", settings.DEFAULT_VIDEO_DURATION_SEC if video else settings.DEFAULT_STILL_DURATION_SEC
        )
        attrs.setdefault("camera", settings.CAMERA_INDEX)
        camera = get_camera(attrs["camera"])
        errors: dict[str, list[str]] = {}
        for param in CONTROLS:
            value = attrs.get(param.name)
            if value is None:
                continue
            if param.stills_only and video:
                errors[param.name] = [f"applies to jpg stills only, not {attrs['format']}"]
            elif param.needs == "autofocus" and not camera.has_autofocus:
                errors[param.name] = [f"camera {camera.index} ({camera.model}) has no autofocus"]
            elif param.name == "hdr" and value in SENSOR_HDR_MODES and not camera.has_sensor_hdr:
                errors[param.name] = [
                    f"camera {camera.index} ({camera.model}) has no sensor HDR; use hdr: single-exp (Pi 5) or off"
                ]
        roi = attrs.get("roi")
        if (
            roi is not None
            and "roi" not in errors
            and (roi[2] <= 0 or roi[3] <= 0 or roi[0] + roi[2] > 1 or roi[1] + roi[3] > 1)
        ):
            errors["roi"] = ["must be [x, y, w, h] with w and h above 0 and the region inside the frame"]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def to_request(self) -> CaptureRequest:
        data = self.validated_data
        given = {param.name: data[param.name] for param in CONTROLS if data.get(param.name) is not None}
        video = FORMATS[data["format"]].video
        defaults = {
            name: value
            for name, value in control_defaults(data["camera"]).items()
            if not (PARAMS_BY_NAME[name].stills_only and video)
        }
        return CaptureRequest(
            format=data["format"],
            width=data["width"],
            height=data["height"],
            fps=data["fps"],
            duration_sec=data["durationSec"],
            filename=data.get("filename") or "",
            camera=data["camera"],
            controls={**defaults, **given},
        )


_fields_cache: tuple[tuple, BindingDict] | None = None
# The bounds that are settings (CAPTURE_MAX_WIDTH, ...): the fields are built again when one changes.
_SETTING_BOUNDS = [bound for param in PARAMS for bound in (param.minimum, param.maximum) if callable(bound)]


def _bound_fields() -> BindingDict:
    """The body's 27 fields, built once for the bounds in force (settings may change them, in tests).

    Building them is most of a capture body's validation time (0.6 ms of 0.9). A field holds no state while it
    validates, so one set serves every request and thread; they are bound to a bare serializer of their own,
    as DRF binds a field only once. The `validate_<name>` methods still run on each request's serializer."""
    global _fields_cache
    bounds = tuple(setting() for setting in _SETTING_BOUNDS)
    cached = _fields_cache
    if cached is None or cached[0] != bounds:
        fields = BindingDict(serializers.Serializer())
        for param in PARAMS:
            fields[param.name] = serializer_field(param)
        cached = _fields_cache = (bounds, fields)
    return cached[1]


def _even_for_video(value: int, fmt: str) -> int:
    # H.264 encodes 4:2:0 chroma, which needs even dimensions.
    if fmt in FORMATS and FORMATS[fmt].video and value % 2:
        raise serializers.ValidationError(f"must be even for {fmt} video")
    return value


def parse_capture_request(body: dict) -> CaptureRequest:
    """Validate a capture body (API names) and return the request; ValidationError names every bad field.
    The API, the admin form and the command line all come through here."""
    params = CaptureParamsSerializer(data=body)
    params.is_valid(raise_exception=True)
    return params.to_request()


def control_defaults(index: int) -> dict[str, object]:
    """The validated defaults for camera `index`; ImproperlyConfigured names a bad variable."""
    raw = settings.CAMERA_CONTROL_DEFAULTS.get(index, {})
    if not raw:
        return {}
    by_env_name = {_env_name(param): param for param in CONTROLS}
    result: dict[str, object] = {}
    for env_suffix, text in raw.items():
        variable = f"CAMERA_{index}_{env_suffix}"
        param = by_env_name.get(env_suffix)
        if param is None:
            known = ", ".join(sorted(by_env_name))
            raise ImproperlyConfigured(f"{variable}: no such camera control (known: {known})")
        field_ = serializer_field(param)
        try:
            value = field_.run_validation(parse_text(param, text))
        except serializers.ValidationError as exc:
            detail = exc.detail[0] if isinstance(exc.detail, list) else exc.detail
            raise ImproperlyConfigured(f"{variable}={text!r}: {detail}") from None
        result[param.name] = value
    return result


def _env_name(param: Param) -> str:
    """`awbGains` -> `AWB_GAINS`, as in CAMERA_0_AWB_GAINS."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", param.name).upper()
