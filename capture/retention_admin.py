"""Retention in the admin: the rules (editable, beside the settings' defaults) and the deletion audit
(read-only, with "Restore from trash")."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.html import format_html

from capture import storage
from capture.models import Deletion, RetentionRule
from capture.retention.trash import restore


def _bytes(size: int | None) -> str:
    return filesizeformat(size) if size else "—"


@admin.register(RetentionRule)
class RetentionRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "enabled", "camera", "source_name", "max_age", "max_total", "min_free"]
    list_filter = ["enabled", "camera_index", "source"]
    fields = ["name", "enabled", "camera_index", "source", "max_age_days", "max_total_bytes", "min_free_bytes"]

    def changelist_view(self, request: HttpRequest, extra_context=None):
        # The settings' rule is the default under every rule listed here; say what it is.
        defaults = (
            f"Settings (the default for every capture): max age {settings.RETENTION_MAX_AGE_DAYS:g} days, "
            f"max total {_bytes(settings.RETENTION_MAX_TOTAL_BYTES)}, "
            f"free-space floor {_bytes(settings.RETENTION_MIN_FREE_BYTES)} (0 or — is off). The most specific "
            "rule's max age applies; every max total and every floor must hold. Pinned captures are never deleted."
        )
        self.message_user(request, defaults, messages.INFO)
        return super().changelist_view(request, extra_context)

    @admin.display(description="Camera", ordering="camera_index")
    def camera(self, rule: RetentionRule) -> str:
        return "any" if rule.camera_index is None else str(rule.camera_index)

    @admin.display(description="Source", ordering="source")
    def source_name(self, rule: RetentionRule) -> str:
        return rule.source or "any"

    @admin.display(description="Max age", ordering="max_age_days")
    def max_age(self, rule: RetentionRule) -> str:
        return f"{rule.max_age_days:g} days" if rule.max_age_days else "—"

    @admin.display(description="Max total", ordering="max_total_bytes")
    def max_total(self, rule: RetentionRule) -> str:
        return _bytes(rule.max_total_bytes)

    @admin.display(description="Free-space floor", ordering="min_free_bytes")
    def min_free(self, rule: RetentionRule) -> str:
        return _bytes(rule.min_free_bytes)


class InTrashFilter(admin.SimpleListFilter):
    title = "in the trash"
    parameter_name = "in_trash"

    def lookups(self, request, model_admin):
        return [("yes", "Yes (restorable)"), ("no", "No")]

    def queryset(self, request, queryset):
        waiting = Deletion.objects.in_trash().values("pk")
        if self.value() == "yes":
            return queryset.filter(pk__in=waiting)
        if self.value() == "no":
            return queryset.exclude(pk__in=waiting)
        return queryset


@admin.register(Deletion)
class DeletionAdmin(admin.ModelAdmin):
    list_display = [
        "deleted_at",
        "host",
        "filename",
        "capture",
        "camera_index",
        "source",
        "reason",
        "why",
        "size",
        "trash",
    ]
    list_filter = ["reason", InTrashFilter, "host", "source", "camera_index"]
    search_fields = ["filename", "rule", "by"]
    date_hierarchy = "deleted_at"
    actions = ["restore_selected"]
    readonly_fields = [field.name for field in Deletion._meta.fields if field.name != "snapshot"]
    exclude = ["snapshot"]

    @admin.display(description="Capture", ordering="capture_id")
    def capture(self, deletion: Deletion) -> str:
        return f"#{deletion.capture_id}" if deletion.capture_id else "—"

    @admin.display(description="Rule or user")
    def why(self, deletion: Deletion) -> str:
        return deletion.by or deletion.rule

    @admin.display(description="Size", ordering="size_bytes")
    def size(self, deletion: Deletion) -> str:
        return _bytes(deletion.size_bytes)

    @admin.display(description="Trash")
    def trash(self, deletion: Deletion) -> str:
        if deletion.restored_at:
            return "restored"
        if deletion.in_trash:
            return "restorable"
        return "purged" if deletion.purged_at else "—"

    # The audit is written by deletions only.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_restore_permission(self, request: HttpRequest) -> bool:
        # Restoring adds a capture row back.
        return request.user.has_perm("capture.add_capture")

    @admin.action(description="Restore from trash", permissions=["restore"])
    def restore_selected(self, request: HttpRequest, queryset) -> None:
        who = f"admin user {request.user.get_username()}"
        for deletion in queryset:
            try:
                capture = restore(deletion, by=who)
            except storage.NotInTrash as exc:
                self.message_user(request, str(exc), messages.WARNING)
                continue
            link = reverse("admin:capture_capture_change", args=[capture.pk])
            self.message_user(request, format_html('Restored <a href="{}">{}</a>.', link, capture.filename))
