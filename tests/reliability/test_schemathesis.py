"""Property-based fuzzing of every API operation from our own OpenAPI schema (/api/schema/).

The schemathesis CLI runs against a real gunicorn with the simulated camera and checks that no response is
a 5xx and that every response conforms to the schema (status code, content type, body).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability.figures import record
from tests.servers import GunicornServer

pytestmark = pytest.mark.slow
TOKEN = "fuzz-token"


@pytest.fixture
def server(gunicorn) -> GunicornServer:
    # Small bounds keep every generated capture short; validation of larger values is what's fuzzed.
    env = {
        "SIMULATED_SPEED": "50",
        "CAPTURE_MAX_DURATION_SEC": "2",
        "CAPTURE_MAX_WIDTH": "640",
        "CAPTURE_MAX_HEIGHT": "480",
        "CAPTURE_MAX_FPS": "30",
        "AUTH_TOKEN": TOKEN,
    }
    return gunicorn(workers=2, threads=4, env=env)


@pytest.mark.timeout(300)
def test_schemathesis_finds_no_5xx_and_no_schema_violation(server, tmp_path):
    report = tmp_path / "schemathesis.ndjson"
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("st")), "run", f"{server.url}/api/schema/",
            "--header", f"Authorization: Bearer {TOKEN}",
            # Responses: no 5xx, documented status codes, content types, bodies and headers. (Request-side
            # strictness checks are left out: e.g. an odd width is schema-valid but refused for video.)
            "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                        "response_schema_conformance,response_headers_conformance",
            "--max-examples", "20",
            "--max-time", "120",
            "--request-timeout", "30",
            "--seed", "1",
            "--report", "ndjson", "--report-ndjson-path", str(report),
        ],
        cwd=tmp_path,  # its .hypothesis/ and .schemathesis/ stay this test's own, not the checkout's
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    statuses = _response_statuses(report)
    record("bad_input", "schemathesis_requests", len(statuses))
    record("bad_input", "schemathesis_5xx", sum(code >= 500 for code in statuses))
    assert statuses, "schemathesis sent no request"
    assert not [code for code in statuses if code >= 500]
    # Thousands of authorised requests, and the token never reached the log.
    assert "POST /api/camera/capture" in server.log()
    assert TOKEN not in server.log()


def _response_statuses(report: Path) -> list[int]:
    codes = []
    for line in report.read_text().splitlines():
        codes += [int(m) for m in _find_status_codes(json.loads(line))]
    return codes


def _find_status_codes(event) -> list[int]:
    """Every `status_code` in the event, wherever the report nests the responses."""
    found = []
    if isinstance(event, dict):
        for key, value in event.items():
            if key == "status_code" and isinstance(value, int):
                found.append(value)
            else:
                found += _find_status_codes(value)
    elif isinstance(event, list):
        for item in event:
            found += _find_status_codes(item)
    return found
