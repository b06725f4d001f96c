"""`manage.py token create|list|revoke`."""

from __future__ import annotations

import pytest

from capture.models import ApiToken, hash_secret
from tests.cli import run_manage


@pytest.fixture
def manage(db, capsys):
    return lambda *args: run_manage(capsys, *args)


def test_it_creates_a_token_and_prints_only_its_secret(manage):
    code, out, err = manage("token", "create", "--scope", "read", "--scope", "stream", "--label", "ha")
    assert (code, err) == (0, "")
    secret = out.strip()
    assert out == secret + "\n" and len(secret) >= 43
    token = ApiToken.objects.get(label="ha")
    assert token.scopes == ["read", "stream"]
    assert token.secret_hash == hash_secret(secret) != secret
    assert token.prefix == secret[:8]
    assert ApiToken.objects.find(secret) == token


def test_two_tokens_never_share_a_secret(manage):
    first = manage("token", "create", "--scope", "read", "--label", "a")[1]
    second = manage("token", "create", "--scope", "read", "--label", "b")[1]
    assert first != second


def test_an_unknown_scope_is_refused(manage):
    code, out, err = manage("token", "create", "--scope", "admin", "--label", "x")
    assert code == 2
    assert "invalid choice: 'admin'" in err
    assert out == "" and not ApiToken.objects.exists()


def test_a_label_that_exists_is_refused(manage):
    manage("token", "create", "--scope", "read", "--label", "ha")
    code, out, err = manage("token", "create", "--scope", "capture", "--label", "ha")
    assert code == 1
    assert "a token labelled 'ha' exists already" in err
    assert out == "" and ApiToken.objects.get().scopes == ["read"]


def test_the_list_shows_everything_but_the_secret_and_its_hash(manage):
    secret = manage("token", "create", "--scope", "read", "--scope", "manage", "--label", "ops")[1].strip()
    manage("token", "revoke", "--label", "ops")
    code, out, _ = manage("token", "list")
    assert code == 0
    header, row = out.splitlines()
    assert header.split() == ["label", "prefix", "scopes", "created", "last", "used", "revoked"]
    assert row.split()[:3] == ["ops", secret[:8], "manage,read"]
    assert row.count("UTC") == 2  # created and revoked; never used: "-"
    assert secret not in out and ApiToken.objects.get().secret_hash not in out


def test_revoke_refuses_the_token_from_then_on(manage):
    secret = manage("token", "create", "--scope", "read", "--label", "ha")[1].strip()
    code, _, err = manage("token", "revoke", "--label", "ha")
    assert (code, err.strip()) == (0, "revoked ha")
    assert ApiToken.objects.get().revoked_at is not None
    assert ApiToken.objects.find(secret) is None


def test_revoking_an_unknown_label_is_an_error(manage):
    code, _, err = manage("token", "revoke", "--label", "nobody")
    assert code == 1
    assert "no token labelled 'nobody'" in err


def test_an_action_is_required(manage):
    code, _, err = manage("token")
    assert code == 2
    assert "create|list|revoke" in err


def test_last_use_is_written_at_most_once_a_minute(db, manage, django_assert_num_queries):
    token, _ = ApiToken.objects.create_with_secret("ha", ["read"])
    token.touch()
    first = token.last_used_at
    assert first is not None
    with django_assert_num_queries(0):
        token.touch()
    assert ApiToken.objects.get().last_used_at == first
