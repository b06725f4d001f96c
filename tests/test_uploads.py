"""GET /uploads/<name>: finished captures only, never anything outside MEDIA_ROOT; Range and caching headers."""

from __future__ import annotations

import os
import time

import pytest
from django.conf import settings
from django.utils.http import http_date

from capture.uploads import serve_file, serve_upload

BODY = bytes(range(256)) * 4  # 1024 distinct-enough bytes: a wrong offset shows


@pytest.fixture
def files(db):  # serving asks the database whether any API token exists (files are protected then)
    root = settings.MEDIA_ROOT
    (root / "a.jpg").write_bytes(b"\xff\xd8jpeg")
    (root / "b.mp4").write_bytes(b"mp4")
    (root / "c.h264").write_bytes(b"\x00\x00\x00\x01")
    (root / "d.JPEG").write_bytes(b"\xff\xd8")
    (root / "notes.unknownext").write_bytes(b"?")
    (root / "video.mp4").write_bytes(BODY)
    (root / "empty.mp4").write_bytes(b"")
    (root / ".partial-1-0.mp4").write_bytes(b"half")
    (root / ".thumbnails").mkdir()
    (root / ".thumbnails" / "a.jpg.small.jpg").write_bytes(b"\xff\xd8thumb")
    (root / "subdir").mkdir()
    (root / "subdir" / "x.jpg").write_bytes(b"\xff\xd8")
    (root.parent / "secret.txt").write_text("secret")
    os.symlink(root.parent / "secret.txt", root / "link.jpg")
    os.symlink(root / ".partial-1-0.mp4", root / "link-to-partial.mp4")
    os.symlink(root / ".thumbnails" / "a.jpg.small.jpg", root / "link-to-thumbnail.jpg")
    os.symlink(root / "video.mp4", root / "alias.mp4")  # a symlink that stays inside is a capture like any other
    return root


def get_range(client, range_header: str, name: str = "video.mp4", **headers):
    return client.get(f"/uploads/{name}", headers={"Range": range_header, **headers})


def body(response) -> bytes:
    return b"".join(response.streaming_content)


# --- Types and lengths ---


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("a.jpg", "image/jpeg"),
        ("d.JPEG", "image/jpeg"),
        ("b.mp4", "video/mp4"),
        ("c.h264", "video/h264"),
        ("notes.unknownext", "application/octet-stream"),
    ],
)
def test_it_serves_captures_with_their_type(client, files, name, content_type):
    response = client.get(f"/uploads/{name}")
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert int(response["Content-Length"]) == (files / name).stat().st_size
    assert body(response) == (files / name).read_bytes()
    assert response["X-Content-Type-Options"] == "nosniff"


def test_it_says_it_accepts_ranges(client, files):
    assert client.get("/uploads/video.mp4")["Accept-Ranges"] == "bytes"


def test_an_empty_file_is_served_empty(client, files):
    response = client.get("/uploads/empty.mp4")
    assert response.status_code == 200
    assert response["Content-Length"] == "0"
    assert body(response) == b""


def test_a_symlink_inside_the_upload_dir_is_served(client, files):
    assert body(client.get("/uploads/alias.mp4")) == BODY


def test_the_body_streams_from_the_open_file_at_the_range_offset(rf, files, db):
    # The WSGI server gets the open file (FileResponse.file_to_stream), positioned at the range's first byte:
    # gunicorn then sends Content-Length bytes from there with sendfile(), never reading them into Python.
    # (`db`: closing a response sends request_finished, which checks the database connection.)
    response = serve_upload(rf.get("/uploads/video.mp4", headers={"Range": "bytes=100-199"}), "video.mp4")
    fd = response.file_to_stream.fileno()
    assert os.lseek(fd, 0, os.SEEK_CUR) == 100
    assert os.path.samefile(f"/proc/self/fd/{fd}", files / "video.mp4")
    assert response["Content-Length"] == "100"
    response.close()
    assert not open_descriptors_of(files / "video.mp4")  # closing the response closes the file


def open_descriptors_of(path) -> list[str]:
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.path.samefile(f"/proc/self/fd/{fd}", path):
                found.append(fd)
        except OSError:
            continue
    return found


# --- Range ---


@pytest.mark.parametrize(
    ("range_header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),  # a single range
        ("bytes=100-199", 100, 199),
        ("bytes=1023-1023", 1023, 1023),  # the last byte
        ("bytes=1000-", 1000, 1023),  # open-ended
        ("bytes=0-", 0, 1023),
        ("bytes=-24", 1000, 1023),  # suffix: the last 24 bytes
        ("bytes=-5000", 0, 1023),  # a suffix longer than the file is the whole file
        ("bytes=1000-99999", 1000, 1023),  # a last byte past the end is clipped
        ("bytes = 10 - 19", 10, 19),  # whitespace is tolerated
    ],
)
def test_a_single_range_gets_206_with_exactly_those_bytes(client, files, range_header, first, last):
    response = get_range(client, range_header)
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {first}-{last}/1024"
    assert response["Content-Length"] == str(last - first + 1)
    assert response["Content-Type"] == "video/mp4"
    assert body(response) == BODY[first : last + 1]


@pytest.mark.parametrize("range_header", ["bytes=1024-", "bytes=5000-6000", "bytes=-0"])
def test_an_unsatisfiable_range_gets_416(client, files, range_header):
    response = get_range(client, range_header)
    assert response.status_code == 416
    assert response["Content-Range"] == "bytes */1024"


def test_any_range_of_an_empty_file_is_unsatisfiable(client, files):
    assert get_range(client, "bytes=0-", name="empty.mp4").status_code == 416
    assert get_range(client, "bytes=-10", name="empty.mp4").status_code == 416


@pytest.mark.parametrize(
    "range_header",
    [
        "bytes=0-1,5-6",  # several ranges: we send the whole file, as RFC 9110 allows
        "bytes=20-10",  # last before first: malformed
        "bytes=-",
        "bytes=abc",
        "items=0-10",  # another unit
        "0-10",
    ],
)
def test_a_range_we_do_not_serve_gets_the_whole_file(client, files, range_header):
    response = get_range(client, range_header)
    assert response.status_code == 200
    assert "Content-Range" not in response
    assert body(response) == BODY


def test_if_range_with_the_current_etag_gets_the_range(client, files):
    etag = client.get("/uploads/video.mp4")["ETag"]
    response = get_range(client, "bytes=0-9", **{"If-Range": etag})
    assert response.status_code == 206
    assert body(response) == BODY[:10]


def test_if_range_with_the_current_date_gets_the_range(client, files):
    last_modified = client.get("/uploads/video.mp4")["Last-Modified"]
    assert get_range(client, "bytes=0-9", **{"If-Range": last_modified}).status_code == 206


@pytest.mark.parametrize("if_range", ['"stale-etag"', 'W/"weak"', "Mon, 01 Jan 2001 00:00:00 GMT", "garbage"])
def test_if_range_for_an_older_copy_gets_the_whole_file(client, files, if_range):
    response = get_range(client, "bytes=0-9", **{"If-Range": if_range})
    assert response.status_code == 200
    assert body(response) == BODY


# --- HEAD ---


def test_head_gives_headers_without_a_body(client, files):
    response = client.head("/uploads/b.mp4")
    assert response.status_code == 200
    assert response["Content-Length"] == "3"
    assert response["Content-Type"] == "video/mp4"
    assert "ETag" in response and "Last-Modified" in response
    assert response.content == b""


def test_head_with_a_range_gives_the_206_headers_without_a_body(client, files):
    response = client.head("/uploads/video.mp4", headers={"Range": "bytes=-24"})
    assert response.status_code == 206
    assert response["Content-Range"] == "bytes 1000-1023/1024"
    assert response["Content-Length"] == "24"
    assert response.content == b""


def test_other_methods_are_refused(client, files):
    assert client.post("/uploads/video.mp4").status_code == 405
    assert client.delete("/uploads/video.mp4").status_code == 405
    assert (files / "video.mp4").exists()


# --- Caching headers ---


def test_it_sends_an_etag_and_last_modified(client, files):
    path = files / "video.mp4"
    response = client.get("/uploads/video.mp4")
    assert response["Last-Modified"] == http_date(int(path.stat().st_mtime))
    assert response["ETag"].startswith('"') and response["ETag"].endswith('"')
    assert response["Cache-Control"] == "no-cache"  # cache, but ask first: a deleted name can come back


def test_if_none_match_with_the_current_etag_gets_304(client, files):
    etag = client.get("/uploads/video.mp4")["ETag"]
    response = client.get("/uploads/video.mp4", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response["ETag"] == etag
    assert response.content == b""


def test_if_none_match_wins_over_a_range(client, files):
    etag = client.get("/uploads/video.mp4")["ETag"]
    response = get_range(client, "bytes=0-9", **{"If-None-Match": etag})
    assert response.status_code == 304


def test_if_none_match_with_another_etag_gets_the_file(client, files):
    response = client.get("/uploads/video.mp4", headers={"If-None-Match": '"something-else"'})
    assert response.status_code == 200
    assert body(response) == BODY


def test_if_modified_since_the_last_change_gets_304(client, files):
    last_modified = client.get("/uploads/video.mp4")["Last-Modified"]
    assert client.get("/uploads/video.mp4", headers={"If-Modified-Since": last_modified}).status_code == 304


def test_if_modified_since_before_the_last_change_gets_the_file(client, files):
    earlier = http_date((files / "video.mp4").stat().st_mtime - 60)
    assert client.get("/uploads/video.mp4", headers={"If-Modified-Since": earlier}).status_code == 200


def test_if_none_match_is_checked_instead_of_if_modified_since(client, files):
    # RFC 9110: a recipient that has If-None-Match ignores If-Modified-Since.
    future = http_date(time.time() + 3600)
    response = client.get("/uploads/video.mp4", headers={"If-None-Match": '"other"', "If-Modified-Since": future})
    assert response.status_code == 200


def test_a_changed_file_gets_a_new_etag(client, files):
    path = files / "video.mp4"
    before = client.get("/uploads/video.mp4")["ETag"]
    path.write_bytes(BODY[:-1])
    os.utime(path, (time.time() + 5, time.time() + 5))
    after = client.get("/uploads/video.mp4")
    assert after["ETag"] != before
    assert client.get("/uploads/video.mp4", headers={"If-None-Match": before}).status_code == 200


def test_if_match_with_a_stale_etag_gets_412(client, files):
    assert client.get("/uploads/video.mp4", headers={"If-Match": '"stale"'}).status_code == 412


def test_serve_file_takes_an_explicit_type_and_cache_policy(rf, files, db):
    response = serve_file(rf.get("/x"), files / "a.jpg", content_type="image/png", cache_control="private")
    assert response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "private"
    response.close()


# --- Only finished captures, only inside MEDIA_ROOT ---


@pytest.mark.parametrize(
    "path",
    [
        "/uploads/.partial-1-0.mp4",  # still being written
        "/uploads/.thumbnails",  # the thumbnail cache
        "/uploads/.thumbnails/a.jpg.small.jpg",
        "/uploads/%2Ethumbnails%2Fa.jpg.small.jpg",
        "/uploads/link.jpg",  # symlink out of MEDIA_ROOT
        "/uploads/link-to-partial.mp4",  # symlink to a hidden file
        "/uploads/link-to-thumbnail.jpg",
        "/uploads/subdir",  # a directory
        "/uploads/subdir/x.jpg",
        "/uploads/subdir%2Fx.jpg",
        "/uploads/..%2Fsecret.txt",
        "/uploads/%2E%2E/secret.txt",
        "/uploads/%2E%2E%2Fsecret.txt",
        "/uploads/%252E%252E%252Fsecret.txt",  # double-encoded: a literal, missing name
        "/uploads/../secret.txt",
        "/uploads/..",
        "/uploads/..%5Csecret.txt",  # backslash
        "/uploads/a.jpg%00",  # NUL
        "/uploads/a.jpg%00.mp4",
        "/uploads/%2Fetc%2Fpasswd",  # absolute paths
        "/uploads//etc/passwd",
        "/uploads/%2F" + "tmp",
        "/uploads/",
        "/uploads/missing.jpg",
    ],
)
def test_anything_else_is_a_404(client, files, path):
    assert client.get(path).status_code == 404


@pytest.mark.parametrize(
    ("method", "headers", "status"),
    [
        ("head", {}, 200),
        ("get", {"Range": "bytes=5000-"}, 416),
        ("get", {"If-None-Match": "*"}, 304),
        ("get", {"If-Match": '"stale"'}, 412),
    ],
)
def test_answers_without_a_body_leave_no_file_open(rf, files, method, headers, status):
    response = serve_upload(getattr(rf, method)("/uploads/video.mp4", headers=headers), "video.mp4")
    assert response.status_code == status
    assert not open_descriptors_of(files / "video.mp4")
