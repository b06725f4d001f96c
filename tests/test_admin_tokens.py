"""API tokens in the admin: the secret is shown once after adding, the hash never; "Revoke"."""

from __future__ import annotations

import re

from capture.models import ApiToken

URL = "/admin/capture/apitoken/"


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_adding_a_token_shows_its_secret_once(admin_client):
    response = admin_client.post(f"{URL}add/", {"label": "ha", "scopes": ["read", "stream"]}, follow=True)
    assert response.status_code == 200
    [message] = [m for m in messages_of(response) if "shown only this once" in m]
    secret = re.search(r"copy it now\): (\S+)$", message)[1]
    token = ApiToken.objects.get()
    assert (token.label, token.scopes) == ("ha", ["read", "stream"])
    assert ApiToken.objects.find(secret) == token
    # The list and the token's page show its prefix, never the secret or the hash.
    for page in (admin_client.get(URL), admin_client.get(f"{URL}{token.pk}/change/")):
        html = page.content.decode()
        assert token.prefix in html
        assert secret not in html and token.secret_hash not in html


def test_the_add_form_asks_only_for_a_label_and_scopes(admin_client, db):
    html = admin_client.get(f"{URL}add/").content.decode()
    assert 'name="label"' in html and 'name="scopes"' in html
    assert "secret_hash" not in html and 'name="prefix"' not in html


def test_an_existing_token_cannot_be_edited(admin_client, db):
    token, _ = ApiToken.objects.create_with_secret("ha", ["read"])
    html = admin_client.get(f"{URL}{token.pk}/change/").content.decode()
    assert 'name="label"' not in html and 'name="scopes"' not in html


def test_revoke_action(admin_client, db):
    live, secret = ApiToken.objects.create_with_secret("live", ["read"])
    ApiToken.objects.create_with_secret("other", ["read"])
    response = admin_client.post(URL, {"action": "revoke", "_selected_action": [live.pk]}, follow=True)
    assert "Revoked 1 token(s)." in messages_of(response)
    assert ApiToken.objects.find(secret) is None
    assert ApiToken.objects.get(label="other").revoked_at is None
