from __future__ import annotations

from datetime import datetime

import pytest

from capture.filenames import BadFilename, default_filename, sanitize_filename


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("garden", "garden.jpg"),
        ("garden.jpg", "garden.jpg"),
        ("garden.JPG", "garden.jpg"),
        ("my garden (1)", "my_garden_1.jpg"),
        ("shot.v2", "shot.v2.jpg"),
        ("café", "caf.jpg"),
        ("  spaced  ", "spaced.jpg"),
        ("ｇａｒｄｅｎ", "garden.jpg"),  # fullwidth letters fold to ASCII
    ],
)
def test_it_sanitises_names(raw, expected):
    assert sanitize_filename(raw, "jpg") == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("../etc/passwd", "plain file name"),
        ("/etc/passwd", "plain file name"),
        ("a\\b", "plain file name"),
        ("a／b", "plain file name"),  # fullwidth solidus folds to "/"
        ("x\x00.jpg", "NUL"),
        ("..", "no usable characters"),
        (".", "no usable characters"),
        ("***", "no usable characters"),
        ("clip.mp4", "does not match format jpg"),
        ("a" * 101, "too long"),
    ],
)
def test_it_refuses_bad_names(raw, reason):
    with pytest.raises(BadFilename, match=reason):
        sanitize_filename(raw, "jpg")


def test_the_default_name_has_the_node_servers_shape():
    when = datetime(2024, 1, 1, 12, 0, 0)
    assert default_filename(when, 1920, 1080, 30, 3, "mp4") == "20240101_120000_1920x1080_30fps_3s.mp4"
    assert default_filename(when, 1280, 720, 30, 1.5, "jpg") == "20240101_120000_1280x720_30fps_1.5s.jpg"
