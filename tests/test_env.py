from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from camsite.env import env_bool, env_bytes, env_choice, env_float, env_int, env_list, env_secret
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


@pytest.mark.parametrize(
    ("text", "expected"), [("1048576", 1 << 20), ("500M", 500 << 20), ("2g", 2 << 30), ("4KiB", 4096), ("1 T", 1 << 40)]
)
def test_it_reads_sizes_with_binary_units(monkeypatch, text, expected):
    monkeypatch.setenv("SIZE", text)
    assert env_bytes("SIZE", 7) == expected


@pytest.mark.parametrize("text", ["-1", "1.5G", "12X", "G"])
def test_it_names_the_variable_for_bad_sizes(monkeypatch, text):
    monkeypatch.setenv("SIZE", text)
    with pytest.raises(ImproperlyConfigured, match="SIZE must be a size in bytes"):
        env_bytes("SIZE", 0)


def test_it_splits_lists_and_checks_choices(monkeypatch):
    monkeypatch.setenv("CORS_ORIGIN", "http://a.test, http://b.test,,")
    assert env_list("CORS_ORIGIN") == ["http://a.test", "http://b.test"]
    monkeypatch.setenv("CAMERA_BACKEND", "webcam")
    with pytest.raises(ImproperlyConfigured, match="CAMERA_BACKEND must be one of auto, rpicam, simulated"):
        env_choice("CAMERA_BACKEND", "auto", ("auto", "rpicam", "simulated"))


@pytest.fixture
def no_key_in_env(monkeypatch):
    monkeypatch.delenv("DJANGO_SECRET_KEY", raising=False)
    monkeypatch.delenv("DJANGO_SECRET_KEY_FILE", raising=False)


def test_it_takes_the_secret_from_the_environment_before_any_file(no_key_in_env, monkeypatch, tmp_path):
    (tmp_path / "key").write_text("from-file")
    (tmp_path / ".secret_key").write_text("from-checkout")
    monkeypatch.setenv("DJANGO_SECRET_KEY", "from-env")
    monkeypatch.setenv("DJANGO_SECRET_KEY_FILE", str(tmp_path / "key"))
    assert env_secret("DJANGO_SECRET_KEY", tmp_path / ".secret_key") == "from-env"


def test_it_reads_the_secret_from_the_named_file_stripped(no_key_in_env, monkeypatch, tmp_path):
    (tmp_path / "key").write_text("  from-file\n\n")
    monkeypatch.setenv("DJANGO_SECRET_KEY_FILE", str(tmp_path / "key"))
    assert env_secret("DJANGO_SECRET_KEY", tmp_path / "absent") == "from-file"


def test_the_named_file_wins_over_the_default_file(no_key_in_env, monkeypatch, tmp_path):
    (tmp_path / "key").write_text("from-file")
    (tmp_path / ".secret_key").write_text("from-checkout")
    monkeypatch.setenv("DJANGO_SECRET_KEY_FILE", str(tmp_path / "key"))
    assert env_secret("DJANGO_SECRET_KEY", tmp_path / ".secret_key") == "from-file"


def test_it_falls_back_to_the_default_file_when_nothing_is_set(no_key_in_env, tmp_path):
    (tmp_path / ".secret_key").write_text("from-checkout\n")
    assert env_secret("DJANGO_SECRET_KEY", tmp_path / ".secret_key") == "from-checkout"


def test_a_missing_named_file_is_an_error_naming_the_variable_and_path(no_key_in_env, monkeypatch, tmp_path):
    missing = tmp_path / "missing"
    (tmp_path / ".secret_key").write_text("from-checkout")  # never a silent fallback
    monkeypatch.setenv("DJANGO_SECRET_KEY_FILE", str(missing))
    with pytest.raises(ImproperlyConfigured) as error:
        env_secret("DJANGO_SECRET_KEY", tmp_path / ".secret_key")
    assert str(error.value).startswith(f"cannot read the secret in DJANGO_SECRET_KEY_FILE ({missing}): [Errno 2]")


def test_an_unreadable_named_file_is_an_error_naming_the_variable_and_path(no_key_in_env, monkeypatch, tmp_path):
    # A directory: unreadable as a file even for root, who reads any chmod 000 file.
    monkeypatch.setenv("DJANGO_SECRET_KEY_FILE", str(tmp_path))
    with pytest.raises(ImproperlyConfigured) as error:
        env_secret("DJANGO_SECRET_KEY", tmp_path / "absent")
    assert str(error.value).startswith(f"cannot read the secret in DJANGO_SECRET_KEY_FILE ({tmp_path}): ")


def test_an_empty_named_file_is_an_error_naming_the_variable_and_path(no_key_in_env, monkeypatch, tmp_path):
    (tmp_path / "key").write_text(" \n")
    monkeypatch.setenv("DJANGO_SECRET_KEY_FILE", str(tmp_path / "key"))
    with pytest.raises(ImproperlyConfigured) as error:
        env_secret("DJANGO_SECRET_KEY", tmp_path / "absent")
    assert str(error.value) == f"DJANGO_SECRET_KEY_FILE ({tmp_path / 'key'}) is empty: it must hold the secret"


def test_an_empty_default_file_is_an_error_naming_it(no_key_in_env, tmp_path):
    (tmp_path / ".secret_key").write_text("")
    with pytest.raises(ImproperlyConfigured) as error:
        env_secret("DJANGO_SECRET_KEY", tmp_path / ".secret_key")
    assert str(error.value) == f"{tmp_path / '.secret_key'} is empty: it must hold the secret"


def test_without_any_secret_the_error_names_all_three_sources(no_key_in_env, tmp_path):
    with pytest.raises(ImproperlyConfigured) as error:
        env_secret("DJANGO_SECRET_KEY", tmp_path / ".secret_key")
    assert str(error.value) == (
        "DJANGO_SECRET_KEY must be set, or DJANGO_SECRET_KEY_FILE must name a file that holds it, "
        f"or {tmp_path / '.secret_key'} must exist"
    )


def test_an_optional_secret_is_empty_when_nothing_gives_one(no_key_in_env, tmp_path):
    assert env_secret("DJANGO_SECRET_KEY", tmp_path / ".secret_key", required=False) == ""


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


def test_production_refuses_to_start_when_the_key_file_is_missing(tmp_path):
    # A missing key file rather than no key at all: a checkout's own .secret_key would otherwise give one.
    result = _start_django(DJANGO_SECRET_KEY_FILE=str(tmp_path / "missing"))
    assert result.returncode != 0
    assert f"DJANGO_SECRET_KEY_FILE ({tmp_path / 'missing'})" in result.stderr


def test_it_starts_with_the_key_in_the_environment():
    assert _start_django(DJANGO_SECRET_KEY="k").stdout.strip() == "started"


def test_manage_py_check_passes_with_the_key_only_in_a_file(tmp_path):
    key = tmp_path / "secret_key"
    key.write_text("a-key-from-a-credential-file\n")
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "camsite.settings",
        "DJANGO_SECRET_KEY_FILE": str(key),
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "DATABASE_PATH": str(tmp_path / "db.sqlite3"),
        "CAMERA_LOCK_PATH": str(tmp_path / "camera.lock"),
        "CAMERA_BACKEND": "simulated",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
