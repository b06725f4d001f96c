"""capture.lib.mjpeg: cutting a camera's concatenated JPEGs into frames."""

from __future__ import annotations

from capture.lib import mjpeg


def jpeg(n: int) -> bytes:
    return b"\xff\xd8\xff\xe0" + bytes([n]) * 100 + b"\xff\x00" + b"\xff\xd9"


def test_it_cuts_concatenated_frames_whatever_the_chunk_boundaries():
    stream = b"".join(jpeg(n) for n in range(5))
    for size in (1, 2, 3, 7, 64, len(stream)):
        splitter = mjpeg.JpegSplitter()
        frames = []
        for start in range(0, len(stream), size):
            frames += splitter.feed(stream[start : start + size])
        assert frames == [jpeg(n) for n in range(5)], size


def test_bytes_before_a_frame_are_skipped():
    assert mjpeg.JpegSplitter().feed(b"noise\xff" + jpeg(1)) == [jpeg(1)]


def test_a_frame_that_never_ends_is_dropped_instead_of_growing_without_bound():
    splitter = mjpeg.JpegSplitter()
    splitter.feed(b"\xff\xd8" + b"\x00" * (mjpeg.MAX_FRAME_BYTES + 10))
    assert splitter.feed(jpeg(2)) == [jpeg(2)]


def test_a_part_names_its_type_and_length():
    assert mjpeg.part(b"\xff\xd8ab\xff\xd9") == (
        b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: 6\r\n\r\n\xff\xd8ab\xff\xd9\r\n"
    )
