"""The strict readers of the events' settings: PUBLIC_URL and MQTT_URL (env_url), MQTT topics (env_topic)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from camsite.env import env_topic, env_url


def test_a_url_needs_its_scheme_and_a_host(monkeypatch):
    monkeypatch.setenv("X", "http://camera.local/")
    assert env_url("X") == "http://camera.local"
    monkeypatch.setenv("X", "mqtt://user:pw@broker:1883")
    assert env_url("X", schemes=("mqtt", "mqtts")) == "mqtt://user:pw@broker:1883"
    for bad in ("camera.local", "ftp://camera.local", "http://", "tcp://broker:1883"):
        monkeypatch.setenv("X", bad)
        with pytest.raises(ImproperlyConfigured, match="X must be a"):
            env_url("X", schemes=("http", "https") if not bad.startswith("tcp") else ("mqtt",))


def test_an_unset_url_is_empty(monkeypatch):
    monkeypatch.delenv("X", raising=False)
    assert env_url("X") == ""


def test_a_topic_prefix_has_no_wildcards(monkeypatch):
    monkeypatch.setenv("X", "/home/camera/")
    assert env_topic("X", "camsite") == "home/camera"
    for bad in ("cams/+", "#", "/"):
        monkeypatch.setenv("X", bad)
        with pytest.raises(ImproperlyConfigured, match="X must be an MQTT topic"):
            env_topic("X", "camsite")
