from __future__ import annotations

import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from camsite.env import env_bool, env_choice, env_float, env_int, env_list
from tests.conftest import ROOT


def test_it_reads_booleans_strictly(monkeypatch):
    monkeypatch.setenv("X", "true")
    assert env_bool("X") is True
    monkeypatch.setenv("X", "False")
    assert env_bool("X") is False
    monkeypatch.setenv("X", "ture")
    with pytest.raises(ImproperlyConfigured, match="X must be true or false"):
        env_bool("X")


def test_it_uses_defaults_for_unset_or_blank(monkeypatch):
    monkeypatch.delenv("X", raising=False)
    assert env_int("X", 3000) == 3000
    monkeypatch.setenv("X", "  ")
    assert env_float("X", 1.5) == 1.5


def test_it_names_the_variable_for_bad_numbers(monkeypatch):
    monkeypatch.setenv("DEFAULT_WIDTH", "wide")
    with pytest.raises(ImproperlyConfigured, match="DEFAULT_WIDTH must be an integer"):
        env_int("DEFAULT_WIDTH", 1920)
    monkeypatch.setenv("DEFAULT_FPS", "0")
    with pytest.raises(ImproperlyConfigured, match="DEFAULT_FPS must be at least 1"):
        env_int("DEFAULT_FPS", 30, minimum=1)
    monkeypatch.setenv("X", "nan")
    with pytest.raises(ImproperlyConfigured, match="finite"):
        env_float("X", 1)


def test_it_splits_lists_and_checks_choices(monkeypatch):
    monkeypatch.setenv("CORS_ORIGIN", "http://a.test, http://b.test,,")
    assert env_list("CORS_ORIGIN") == ["http://a.test", "http://b.test"]
    monkeypatch.setenv("CAMERA_BACKEND", "webcam")
    with pytest.raises(ImproperlyConfigured, match="CAMERA_BACKEND must be one of auto, rpicam, simulated"):
        env_choice("CAMERA_BACKEND", "auto", ("auto", "rpicam", "simulated"))


def _start_django(**env: str) -> subprocess.CompletedProcess:
    clean = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "camsite.settings", **env}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_malformed_setting_stops_startup_naming_the_variable():
    result = _start_django(DJANGO_SECRET_KEY="k", DEFAULT_HEIGHT="1080p")
    assert result.returncode != 0
    assert "DEFAULT_HEIGHT must be an integer, got '1080p'" in result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    result = _start_django()
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr
    assert _start_django(DJANGO_SECRET_KEY="k").stdout.strip() == "started"
