"""DATABASE_URL: PostgreSQL (or a SQLite path) instead of DATABASE_PATH, read strictly at startup."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from camsite.env import env_database_url
from tests.conftest import ROOT


def test_it_is_none_when_unset_so_sqlite_stays_the_default(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert env_database_url("DATABASE_URL") is None


def test_it_reads_a_postgres_url_into_django_settings(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://cam:s%40cret@db.example:6432/camsite")
    config = env_database_url("DATABASE_URL")
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["USER"], config["PASSWORD"], config["HOST"], config["PORT"]) == ("cam", "s@cret", "db.example", 6432)
    assert config["NAME"] == "camsite"


def test_it_reads_a_sqlite_url(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/db.sqlite3")
    config = env_database_url("DATABASE_URL")
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == f"{tmp_path}/db.sqlite3"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://cam:hunter2@db/camsite", "DATABASE_URL must be a postgres:// or sqlite:// URL, got mysql://"),
        ("oracle://cam:hunter2@db/camsite", "DATABASE_URL must be a postgres:// or sqlite:// URL, got oracle://"),
        ("postgres://cam:hunter2@db:port/camsite", "DATABASE_URL is not a valid database URL"),
        ("postgres://cam:hunter2@db:5432", "DATABASE_URL names no database"),
    ],
)
def test_a_bad_url_stops_startup_naming_the_variable_and_never_the_password(monkeypatch, url, message):
    monkeypatch.setenv("DATABASE_URL", url)
    with pytest.raises(ImproperlyConfigured) as error:
        env_database_url("DATABASE_URL")
    assert str(error.value).startswith(message)
    assert "hunter2" not in str(error.value)


def _settings_entry(tmp_path, **env) -> dict:
    """DATABASES["default"] as camsite.settings builds it in a fresh process with `env`."""
    code = "import json; from camsite import settings; print(json.dumps(settings.DATABASES['default'], default=str))"
    base = {"PATH": os.environ["PATH"], "DJANGO_SECRET_KEY": "k", "DATABASE_PATH": str(tmp_path / "db.sqlite3")}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_sqlite_keeps_its_wal_pragmas_and_immediate_transactions(tmp_path):
    default = _settings_entry(tmp_path)
    assert default["NAME"] == str(tmp_path / "db.sqlite3")
    assert default["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in default["OPTIONS"]["init_command"]


def test_postgres_gets_none_of_them_and_reconnects_after_an_outage(tmp_path):
    default = _settings_entry(tmp_path, DATABASE_URL="postgres://cam@db.example/camsite")
    assert default["ENGINE"] == "django.db.backends.postgresql"
    assert default["OPTIONS"] == {"connect_timeout": 5}  # DATABASE_CONNECT_TIMEOUT_SEC
    assert default["CONN_HEALTH_CHECKS"] is True and default["CONN_MAX_AGE"] == 60
