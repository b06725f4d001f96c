"""Deeply nested JSON bodies: a 400 in the API's error shape, never a RecursionError and a 500.

A capture or analyze body is one flat object, so nesting is refused at the parser (capture/api/parsers.py)
before json.loads recurses; nothing after it (the serializers, the error handler, the request log) ever
walks a structure deeper than MAX_JSON_DEPTH.
"""

from __future__ import annotations

import pytest

from capture.api.parsers import MAX_JSON_DEPTH, json_depth

ENDPOINTS = ["/api/camera/capture", "/api/analyze"]
TOO_DEEP = {"ok": False, "error": f"Malformed JSON body: nested deeper than {MAX_JSON_DEPTH} levels"}


def nested_lists(depth: int) -> str:
    return "[" * depth + "]" * depth


def nested_objects(depth: int) -> str:
    return '{"a": ' * (depth - 1) + '{"a": 1' + "}" * depth


def post_raw(api, url: str, raw: str):
    return api.generic("POST", url, raw, content_type="application/json")


@pytest.mark.parametrize("url", ENDPOINTS)
@pytest.mark.parametrize("depth", [5000, 900])  # past Python's recursion limit, and just under it
def test_a_deeply_nested_body_is_a_malformed_json_400(api, url, depth):
    response = post_raw(api, url, nested_lists(depth))
    assert (response.status_code, response.json()) == (400, TOO_DEEP)


@pytest.mark.parametrize("url", ENDPOINTS)
@pytest.mark.parametrize("depth", [5000, 900])
def test_a_deeply_nested_field_is_a_malformed_json_400(api, url, depth):
    response = post_raw(api, url, '{"filename": ' + nested_objects(depth) + "}")
    assert (response.status_code, response.json()) == (400, TOO_DEEP)


@pytest.mark.parametrize(
    ("url", "field", "message"),
    [
        ("/api/camera/capture", "format", "Invalid parameters: format: "),
        ("/api/camera/capture", "width", "Invalid parameters: width: A valid integer is required."),
        ("/api/analyze", "filename", "Invalid parameters: filename: Not a valid string."),
    ],
)
def test_the_deepest_body_let_through_gets_the_fields_own_400(api, url, field, message):
    # The whole body at MAX_JSON_DEPTH: the serializer and the error handler see it, and answer as for any bad value.
    response = post_raw(api, url, f'{{"{field}": {nested_lists(MAX_JSON_DEPTH - 1)}}}')
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)


def test_it_counts_the_nesting_of_arrays_and_objects():
    assert json_depth(b'{"format": "jpg"}') == 1
    assert json_depth(b'{"a": [1, {"b": []}], "c": {}}') == 4
    assert json_depth(b"42") == 0


def test_brackets_inside_strings_do_not_count():
    assert json_depth(b'{"filename": "[[[{{{", "path": "\\\\\\"[[["}') == 1
