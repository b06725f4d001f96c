"""The admin's "Take a capture" form, built from the capture parameters' declaration (capture.camera.params):
one field per parameter, and the API's own validation (parse_capture_request) behind it."""

from __future__ import annotations

from django import forms
from django.conf import settings
from rest_framework.exceptions import ValidationError

from capture.camera.params import PARAMS, Param, parse_capture_request, parse_text
from capture.camera.registry import all_cameras
from capture.camera.request import CaptureRequest
from capture.formats import FORMATS

_NUMBER = {"class": "vIntegerField"}
_DEFAULT = ("", "camera default")


def form_field(param: Param) -> forms.Field:
    """A form field for one parameter. Empty always means "the default", so every field is optional."""
    common = {"required": False, "help_text": param.help, "label": param.name}
    if param.kind == "choice":
        return forms.ChoiceField(choices=[_DEFAULT, *((str(c), str(c)) for c in param.choices)], **common)
    if param.kind == "bool":
        return forms.ChoiceField(choices=[_DEFAULT, ("true", "yes"), ("false", "no")], **common)
    if param.kind == "int":
        return forms.IntegerField(widget=forms.NumberInput(attrs=_NUMBER), **common)
    if param.kind == "float":
        return forms.FloatField(widget=forms.NumberInput(attrs={**_NUMBER, "step": "any"}), **common)
    if param.kind == "floats":
        return forms.CharField(max_length=200, widget=forms.TextInput(attrs={"placeholder": "a, b, ..."}), **common)
    return forms.CharField(max_length=255, **common)


class TakeCaptureForm(forms.Form):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for param in PARAMS:
            self.fields[param.name] = form_field(param)
        self.fields["format"].choices = [(fmt.name, fmt.label) for fmt in FORMATS.values()]
        self.fields["format"].initial = "jpg"
        self.fields["camera"] = forms.TypedChoiceField(
            choices=[(camera.index, self._camera_label(camera)) for camera in all_cameras()],
            coerce=int,
            required=False,
            empty_value=None,
            initial=settings.CAMERA_INDEX,
            label="camera",
            help_text=self.fields["camera"].help_text,
        )
        self.fields["width"].initial = settings.DEFAULT_WIDTH
        self.fields["height"].initial = settings.DEFAULT_HEIGHT
        self.fields["fps"].initial = settings.DEFAULT_FPS
        self.fields["durationSec"].widget.attrs["placeholder"] = (
            f"{settings.DEFAULT_STILL_DURATION_SEC:g} (jpg) / {settings.DEFAULT_VIDEO_DURATION_SEC:g} (video)"
        )
        self.fields["filename"].help_text = (
            "Optional. Letters, digits, '.', '_' and '-'; the extension may be left out. "
            "An existing file is never overwritten: the capture gets the next free name."
        )
        self.capture_request: CaptureRequest | None = None

    @staticmethod
    def _camera_label(camera) -> str:
        info = camera.info()
        return f"{camera.index}: {info['model']}" if info else f"{camera.index} (not detected)"

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        body = {}
        for param in PARAMS:
            value = cleaned.get(param.name)
            if value in (None, ""):
                continue
            body[param.name] = parse_text(param, value) if isinstance(value, str) and param.kind != "str" else value
        try:
            self.capture_request = parse_capture_request(body)
        except ValidationError as exc:
            for name, messages in exc.detail.items():
                for message in messages if isinstance(messages, list) else [messages]:
                    self.add_error(name if name in self.fields else None, str(message))
        return cleaned
