"""MQTT with a real mosquitto, a real gunicorn and a real worker: events, state, the latest still, Home
Assistant discovery, the capture button, a broker restart and a broker that is down."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from tests.mqtt_helpers import Broker, Subscriber
from tests.servers import GunicornServer
from tests.workers import HueyWorker

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("mosquitto") is None, reason="no mosquitto (apt install mosquitto)"),
]

CAPTURE = {"format": "jpg", "width": 320, "height": 240}


@pytest.fixture
def broker(tmp_path):
    broker = Broker(tmp_path).start()
    yield broker
    broker.stop()


@pytest.fixture
def server(tmp_path, broker):
    env = {
        "SIMULATED_SPEED": "10",
        "MQTT_URL": broker.url,
        "MQTT_PREFIX": "cam-test",
        "EVENT_RETRY_DELAY_SEC": "0.2",
        "EVENT_RETRY_MAX_DELAY_SEC": "1",
        "EVENT_MAX_ATTEMPTS": "100",
    }
    server = GunicornServer(tmp_path, workers=1, threads=2, env=env).start()
    yield server
    server.stop()


@pytest.fixture
def worker(server, tmp_path):
    worker = HueyWorker(server.env, tmp_path / "worker.log").start()
    worker.wait_for_log("MQTT: connected", timeout=15)
    yield worker
    worker.stop()


@pytest.fixture
def subscriber(broker):
    subscriber = Subscriber(broker)
    yield subscriber
    subscriber.close()


def take(server) -> dict:
    answer = server.post("/api/camera/capture", CAPTURE, timeout=20)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_capture_publishes_its_event_the_cameras_state_and_the_still(server, worker, subscriber):
    seen = subscriber.count()  # the retained state of before the capture
    answer = take(server)
    event = json.loads(subscriber.wait_for("cam-test/events/capture.finished", after=seen))
    assert event["event"] == "capture.finished"
    assert event["capture"]["filename"] == answer["filename"]
    assert "?sig=" in event["fileUrl"]
    state = subscriber.wait_for_json("cam-test/camera/0/state", lambda state: state["lastFile"] == answer["filename"])
    assert state["lastStatus"] == "ok" and state["state"] == "idle"
    image = subscriber.wait_for("cam-test/camera/0/image")
    assert image == (server.uploads / answer["filename"]).read_bytes()


def test_discovery_announces_a_camera_and_a_button_that_takes_a_capture(server, worker, broker):
    subscriber = Subscriber(broker)  # subscribed after the worker connected: gets the retained configs
    try:
        camera = json.loads(subscriber.wait_for("homeassistant/camera/cam-test/camera0/config"))
        button = json.loads(subscriber.wait_for("homeassistant/button/cam-test/capture0/config"))
        assert subscriber.wait_for("cam-test/status") == b"online"
        # What Home Assistant's MQTT camera and button schemas require, and what ties them to one device.
        assert camera["topic"] == "cam-test/camera/0/image"
        assert button["command_topic"] == "cam-test/camera/0/capture"
        for config in (camera, button):
            assert config["availability_topic"] == "cam-test/status"
            assert config["device"]["identifiers"] == ["cam-test"]
            assert isinstance(config["name"], str) and config["unique_id"]
        assert camera["unique_id"] != button["unique_id"]

        seen = subscriber.count()
        subscriber.publish(button["command_topic"], button.get("payload_press", "PRESS"))
        event = json.loads(subscriber.wait_for("cam-test/events/capture.finished", after=seen))
        assert event["capture"]["source"] == "mqtt" and event["capture"]["status"] == "ok"
        still = subscriber.wait_for(camera["topic"], after=seen)
        assert still == (server.uploads / event["capture"]["filename"]).read_bytes()
        history = server.get("/api/captures/").json()["results"]
        assert [row["source"] for row in history] == ["mqtt"]
    finally:
        subscriber.close()


def test_after_a_broker_restart_it_reconnects_and_publishes_again(server, worker, broker):
    broker.stop()
    broker.start()
    worker.wait_for_log("MQTT: disconnected", timeout=15)
    subscriber = Subscriber(broker)
    try:
        assert subscriber.wait_for("cam-test/status", timeout=40) == b"online"  # republished on reconnect
        answer = take(server)
        event = json.loads(subscriber.wait_for("cam-test/events/capture.finished"))
        assert event["capture"]["filename"] == answer["filename"]
    finally:
        subscriber.close()


def test_with_the_broker_down_captures_work_and_their_events_follow_when_it_is_back(server, worker, broker):
    broker.stop()
    answers = [take(server) for _ in range(2)]  # the capture never waits for the broker
    worker.wait_for_log("not connected to the MQTT broker", timeout=15)
    broker.start()
    subscriber = Subscriber(broker)
    try:
        deadline = time.monotonic() + 30
        while len(finished(subscriber)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        subscriber.close()
    assert finished(subscriber) == {answer["filename"] for answer in answers}


def finished(subscriber: Subscriber) -> set[str]:
    return {
        json.loads(payload)["capture"]["filename"]
        for payload in subscriber.payloads("cam-test/events/capture.finished")
    }
