"""The capture gallery in the Django admin.

Rows come only from captures: there is no add or edit form. The list shows a thumbnail of every capture and a
summary of the last days; the detail page previews the media and shows every stored field read-only; "Take a
capture" runs the capture service (same lock as the API) with source `admin`; "Delete with files" removes rows
with their files and thumbnails. Rendering the list never runs a subprocess: thumbnails are separate requests
(thumbnail_view), made once and cached on disk by capture.thumbnails.
"""

from __future__ import annotations

import json
import shlex

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.views.decorators.cache import never_cache

from capture import (
    events_admin,  # noqa: F401 - registers the webhooks' and deliveries' admins
    integrations,
    offload,
    retention_admin,  # noqa: F401 - registers retention's admin
    token_admin,  # noqa: F401 - registers the API tokens' admin
)
from capture.analysis import jobs, tasks
from capture.camera.params import CONTROLS
from capture.camera.preview import live_views
from capture.camera.registry import all_cameras
from capture.camera.service import CaptureService
from capture.errors import CameraBusy, CaptureError, CaptureRunning
from capture.forms import TakeCaptureForm
from capture.links import SHARE_MAX_SEC, signed_url
from capture.models import AnalysisJob, Capture
from capture.schedules.admin import TimelapseActionForm, queue_timelapse  # also registers the schedules' admin
from capture.storage import THUMBNAIL_SIZES
from capture.summary import capture_summary
from capture.thumbnails import ensure_thumbnail
from capture.uploads import serve_file

LIST_THUMBNAIL_WIDTH = 112  # CSS pixels; the "small" thumbnail is 320 wide, sharp on 2x screens

admin.site.site_header = "Camera capture server"
admin.site.site_title = "Camera captures"
# The site has two apps; the sidebar that lists them would take the width the gallery's columns need.
admin.site.enable_nav_sidebar = False


SHARE_EXPIRIES = [(3600, "1 hour"), (86400, "24 hours"), (SHARE_MAX_SEC, "7 days")]


class ShareActionForm(TimelapseActionForm):
    """The action bar, with the lifetime of the links "Share link" makes (and a timelapse's fps and width)."""

    expires = forms.TypedChoiceField(choices=SHARE_EXPIRIES, coerce=int, initial=86400, required=False, label="Links")


class SourceFilter(admin.SimpleListFilter):
    """By source, named as the API and the README name them (`api-analyze`, not "Api Analyze")."""

    title = "source"
    parameter_name = "source"

    def lookups(self, request, model_admin):
        return [(source, source) for source in Capture.Source.values]

    def queryset(self, request, queryset):
        return queryset.filter(source=self.value()) if self.value() else queryset


class CreatedFilter(admin.DateFieldListFilter):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.title = "date"


@admin.register(Capture)
class CaptureAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "thumbnail",
        "host",
        "file_link",
        "format_label",
        "resolution",
        "fps",
        "duration",
        "status_badge",
        "size",
        "created",
        "total_ms",
        "source_name",
        "pinned",
    ]
    list_display_links = ["id", "thumbnail"]
    list_filter = [
        "host",
        "camera_index",
        "format",
        "status",
        SourceFilter,
        ("requested_at", CreatedFilter),
        "backend",
        "pinned",
        "schedule",
    ]
    search_fields = ["filename", "requested_filename"]
    date_hierarchy = "requested_at"
    list_per_page = 50
    actions = ["delete_selected", "analyze_again", "share_link", "make_timelapse", "pin", "unpin"]
    action_form = ShareActionForm
    change_list_template = "admin/capture/capture/change_list.html"
    change_form_template = "admin/capture/capture/change_form.html"
    delete_confirmation_template = "admin/capture/capture/delete_confirmation.html"
    delete_selected_confirmation_template = "admin/capture/capture/delete_selected_confirmation.html"

    fieldsets = [
        (
            None,
            {
                "fields": [
                    "file_link",
                    "status_badge",
                    "error",
                    "host",
                    "source_name",
                    "schedule",
                    "backend",
                    "pinned",
                    "warm",
                ]
            },  # fmt: skip
        ),
        (
            "Parameters",
            {
                "fields": [
                    "camera_index",
                    "format",
                    "width",
                    "height",
                    "fps",
                    "duration_sec",
                    "requested_filename",
                    "controls_used",
                ]
            },
        ),
        ("File", {"fields": ["filename", "size_bytes", "file_width", "file_height"]}),
        ("What the camera reported", {"fields": ["camera_metadata"]}),
        ("Commands", {"fields": ["commands_run"]}),
        (
            "Timing",
            {"fields": ["requested_at_ms", "started_at_ms", "finished_at_ms", "camera_ms", "remux_ms", "total_ms"]},
        ),
        ("Analyzer", {"fields": ["analyze_job_id", "analyze_error"]}),
        ("Object storage", {"fields": ["upload_status", "upload_error", "upload_attempts", "uploaded_at"]}),
    ]
    readonly_fields = [
        *(field.name for field in Capture._meta.fields),
        "file_link",
        "status_badge",
        "size",
        "source_name",
        "commands_run",
        "controls_used",
        "camera_metadata",
        "requested_at_ms",
        "started_at_ms",
        "finished_at_ms",
    ]

    class Media:
        css = {"all": ["capture/admin.css"]}

    # --- List columns. Each reads only the row's own fields: no query and no file access per row. ---

    @admin.display(description="Preview")
    def thumbnail(self, capture: Capture) -> str:
        if not capture.filename:
            return format_html('<span class="capture-thumb capture-thumb-none">{}</span>', "no file")
        height = round(LIST_THUMBNAIL_WIDTH * capture.height / capture.width) if capture.width else 72
        return format_html(
            '<span class="capture-thumb-frame{}"><img class="capture-thumb" src="{}" width="{}" height="{}" '
            'loading="lazy" alt="{}"></span>',
            "" if capture.format == Capture.Format.JPG else " capture-thumb-video",
            thumbnail_url(capture, "small"),
            LIST_THUMBNAIL_WIDTH,
            min(height, 2 * LIST_THUMBNAIL_WIDTH),
            f"{capture.get_format_display()} {capture.filename}",
        )

    @admin.display(description="File", ordering="filename")
    def file_link(self, capture: Capture) -> str:
        if not capture.url:
            return "—"
        return format_html('<a href="{}">{}</a>', capture.url, capture.filename)

    @admin.display(description="Format", ordering="format")
    def format_label(self, capture: Capture) -> str:
        return capture.format.upper()

    @admin.display(description="Resolution")
    def resolution(self, capture: Capture) -> str:
        return f"{capture.width}×{capture.height}"

    @admin.display(description="Duration", ordering="duration_sec")
    def duration(self, capture: Capture) -> str:
        return f"{capture.duration_sec:g} s"

    @admin.display(description="Status", ordering="status")
    def status_badge(self, capture: Capture) -> str:
        return format_html(
            '<span class="capture-status capture-status-{}" title="{}">{}</span>',
            capture.status,
            capture.error,
            capture.status,
        )

    @admin.display(description="Created", ordering="requested_at")
    def created(self, capture: Capture) -> str:
        local = timezone.localtime(capture.requested_at)
        return format_html('{}<br><span class="capture-time">{}</span>', f"{local:%Y-%m-%d}", f"{local:%H:%M:%S}")

    @admin.display(description="Source", ordering="source")
    def source_name(self, capture: Capture) -> str:
        return capture.source  # `api`, `cli`, `admin`: the names the API and the README use

    @admin.display(description="Size", ordering="size_bytes")
    def size(self, capture: Capture) -> str:
        return filesizeformat(capture.size_bytes) if capture.size_bytes is not None else "—"

    # --- Detail page ---

    def _to_the_ms(field: str, label: str):  # noqa: N805 - builds methods in the class body
        # Django's default date format stops at minutes; a capture's timing is about milliseconds.
        @admin.display(description=label, ordering=field)
        def show(self, capture: Capture) -> str:
            value = getattr(capture, field)
            return f"{timezone.localtime(value):%Y-%m-%d %H:%M:%S.%f}"[:-3] if value else "—"

        return show

    requested_at_ms = _to_the_ms("requested_at", "Requested at")
    started_at_ms = _to_the_ms("started_at", "Started at")
    finished_at_ms = _to_the_ms("finished_at", "Finished at")
    del _to_the_ms

    @admin.display(description="Camera controls")
    def controls_used(self, capture: Capture) -> str:
        if not capture.controls:
            return "— (the camera's defaults)"
        return format_html_join(", ", "<code>{}: {}</code>", sorted(capture.controls.items()))

    @admin.display(description="Metadata")
    def camera_metadata(self, capture: Capture) -> str:
        if not capture.metadata:
            return "—"
        return format_html("<pre>{}</pre>", json.dumps(capture.metadata, indent=2, sort_keys=True))

    @admin.display(description="Commands run")
    def commands_run(self, capture: Capture) -> str:
        if not capture.commands:
            return "—"
        return format_html_join(
            "",
            '<div class="capture-command"><code>{}</code><p>exit code <strong>{}</strong>{} · {} ms</p>'
            "<details{}><summary>stdout ({} chars)</summary><pre>{}</pre></details>"
            "<details{}><summary>stderr ({} chars)</summary><pre>{}</pre></details></div>",
            (
                (
                    shlex.join(command.get("argv", [])),
                    "none" if command.get("exitCode") is None else command["exitCode"],
                    " (timed out)" if command.get("timedOut") else "",
                    command.get("ms", "?"),
                    " open" if command.get("stdout") else "",
                    len(command.get("stdout", "")),
                    command.get("stdout", ""),
                    " open" if command.get("stderr") else "",
                    len(command.get("stderr", "")),
                    command.get("stderr", ""),
                )
                for command in capture.commands
            ),
        )

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        capture = self.get_object(request, object_id)
        extra_context = {**(extra_context or {}), "preview": media_preview(capture) if capture else ""}
        return super().change_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request: HttpRequest, extra_context=None):
        # A callable: the template runs it only when it renders the list (not for an action's redirect).
        extra_context = {
            **(extra_context or {}),
            "summary": capture_summary,
            "live_views": live_views,
            "can_take_capture": self.has_take_permission(request),
        }
        return super().changelist_view(request, extra_context)

    # --- Permissions: rows come only from captures ---

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # A running capture's row is still being written by the service.
        return super().has_delete_permission(request, obj) and not (obj and obj.status == Capture.Status.RUNNING)

    def has_pin_permission(self, request: HttpRequest) -> bool:
        # Pinning changes a row, though the row has no edit form.
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    def has_take_permission(self, request: HttpRequest) -> bool:
        # Taking a capture adds a row, so it needs the model's add permission (superusers have it).
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.add_{opts.model_name}")

    # --- Analyze again ---

    @admin.action(description="Analyze again")
    def analyze_again(self, request: HttpRequest, queryset) -> None:
        queued = skipped = 0
        for capture in queryset:
            try:
                tasks.submit(capture.filename, capture.host)
            except jobs.UnknownUpload:
                skipped += 1  # no finished file (failed, running or deleted)
            except jobs.AnalysisQueueUnavailable as exc:
                self.message_user(request, str(exc.detail), messages.ERROR)
                return
            else:
                queued += 1
        note = f"; {skipped} skipped: no finished file" if skipped else ""
        self.message_user(
            request, f"Queued {queued} analysis job(s){note}.", messages.SUCCESS if queued else messages.WARNING
        )

    # --- Pin: retention never deletes a pinned capture ---

    @admin.action(description="Pin (retention never deletes it)", permissions=["pin"])
    def pin(self, request: HttpRequest, queryset) -> None:
        self._set_pinned(request, queryset, pinned=True)

    @admin.action(description="Unpin", permissions=["pin"])
    def unpin(self, request: HttpRequest, queryset) -> None:
        self._set_pinned(request, queryset, pinned=False)

    def _set_pinned(self, request: HttpRequest, queryset, *, pinned: bool) -> None:
        # Not a running one: the service writes its whole row when it ends, which would undo the change.
        changed = queryset.exclude(status=Capture.Status.RUNNING).update(pinned=pinned)
        self.message_user(request, f"{'Pinned' if pinned else 'Unpinned'} {changed} capture(s).")
        skipped = queryset.filter(status=Capture.Status.RUNNING).count()
        if skipped:
            self.message_user(request, f"Skipped {skipped} running capture(s): not finished yet.", messages.WARNING)

    # --- Share link ---

    @admin.action(description="Share link (expiry: choose beside the action)")
    def share_link(self, request: HttpRequest, queryset) -> None:
        expires_in = int(request.POST.get("expires") or SHARE_EXPIRIES[1][0])
        shared = 0
        for capture in queryset.filter(status=Capture.Status.OK).exclude(filename=""):
            url, expires_at = signed_url(capture.media_name, expires_in)
            until = timezone.localtime(expires_at).strftime("%Y-%m-%d %H:%M")
            self.message_user(request, f"{capture.filename}, until {until}: {request.build_absolute_uri(url)}")
            shared += 1
        skipped = queryset.count() - shared
        if skipped:
            self.message_user(request, f"{skipped} capture(s) have no file to share.", messages.WARNING)

    # --- Timelapse of the selected stills ---

    @admin.action(description="Make a timelapse of the selected stills (fps and width beside the action)")
    def make_timelapse(self, request: HttpRequest, queryset) -> None:
        queue_timelapse(self, request, queryset.order_by("requested_at", "id"))

    # --- Delete with files ---

    @admin.action(description="Delete with files", permissions=["delete"])
    def delete_selected(self, request: HttpRequest, queryset):
        # Named like Django's action so that its confirmation page posts back here.
        running = queryset.filter(status=Capture.Status.RUNNING).count()
        if running:
            self.message_user(request, f"Skipped {running} running capture(s): not finished yet.", messages.WARNING)
        return django_delete_selected(self, request, queryset.exclude(status=Capture.Status.RUNNING))

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        self._delete_files(request, list(queryset))

    def delete_model(self, request: HttpRequest, obj: Capture) -> None:
        self._delete_files(request, [obj])

    def _delete_files(self, request: HttpRequest, rows: list[Capture]) -> None:
        files = thumbnails = 0
        who = f"admin user {request.user.get_username()}"
        for row in rows:
            try:
                removed_files, removed_thumbnails = row.delete_with_files(by=who)
            except CaptureRunning as exc:  # started running after the page was shown
                self.message_user(request, str(exc.detail), messages.WARNING)
                continue
            files += removed_files
            thumbnails += removed_thumbnails
        counts = f"{files} file{'s' if files != 1 else ''} and {thumbnails} thumbnail{'s' if thumbnails != 1 else ''}"
        if settings.TRASH_RETENTION_DAYS:
            days = settings.TRASH_RETENTION_DAYS
            note = f"Moved {counts} to the trash: restorable under Deletions for {days:g} days."
        else:
            note = f"Removed {counts} from disk."
        self.message_user(request, note, messages.SUCCESS)

    # --- Extra views: thumbnails and "Take a capture" ---

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("take/", self.admin_site.admin_view(self.take_capture_view), name=f"{prefix}_take"),
            path(
                "integration/<int:index>/",
                self.admin_site.admin_view(never_cache(self.integration_view)),
                name=f"{prefix}_integration",
            ),
            path(
                "<int:object_id>/thumbnail/<str:size>.jpg",
                self.admin_site.admin_view(self.thumbnail_view, cacheable=True),
                name=f"{prefix}_thumbnail",
            ),
            *super().get_urls(),
        ]

    def thumbnail_view(self, request: HttpRequest, object_id: int, size: str) -> HttpResponse:
        capture = self.get_object(request, str(object_id))
        if capture is None or size not in THUMBNAIL_SIZES or not self.has_view_permission(request, capture):
            raise Http404("No thumbnail")
        thumbnail = ensure_thumbnail(capture, size)
        if thumbnail is None:
            # Another host's capture, or this one's without its local copy: the thumbnail its host uploaded.
            in_bucket = offload.presigned_url(capture, size)
            if in_bucket is None:
                raise Http404("No thumbnail")
            return HttpResponseRedirect(in_bucket)
        # A row's thumbnail never changes (ids are never reused, files never overwritten).
        return serve_file(request, thumbnail, content_type="image/jpeg", cache_control="private, max-age=86400")

    def integration_view(self, request: HttpRequest, index: int) -> HttpResponse:
        """A camera's copy-paste configuration for Home Assistant, OctoPrint and Moonraker. A POST makes a fresh
        stream+read token and shows its secret in the snippets, this once (the page is never cached)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if index not in {camera.index for camera in all_cameras()}:
            raise Http404("No such camera")
        can_make = request.user.has_perm("capture.add_apitoken")
        context = {
            **self.admin_site.each_context(request),
            "title": f"Integration: camera {index}",
            "opts": self.opts,
            "index": index,
            "can_make_token": can_make,
            "orientation": integrations.camera_orientation(index),
            "fps": settings.PREVIEW_FPS,
        }
        if request.method == "POST":
            if not can_make:
                raise PermissionDenied
            token, secret = integrations.make_token(index)
            context["token"] = token
            context["snippets"] = integrations.snippets(integrations.base_url(request), index, secret)
        return TemplateResponse(request, "admin/capture/capture/integration.html", context)

    def take_capture_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_take_permission(request):
            raise PermissionDenied
        form = TakeCaptureForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            try:
                row = CaptureService().capture(form.capture_request, Capture.Source.ADMIN)
            except CameraBusy:
                self.message_user(
                    request,
                    "The camera is busy: another capture (from the API, the command line or another admin page) "
                    "is in progress. Try again in a few seconds.",
                    messages.WARNING,
                )
            except CaptureError as exc:
                self._report_failure(request, exc)
            else:
                self.message_user(
                    request, f"Captured {row.filename} ({filesizeformat(row.size_bytes)}) in {row.total_ms} ms."
                )
                return redirect(reverse("admin:capture_capture_change", args=[row.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": "Take a capture",
            "opts": self.opts,
            "form": form,
            "seed_fields": ["fps", "durationSec", "filename"],
            "control_fields": [param.name for param in CONTROLS],
            "controls_given": any(form.data.get(param.name) for param in CONTROLS) if form.is_bound else False,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/capture/capture/take_capture.html", context)

    def _report_failure(self, request: HttpRequest, exc: CaptureError) -> None:
        row = exc.capture
        if row is None or row.pk is None:
            self.message_user(request, f"The capture failed: {exc.detail}", messages.ERROR)
            return
        link = reverse("admin:capture_capture_change", args=[row.pk])
        self.message_user(
            request,
            format_html('The capture failed: {} (see <a href="{}">capture #{}</a>).', exc.detail, link, row.pk),
            messages.ERROR,
        )


def thumbnail_url(capture: Capture, size: str) -> str:
    return reverse("admin:capture_capture_thumbnail", args=[capture.pk, size])


def media_preview(capture: Capture) -> str:
    """The capture itself: the image, a playable video, or for raw H.264 its poster frame and a download."""
    if not capture.url:
        return format_html('<p class="capture-preview-none">No file: {}</p>', capture.error or capture.status)
    poster = thumbnail_url(capture, "large")
    if capture.format == Capture.Format.JPG:
        return format_html(
            '<a href="{}"><img class="capture-preview" src="{}" alt="{}"></a>',
            capture.url,
            capture.url,
            capture.filename,
        )
    if capture.format == Capture.Format.MP4:
        return format_html(
            '<video class="capture-preview" controls preload="metadata" poster="{}" src="{}"></video>'
            '<p><a href="{}" download>Download {}</a></p>',
            poster,
            capture.url,
            capture.url,
            capture.filename,
        )
    return format_html(
        '<img class="capture-preview" src="{}" alt="Poster frame of {}">'
        "<p>A raw H.264 stream, which browsers cannot play: this is its poster frame. "
        '<a href="{}" download>Download {}</a> and open it with VLC or ffplay, or capture as mp4.</p>',
        poster,
        capture.filename,
        capture.url,
        capture.filename,
    )


@admin.register(AnalysisJob)
class AnalysisJobAdmin(admin.ModelAdmin):
    """The analyzer's jobs (POST /api/analyze, capture-and-analyze, "Analyze again"), read-only."""

    list_display = [
        "job_id", "host", "filename", "capture_link", "status", "verdict", "created_at", "run_time", "attempts",
    ]  # fmt: skip
    list_filter = ["host", "status", "created_at"]
    search_fields = ["filename", "job_id"]
    date_hierarchy = "created_at"
    list_select_related = ["capture"]
    fields = [
        "job_id", "host", "filename", "capture_link", "status", "error", "attempts", "worker", "created_at",
        "started_at", "finished_at", "result_json",
    ]  # fmt: skip
    readonly_fields = fields

    @admin.display(description="Capture", ordering="capture")
    def capture_link(self, job: AnalysisJob) -> str:
        if job.capture_id is None:
            return "—"
        return format_html(
            '<a href="{}">#{}</a>', reverse("admin:capture_capture_change", args=[job.capture_id]), job.capture_id
        )

    @admin.display(description="Exposure")
    def verdict(self, job: AnalysisJob) -> str:
        return (job.result or {}).get("exposure", "—")

    @admin.display(description="Run time")
    def run_time(self, job: AnalysisJob) -> str:
        if not (job.started_at and job.finished_at):
            return "—"
        return f"{(job.finished_at - job.started_at).total_seconds():.1f} s"

    @admin.display(description="Result")
    def result_json(self, job: AnalysisJob) -> str:
        if job.result is None:
            return "—"
        return format_html("<pre>{}</pre>", json.dumps(job.result, indent=2, sort_keys=True))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
