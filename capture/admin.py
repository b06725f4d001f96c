from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from capture.models import Capture


@admin.register(Capture)
class CaptureAdmin(admin.ModelAdmin):
    """Browse past captures. Rows come only from captures, so nothing here adds or edits them."""

    list_display = [
        "id",
        "file_link",
        "format",
        "resolution",
        "fps",
        "duration_sec",
        "status",
        "size_bytes",
        "requested_at",
        "total_ms",
        "source",
    ]
    list_filter = ["format", "status", "source", "backend"]
    search_fields = ["filename", "requested_filename"]
    date_hierarchy = "requested_at"
    readonly_fields = [field.name for field in Capture._meta.fields]

    @admin.display(description="File", ordering="filename")
    def file_link(self, capture: Capture):
        if not capture.url:
            return "—"
        return format_html('<a href="{}">{}</a>', capture.url, capture.filename)

    @admin.display(description="Resolution")
    def resolution(self, capture: Capture) -> str:
        return f"{capture.width}×{capture.height}"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
