"""Schedules and timelapse jobs in the admin.

The schedule form is validated by the API's own body serializer (capture.schedules.body), so the admin can't
save what the API would refuse. The list shows each schedule's next run and counters and links to its frames;
actions: Run now, Enable, Disable, Make a timelapse. Timelapse jobs are read-only, with their progress and a
link to the video (a capture with source `timelapse`, played on its page like any MP4).
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from rest_framework.exceptions import APIException, ValidationError

from capture.errors import CaptureError, OtherHost
from capture.schedules import runner, tasks, timelapse
from capture.schedules.body import CAPTURE_NAMES, apply_body, validated
from capture.schedules.models import Schedule, TimelapseJob

# Form field (model name) → the API body's name.
API_NAMES = {
    "name": "name",
    "camera_index": "camera",
    "format": "format",
    "width": "width",
    "height": "height",
    "fps": "fps",
    "duration_sec": "durationSec",
    "every_sec": "everySec",
    "cron": "cron",
    "daylight": "daylight",
    "sunrise_offset_min": "sunriseOffsetMin",
    "sunset_offset_min": "sunsetOffsetMin",
    "start_at": "startAt",
    "end_at": "endAt",
    "count": "count",
    "enabled": "enabled",
}
FORM_NAMES = {api: model for model, api in API_NAMES.items()}


class ScheduleForm(forms.ModelForm):
    class Meta:
        model = Schedule
        fields = [*API_NAMES, "controls"]
        help_texts = {"controls": 'camera controls by their API names, e.g. {"rotation": 180, "awb": "daylight"}'}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:  # a new schedule starts from the capture defaults, a frame a minute
            initial = {
                "format": "jpg",
                "width": settings.DEFAULT_WIDTH,
                "height": settings.DEFAULT_HEIGHT,
                "fps": settings.DEFAULT_FPS,
                "duration_sec": settings.DEFAULT_STILL_DURATION_SEC,
                "every_sec": 60,
                "camera_index": settings.CAMERA_INDEX,
            }
            for name, value in initial.items():
                self.fields[name].initial = value

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        body = {API_NAMES[name]: cleaned.get(name) for name in API_NAMES if cleaned.get(name) not in (None, "")}
        body["daylight"], body["enabled"] = bool(cleaned.get("daylight")), bool(cleaned.get("enabled"))
        for name in ("start_at", "end_at"):
            if cleaned.get(name):
                body[API_NAMES[name]] = cleaned[name].isoformat()
        controls = cleaned.get("controls") or {}
        if not isinstance(controls, dict) or set(controls) - CAPTURE_NAMES:
            self.add_error("controls", "a JSON object of camera controls by their API names")
            return cleaned
        try:
            self.values = validated({**controls, **body})
        except ValidationError as exc:
            for name, problems in exc.detail.items():
                field = FORM_NAMES.get(name, "controls" if name in CAPTURE_NAMES else None)
                for problem in problems if isinstance(problems, list) else [problems]:
                    self.add_error(field, f"{name}: {problem}" if field == "controls" else str(problem))
        return cleaned


class TimelapseActionForm(ActionForm):
    fps = forms.IntegerField(min_value=1, max_value=120, initial=25, required=False, label="Timelapse fps")
    width = forms.IntegerField(min_value=16, max_value=7680, required=False, label="width")


def queue_timelapse(modeladmin, request: HttpRequest, frames, schedule: Schedule | None = None) -> None:
    """Queue a timelapse of `frames` with the fps and width chosen beside the action; say how it went."""
    form = TimelapseActionForm(request.POST)
    form.is_valid()
    fps = form.cleaned_data.get("fps") or 25
    try:
        job = timelapse.submit(
            frames, tasks.TIMELAPSES, fps=fps, width=form.cleaned_data.get("width"), schedule=schedule
        )
    except APIException as exc:
        modeladmin.message_user(request, str(exc.detail), messages.ERROR)
        return
    link = reverse("admin:capture_timelapsejob_change", args=[job.pk])
    modeladmin.message_user(
        request,
        format_html('Queued a timelapse of {} frames at {} fps: <a href="{}">follow it</a>.', job.frames, fps, link),
    )


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    form = ScheduleForm
    action_form = TimelapseActionForm
    list_display = [
        "id",
        "name",
        "host",
        "camera_index",
        "timing",
        "capture",
        "enabled",
        "next_run",
        "last_run_at",
        "frames_link",
        "frames_missed",
        "frames_failed",
        "short_error",
    ]
    list_display_links = ["id", "name"]
    list_filter = ["enabled", "host", "camera_index"]
    search_fields = ["name"]
    actions = ["run_now", "enable", "disable", "make_timelapse"]
    readonly_fields = [
        "host",
        "next_run",
        "runs",
        "frames_taken",
        "frames_failed",
        "frames_missed",
        "last_run_at",
        "last_error",
        "created_at",
    ]
    fieldsets = [
        (None, {"fields": ["name", "enabled", "camera_index"]}),
        ("Capture", {"fields": ["format", "width", "height", "fps", "duration_sec", "controls"]}),
        (
            "When",
            {
                "fields": [
                    "every_sec",
                    "cron",
                    "daylight",
                    "sunrise_offset_min",
                    "sunset_offset_min",
                    "start_at",
                    "end_at",
                    "count",
                ],
                "description": "Every N seconds, or a cron expression (in TIME_ZONE), or daylight (sunrise to "
                "sunset at LATITUDE/LONGITUDE) with every N seconds inside it.",
            },
        ),
        ("State", {"fields": readonly_fields}),
    ]

    @admin.display(description="When")
    def timing(self, schedule: Schedule) -> str:
        if schedule.cron:
            text = f"cron {schedule.cron}"
        elif schedule.daylight:
            text = f"daylight, every {schedule.every_sec} s"
        else:
            text = f"every {schedule.every_sec} s"
        return text + (f", {schedule.runs}/{schedule.count}" if schedule.count else "")

    @admin.display(description="Capture")
    def capture(self, schedule: Schedule) -> str:
        return f"{schedule.format} {schedule.width}×{schedule.height}"

    @admin.display(description="Next run", ordering="next_run_at")
    def next_run(self, schedule: Schedule) -> str:
        if schedule.next_run_at is None:
            return "— (disabled)" if not schedule.enabled else "— (finished)"
        return f"{timezone.localtime(schedule.next_run_at):%Y-%m-%d %H:%M:%S}"

    @admin.display(description="Frames", ordering="frames_taken")
    def frames_link(self, schedule: Schedule) -> str:
        url = reverse("admin:capture_capture_changelist") + f"?schedule__id__exact={schedule.pk}"
        return format_html('<a href="{}">{}</a>', url, schedule.frames_taken)

    @admin.display(description="Last error")
    def short_error(self, schedule: Schedule) -> str:
        return schedule.last_error[:80] + ("…" if len(schedule.last_error) > 80 else "")

    def save_model(self, request: HttpRequest, obj: Schedule, form: ScheduleForm, change: bool) -> None:
        apply_body(obj, form.values)
        runner.queue_if_due(obj, tasks.FRAMES)

    @admin.action(description="Run now (one frame)")
    def run_now(self, request: HttpRequest, queryset) -> None:
        for schedule in queryset:
            try:
                row = runner.run_now(schedule)
            except (CaptureError, OtherHost, ValidationError) as exc:
                self.message_user(request, f"{schedule}: {exc.detail}", messages.ERROR)
            else:
                link = reverse("admin:capture_capture_change", args=[row.pk])
                self.message_user(request, format_html('{}: took <a href="{}">{}</a>.', schedule, link, row.filename))

    @admin.action(description="Enable")
    def enable(self, request: HttpRequest, queryset) -> None:
        for schedule in queryset:
            schedule.enabled = True
            schedule.next_run_at = schedule.first_run()
            schedule.save(update_fields=["enabled", "next_run_at"])
            runner.queue_if_due(schedule, tasks.FRAMES)
        self.message_user(request, f"Enabled {queryset.count()} schedule(s).")

    @admin.action(description="Disable")
    def disable(self, request: HttpRequest, queryset) -> None:
        count = queryset.update(enabled=False, next_run_at=None)
        self.message_user(request, f"Disabled {count} schedule(s).")

    @admin.action(description="Make a timelapse of its frames (fps and width beside the action)")
    def make_timelapse(self, request: HttpRequest, queryset) -> None:
        for schedule in queryset:
            queue_timelapse(self, request, timelapse.frames_of(schedule), schedule)


@admin.register(TimelapseJob)
class TimelapseJobAdmin(admin.ModelAdmin):
    list_display = ["job_id", "host", "schedule", "status", "progress_shown", "fps", "size", "video", "created_at"]
    list_filter = ["status", "host"]
    fields = [
        "job_id", "host", "schedule", "status", "progress_shown", "fps", "width", "height", "error", "video",
        "created_at", "started_at", "finished_at",
    ]  # fmt: skip
    readonly_fields = fields

    @admin.display(description="Progress")
    def progress_shown(self, job: TimelapseJob) -> str:
        return f"{job.frames_done}/{job.frames} frames ({job.progress:.0%})"

    @admin.display(description="Size")
    def size(self, job: TimelapseJob) -> str:
        return f"{job.width}×{job.height}"

    @admin.display(description="Video")
    def video(self, job: TimelapseJob) -> str:
        if job.result_id is None:
            return "—"
        return format_html(
            '<a href="{}">capture #{}</a>', reverse("admin:capture_capture_change", args=[job.result_id]), job.result_id
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
