"""Failed admin logins are throttled (django-axes): a user name that keeps failing is locked for the cool-off,
and API tokens are not affected."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.test import Client

LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture
def admin_user(db):
    return User.objects.create_superuser("admin", "admin@example.org", "right-password")


@pytest.fixture
def limit(settings):
    settings.AXES_FAILURE_LIMIT = 3
    return 3


def log_in(client: Client, password: str):
    return client.post(LOGIN, {"username": "admin", "password": password})


def test_wrong_passwords_lock_the_user_out_even_with_the_right_one(admin_user, limit):
    client = Client()
    for _ in range(limit - 1):
        assert log_in(client, "guess").status_code == 200  # the form again, with its error
    assert log_in(client, "guess").status_code == 429  # the last allowed failure locks
    locked = log_in(client, "right-password")
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_right_user_logs_in_after_the_cooloff(admin_user, limit, settings):
    client = Client()
    for _ in range(limit):
        log_in(client, "guess")
    assert log_in(client, "right-password").status_code == 429
    # The cool-off has passed (moved back in time rather than waited for).
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )
    answer = log_in(client, "right-password")
    assert answer.status_code == 302 and answer["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_a_good_login_before_the_limit_resets_the_count(admin_user, limit):
    client = Client()
    for _ in range(limit - 1):
        log_in(client, "guess")
    assert log_in(client, "right-password").status_code == 302
    client.logout()
    for _ in range(limit - 1):
        assert log_in(client, "guess").status_code == 200  # counted from zero again


def test_a_lockout_does_not_touch_api_tokens(admin_user, limit, settings):
    settings.AUTH_TOKEN = "env-token"
    client = Client()
    for _ in range(limit):
        log_in(client, "guess")
    assert log_in(client, "right-password").status_code == 429
    status = client.get("/api/camera/status", HTTP_AUTHORIZATION="Bearer env-token")
    assert status.status_code == 200 and status.json()["ok"] is True
    assert client.get("/api/camera/status").status_code == 401  # and no token is still no token
