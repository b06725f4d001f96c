"""Zero events lost: a real gunicorn and worker, a real receiver that is down for a while, and a worker killed
with kill -9 in the middle; every capture's event arrives, signed, once its receiver is back."""

from __future__ import annotations

import sqlite3
import time

import pytest

from tests.servers import GunicornServer
from tests.webhook_receiver import Receiver, verify
from tests.workers import HueyWorker

pytestmark = pytest.mark.slow

CAPTURES = 6
SECRET = "shared-secret-for-the-test"


def add_webhook(db_path, url: str) -> None:
    with sqlite3.connect(db_path) as db:
        db.execute(
            "insert into capture_webhook (name, url, events, secret, enabled, created_at) "
            "values ('receiver', ?, '[\"capture.finished\", \"capture.failed\"]', ?, 1, datetime('now'))",
            (url, SECRET),
        )


def statuses(db_path) -> dict[str, int]:
    with sqlite3.connect(db_path) as db:
        return dict(db.execute("select status, count(*) from capture_eventdelivery group by status"))


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.1)


def test_no_event_is_lost_across_a_receiver_outage_and_a_killed_worker(tmp_path):
    receiver = Receiver()  # not started: down
    env = {
        "SIMULATED_SPEED": "5",
        # A minute's outage, accelerated: retries every 0.2 s doubling to 1 s, plenty of attempts.
        "EVENT_RETRY_DELAY_SEC": "0.2",
        "EVENT_RETRY_MAX_DELAY_SEC": "1",
        "EVENT_MAX_ATTEMPTS": "100",
        "WEBHOOK_TIMEOUT_SEC": "2",
    }
    server = GunicornServer(tmp_path, workers=2, threads=2, env=env).start()
    worker = HueyWorker(server.env, tmp_path / "worker.log")
    db_path = tmp_path / "db.sqlite3"
    try:
        add_webhook(db_path, receiver.url)
        worker.start()
        filenames = []
        for n in range(CAPTURES):
            answer = server.post("/api/camera/capture", {"format": "jpg", "width": 160, "height": 120})
            assert answer.status_code == 200, answer.text
            filenames.append(answer.json()["filename"])
            if n == CAPTURES // 2:
                # Some deliveries have failed and wait for their retry on huey's schedule: kill the worker.
                wait_until(lambda: "retrying in" in worker.log(), 20, "no failed attempt yet")
                worker.kill()
        assert statuses(db_path).get("delivered", 0) == 0

        worker.start()
        wait_until(lambda: worker.log().count("retrying in") >= 4, 20, "the restarted worker does not retry")
        receiver.start()
        wait_until(lambda: statuses(db_path) == {"delivered": CAPTURES}, 60, f"not all delivered: {statuses(db_path)}")
    finally:
        worker.stop()
        server.stop()
        receiver.stop()

    got = receiver.received
    assert sorted(item["json"]["capture"]["filename"] for item in got) == sorted(filenames)
    assert len({item["json"]["eventId"] for item in got}) == CAPTURES  # each event once
    assert all(item["json"]["event"] == "capture.finished" for item in got)
    assert all(verify(SECRET, item["headers"], item["body"], now=time.time()) for item in got)
