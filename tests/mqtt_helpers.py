"""A real mosquitto on 127.0.0.1 (own port, config and directory) that a test can stop and start again, and
a paho subscriber that records what arrives."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho

from tests.net import free_port


class Broker:
    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.config = tmp / "mosquitto.conf"
        self.config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.log_path = tmp / "mosquitto.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Broker:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(["mosquitto", "-c", str(self.config)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not self._accepts():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mosquitto did not start:\n{self.log_path.read_text()}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def _accepts(self) -> bool:
        import socket

        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0


class Subscriber:
    """A client subscribed to `pattern`, keeping every message (topic, payload bytes, retained)."""

    def __init__(self, broker: Broker, pattern: str = "#") -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda client, *args: client.subscribe(pattern, qos=1)
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("the subscriber was not subscribed within 10 s")

    def _on_message(self, client, userdata, message) -> None:
        with self._lock:
            self.messages.append((message.topic, message.payload, bool(message.retain)))

    def wait_for(self, topic: str, timeout: float = 30, after: int = 0) -> bytes:
        """The payload of the first message on `topic` among those received after the first `after`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = [payload for name, payload, _ in self.messages[after:] if name == topic]
            if found:
                return found[0]
            time.sleep(0.05)
        raise TimeoutError(f"nothing on {topic} within {timeout} s; got {[m[0] for m in self.messages]}")

    def wait_for_json(self, topic: str, check, timeout: float = 30) -> dict:
        """The first JSON message on `topic` for which `check(message)` is true."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [body for body in map(json.loads, self.payloads(topic)) if check(body)]
            if found:
                return found[0]
            time.sleep(0.05)
        raise TimeoutError(f"no such message on {topic} within {timeout} s; got {self.payloads(topic)}")

    def payloads(self, topic: str) -> list[bytes]:
        with self._lock:
            return [payload for name, payload, _ in self.messages if name == topic]

    def count(self) -> int:
        with self._lock:
            return len(self.messages)

    def publish(self, topic: str, payload: str) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
