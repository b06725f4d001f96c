"""API tokens in the admin: a list, an add form that shows the new secret once, and a "Revoke" action.

The secret is never stored and its hash is never shown; a token is not edited after it is made (revoke it and
make another).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest

from capture.models import ApiToken


class ApiTokenForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=ApiToken.Scope.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ApiToken
        fields = ["label", "scopes"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    form = ApiTokenForm
    list_display = ["label", "prefix", "scope_list", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["label", "prefix"]
    actions = ["revoke"]
    readonly_fields = ["label", "prefix", "scope_list", "created_at", "last_used_at", "revoked_at"]

    @admin.display(description="Scopes")
    def scope_list(self, token: ApiToken) -> str:
        return ", ".join(token.scopes)

    def get_fields(self, request: HttpRequest, obj=None):
        return ["label", "scopes"] if obj is None else self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [] if obj is None else self.readonly_fields

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # the page of an existing token is view-only (its view permission)

    def save_model(self, request: HttpRequest, obj: ApiToken, form, change: bool) -> None:
        secret = obj.assign_secret()
        super().save_model(request, obj, form, change)
        self.message_user(
            request,
            f"The secret of {obj.label}, shown only this once (copy it now): {secret}",
            messages.WARNING,
        )

    @admin.action(description="Revoke selected tokens", permissions=["delete"])
    def revoke(self, request: HttpRequest, queryset) -> None:
        count = queryset.revoke()
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)
