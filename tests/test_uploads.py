"""GET /uploads/<name>: finished captures only, never anything outside MEDIA_ROOT."""

from __future__ import annotations

import os

import pytest
from django.conf import settings


@pytest.fixture
def files():
    root = settings.MEDIA_ROOT
    (root / "a.jpg").write_bytes(b"\xff\xd8jpeg")
    (root / "b.mp4").write_bytes(b"mp4")
    (root / "c.h264").write_bytes(b"\x00\x00\x00\x01")
    (root / ".partial-1-0.mp4").write_bytes(b"half")
    (root.parent / "secret.txt").write_text("secret")
    os.symlink(root.parent / "secret.txt", root / "link.jpg")
    return root


@pytest.mark.parametrize(
    ("name", "content_type"), [("a.jpg", "image/jpeg"), ("b.mp4", "video/mp4"), ("c.h264", "video/h264")]
)
def test_it_serves_captures_with_their_type(client, files, name, content_type):
    response = client.get(f"/uploads/{name}")
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert int(response["Content-Length"]) == (files / name).stat().st_size
    assert b"".join(response.streaming_content) == (files / name).read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/uploads/.partial-1-0.mp4",  # still being written
        "/uploads/link.jpg",  # symlink out of MEDIA_ROOT
        "/uploads/..%2Fsecret.txt",
        "/uploads/%2E%2E/secret.txt",
        "/uploads/../secret.txt",
        "/uploads/a.jpg%00",
        "/uploads/%2Fetc%2Fpasswd",
        "/uploads/",
        "/uploads/missing.jpg",
    ],
)
def test_anything_else_is_a_404(client, files, path):
    assert client.get(path).status_code == 404


def test_head_gives_headers_without_a_body(client, files):
    response = client.head("/uploads/b.mp4")
    assert response.status_code == 200
    assert response["Content-Length"] == "3"
    assert response.content == b""
