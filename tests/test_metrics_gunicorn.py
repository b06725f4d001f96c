"""/metrics behind a real gunicorn with two workers: every worker answers with the database's counts."""

from __future__ import annotations

import re

import pytest

from tests.servers import GunicornServer
from tests.test_metrics import samples

pytestmark = pytest.mark.slow

OK_JPG = ("camsite_captures", (("camera", "0"), ("format", "jpg"), ("source", "api"), ("status", "ok")))


def pids_of(log: str, request: str) -> set[str]:
    return set(re.findall(rf"capture\.requests \[(\d+)\] {re.escape(request)} 200", log))


def test_counts_match_across_workers(tmp_path):
    server = GunicornServer(tmp_path, workers=2, threads=1, env={"SIMULATED_SPEED": "10"}).start()
    try:
        captures = 0
        # New connections until captures were served by both workers (the kernel spreads accepts; bounded).
        while captures < 20 and (captures < 4 or len(pids_of(server.log(), "POST /api/camera/capture")) < 2):
            answer = server.post("/api/camera/capture", {"format": "jpg", "width": 160, "height": 120})
            assert answer.status_code == 200, answer.text
            captures += 1
        assert len(pids_of(server.log(), "POST /api/camera/capture")) == 2, "captures never reached both workers"

        scrapes = []
        while len(scrapes) < 30 and (len(scrapes) < 4 or len(pids_of(server.log(), "GET /metrics")) < 2):
            response = server.get("/metrics")
            assert response.status_code == 200
            scrapes.append(samples(response.text))
        assert len(pids_of(server.log(), "GET /metrics")) == 2, "scrapes never reached both workers"
    finally:
        server.stop()
    assert {scrape[OK_JPG] for scrape in scrapes} == {captures}
    assert {scrape[("camsite_capture_seconds_count", (("format", "jpg"),))] for scrape in scrapes} == {captures}
