"""The admin's "Take a capture" form. Its rules are the API's: the data goes through CaptureParamsSerializer."""

from __future__ import annotations

from django import forms
from django.conf import settings

from capture.api.serializers import CaptureParamsSerializer
from capture.camera.backends import CaptureRequest
from capture.models import Capture

# Form field -> the API's name for it.
API_NAMES = {
    "format": "format",
    "width": "width",
    "height": "height",
    "fps": "fps",
    "duration_sec": "durationSec",
    "filename": "filename",
}


class TakeCaptureForm(forms.Form):
    format = forms.ChoiceField(choices=Capture.Format.choices, initial=Capture.Format.JPG)
    width = forms.IntegerField(required=False, widget=forms.NumberInput(attrs={"class": "vIntegerField"}))
    height = forms.IntegerField(required=False, widget=forms.NumberInput(attrs={"class": "vIntegerField"}))
    fps = forms.IntegerField(required=False, label="FPS", widget=forms.NumberInput(attrs={"class": "vIntegerField"}))
    duration_sec = forms.FloatField(
        required=False,
        label="Duration (s)",
        widget=forms.NumberInput(attrs={"class": "vIntegerField", "step": "any"}),
    )
    filename = forms.CharField(
        required=False,
        max_length=255,
        help_text="Optional. Letters, digits, '.', '_' and '-'; the extension may be left out. "
        "An existing file is never overwritten: the capture gets the next free name.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["width"].initial = settings.DEFAULT_WIDTH
        self.fields["height"].initial = settings.DEFAULT_HEIGHT
        self.fields["fps"].initial = settings.DEFAULT_FPS
        self.fields["duration_sec"].widget.attrs["placeholder"] = (
            f"{settings.DEFAULT_STILL_DURATION_SEC:g} (jpg) / {settings.DEFAULT_VIDEO_DURATION_SEC:g} (video)"
        )
        self.fields[
            "duration_sec"
        ].help_text = "For a jpg, the preview (auto-exposure) time before the still. Empty takes the default."
        self.capture_request: CaptureRequest | None = None

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        body = {API_NAMES[name]: value for name, value in cleaned.items() if value not in (None, "")}
        params = CaptureParamsSerializer(data=body)
        if not params.is_valid():
            fields = {api: name for name, api in API_NAMES.items()}
            for api_name, messages in params.errors.items():
                for message in messages:
                    self.add_error(fields.get(api_name), str(message))
            return cleaned
        self.capture_request = params.to_request(settings.CAMERA_INDEX)
        return cleaned
