"""Retention in the admin: pin/unpin, the rules' form, the read-only deletion audit and "Restore from trash"."""

from __future__ import annotations

import pytest
from django.conf import settings

from capture.models import Capture, Deletion, RetentionRule
from tests.captures import make_row
from tests.disk import file_row

pytestmark = pytest.mark.django_db

CAPTURES = "/admin/capture/capture/"
DELETIONS = "/admin/capture/deletion/"
RULES = "/admin/capture/retentionrule/"


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def act(client, url: str, action: str, *rows, follow: bool = True):
    data = {"action": action, "_selected_action": [str(row.pk) for row in rows]}
    return client.post(url, data, follow=follow)


def test_pin_and_unpin_actions(admin_client):
    a, b = file_row("a.jpg"), file_row("b.jpg")
    running = make_row(status="running", filename="")
    response = act(admin_client, CAPTURES, "pin", a, running)
    assert messages_of(response) == ["Pinned 1 capture(s).", "Skipped 1 running capture(s): not finished yet."]
    assert set(Capture.objects.filter(pinned=True)) == {a}
    act(admin_client, CAPTURES, "unpin", a, b)
    assert not Capture.objects.filter(pinned=True).exists()


def test_the_list_shows_and_filters_pinned(admin_client):
    file_row("pinned.jpg", pinned=True)
    file_row("loose.jpg")
    page = admin_client.get(f"{CAPTURES}?pinned__exact=1").content.decode()
    assert "pinned.jpg" in page and "loose.jpg" not in page


def test_an_admin_delete_goes_to_the_trash_with_the_users_name(admin_client, admin_user):
    capture = file_row("a.jpg", 500)
    admin_client.post(CAPTURES, {"action": "delete_selected", "_selected_action": [capture.pk], "post": "yes"})
    deletion = Deletion.objects.get()
    assert (deletion.by, deletion.reason, deletion.size_bytes) == (f"admin user {admin_user.username}", "manual", 500)
    assert deletion.in_trash


def test_restore_from_trash_brings_the_capture_back(admin_client):
    capture = file_row("a.jpg")
    capture.delete_with_files(by="token phone")
    deletion = Deletion.objects.get()
    response = act(admin_client, DELETIONS, "restore_selected", deletion)
    assert messages_of(response) == [f'Restored <a href="{CAPTURES}{capture.pk}/change/">a.jpg</a>.']
    assert Capture.objects.get(pk=capture.pk).filename == "a.jpg"
    assert (settings.MEDIA_ROOT / "a.jpg").exists()
    again = act(admin_client, DELETIONS, "restore_selected", deletion)
    assert "is not in the trash: purged or restored already" in messages_of(again)[0]


def test_the_audit_is_read_only(admin_client):
    file_row("a.jpg").delete_with_files(by="me")
    deletion = Deletion.objects.get()
    page = admin_client.get(f"{DELETIONS}{deletion.pk}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert admin_client.get(f"{DELETIONS}add/").status_code == 403
    assert admin_client.post(f"{DELETIONS}{deletion.pk}/delete/", {"post": "yes"}).status_code == 403
    listing = admin_client.get(DELETIONS).content.decode()
    assert "a.jpg" in listing and "restorable" in listing
    assert '<option value="delete_selected">' not in listing


def test_a_rule_is_made_in_the_admin_and_needs_a_limit(admin_client):
    empty = admin_client.post(f"{RULES}add/", {"name": "nothing", "enabled": "on"})
    assert "Set at least one limit" in empty.content.decode()
    made = admin_client.post(
        f"{RULES}add/", {"name": "frames", "enabled": "on", "source": "schedule", "max_age_days": "7"}, follow=True
    )
    assert made.status_code == 200
    rule = RetentionRule.objects.get()
    assert (rule.source, rule.camera_index, rule.max_age_days) == ("schedule", None, 7)
    listing = admin_client.get(RULES)
    assert any("Settings (the default for every capture)" in message for message in messages_of(listing))
