"""capture.lib.media_size on real files: JPEGs, MP4s and raw H.264 streams made here by ffmpeg and Pillow."""

from __future__ import annotations

import io
import os
import re
import struct
from pathlib import Path

import av
import pytest
from PIL import Image

from capture.lib.ffmpeg import base_argv, find_ffmpeg
from capture.lib.media_size import H264_SCAN_BYTES, pixel_size
from capture.lib.runner import run_command


def ffmpeg(out: Path, *args: str, size: str, frames: int = 2) -> Path:
    """`frames` of ffmpeg's test pattern at `size`, encoded with `args` into `out`."""
    source = ["-f", "lavfi", "-i", f"testsrc=size={size}:rate=25"]
    run_command([*base_argv(find_ffmpeg()), *source, "-frames:v", str(frames), *args, str(out)], timeout=60)
    return out


def jpeg(path: Path, size: str) -> Path:
    return ffmpeg(path, "-c:v", "mjpeg", "-pix_fmt", "yuvj420p", "-update", "1", size=size, frames=1)


def x264(path: Path, size: str, *args: str) -> Path:
    """H.264 by libx264: MP4 (moov last, ffmpeg's default) or a raw Annex-B stream, by the suffix."""
    container = ["-f", "h264"] if path.suffix == ".h264" else []
    # veryfast, not ultrafast: ultrafast turns off CABAC and 8x8 transforms, and x264 then writes a Baseline
    # SPS whatever -profile:v asks for.
    return ffmpeg(path, "-c:v", "libx264", "-preset", "veryfast", *args, *container, size=size)


def sps_profile(stream: Path) -> int:
    data = stream.read_bytes()
    return data[data.index(b"\x00\x00\x01\x67") + 4]


def exif_with_thumbnail(thumbnail: bytes) -> bytes:
    """An APP1 Exif payload whose IFD1 holds `thumbnail`, a whole JPEG, as cameras write it."""
    ifd1 = 8 + 6  # after the TIFF header and an empty IFD0 (entry count, next-IFD offset)
    data = ifd1 + 2 + 2 * 12 + 4
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8)
    tiff += struct.pack(">HI", 0, ifd1)  # IFD0: no entries, IFD1 next
    tiff += struct.pack(">H", 2)
    tiff += struct.pack(">HHII", 0x0201, 4, 1, data)  # JPEGInterchangeFormat
    tiff += struct.pack(">HHII", 0x0202, 4, 1, len(thumbnail))  # JPEGInterchangeFormatLength
    tiff += struct.pack(">I", 0)
    return b"Exif\x00\x00" + tiff + thumbnail


# --- JPEG -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), [(640, 478), (641, 479)])
def test_it_reads_a_jpegs_size(tmp_path, width, height):
    assert pixel_size(jpeg(tmp_path / "a.jpg", f"{width}x{height}")) == (width, height)


def test_an_exif_thumbnail_is_skipped_not_taken_for_the_picture(tmp_path):
    thumbnail = io.BytesIO()
    Image.new("RGB", (160, 120), "red").save(thumbnail, "JPEG")
    Image.new("RGB", (800, 600), "blue").save(tmp_path / "a.jpg", exif=exif_with_thumbnail(thumbnail.getvalue()))
    data = (tmp_path / "a.jpg").read_bytes()
    assert data.index(thumbnail.getvalue()) < data.rindex(b"\xff\xc0")  # the thumbnail's SOF0 comes first
    assert pixel_size(tmp_path / "a.jpg") == (800, 600)


def test_it_reads_a_progressive_jpeg(tmp_path):
    Image.new("RGB", (333, 222), "green").save(tmp_path / "p.jpg", progressive=True)
    assert pixel_size(tmp_path / "p.jpg") == (333, 222)


# --- MP4 --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (642, 360)])  # both coded larger and cropped
@pytest.mark.parametrize("movflags", [[], ["-movflags", "+faststart"]], ids=["moov-last", "moov-first"])
def test_it_reads_an_mp4s_size(tmp_path, width, height, movflags):
    mp4 = x264(tmp_path / "a.mp4", f"{width}x{height}", *movflags)
    data = mp4.read_bytes()
    assert (data.index(b"moov") < data.index(b"mdat")) == bool(movflags)
    assert pixel_size(mp4) == (width, height)


def test_it_reads_an_hevc_mp4s_size(tmp_path):
    mp4 = ffmpeg(tmp_path / "a.mp4", "-c:v", "libx265", "-preset", "ultrafast", "-tag:v", "hvc1", size="642x360")
    assert b"hvc1" in mp4.read_bytes()
    assert pixel_size(mp4) == (642, 360)


def test_it_seeks_past_a_huge_mdat_to_a_moov_at_the_end(tmp_path):
    data = x264(tmp_path / "a.mp4", "642x360", "-movflags", "+faststart").read_bytes()
    ftyp_size = struct.unpack(">I", data[:4])[0]
    moov_at = data.index(b"moov") - 4
    moov = data[moov_at : moov_at + struct.unpack(">I", data[moov_at : moov_at + 4])[0]]
    mdat_size = 6 << 30  # a 64-bit box size; sparse on disk, and far too big to read
    with (tmp_path / "long.mp4").open("wb") as out:
        out.write(data[:ftyp_size])
        out.write(struct.pack(">I4sQ", 1, b"mdat", mdat_size))
        out.seek(mdat_size - 16, os.SEEK_CUR)
        out.write(moov)
    assert pixel_size(tmp_path / "long.mp4") == (642, 360)


def test_it_falls_back_to_the_track_header_size(tmp_path):
    data = bytearray(x264(tmp_path / "a.mp4", "642x360").read_bytes())
    entry = data.index(b"avc1") + 4
    data[entry + 24 : entry + 28] = bytes(4)  # the sample entry's width and height, zeroed
    (tmp_path / "b.mp4").write_bytes(data)
    assert pixel_size(tmp_path / "b.mp4") == (642, 360)


def test_it_takes_the_video_track_after_an_audio_track(tmp_path):
    mp4 = tmp_path / "av.mp4"
    argv = [*base_argv(find_ffmpeg()), "-f", "lavfi", "-i", "sine=duration=0.2", "-f", "lavfi"]
    argv += ["-i", "testsrc=size=650x366:rate=25:duration=0.08", "-frames:v", "2", "-map", "0:a", "-map", "1:v"]
    run_command([*argv, "-c:a", "aac", "-c:v", "libx264", "-preset", "ultrafast", str(mp4)], timeout=60)
    assert re.findall(rb"hdlr.{8}(soun|vide)", mp4.read_bytes(), re.DOTALL) == [b"soun", b"vide"]  # track order
    assert pixel_size(mp4) == (650, 366)


# --- Raw H.264 ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (650, 366)])
@pytest.mark.parametrize(("profile", "profile_idc"), [("baseline", 66), ("main", 77), ("high", 100)])
def test_it_reads_a_raw_h264_streams_size(tmp_path, width, height, profile, profile_idc):
    stream = x264(tmp_path / "a.h264", f"{width}x{height}", "-profile:v", profile, "-pix_fmt", "yuv420p")
    assert sps_profile(stream) == profile_idc  # the SPS layout under test
    assert pixel_size(stream) == (width, height)


@pytest.mark.parametrize(
    ("pix_fmt", "profile", "profile_idc"),
    [("yuv422p", "high422", 122), ("yuv444p", "high444", 244)],
    ids=["4:2:2", "4:4:4"],
)
def test_it_crops_in_the_chroma_format_of_the_stream(tmp_path, pix_fmt, profile, profile_idc):
    stream = x264(tmp_path / "a.h264", "650x366", "-profile:v", profile, "-pix_fmt", pix_fmt)
    assert sps_profile(stream) == profile_idc
    assert pixel_size(stream) == (650, 366)


def ue(value: int) -> str:
    """An exp-Golomb code, as bits."""
    code = bin(value + 1)[2:]
    return "0" * (len(code) - 1) + code


def se(value: int) -> str:
    return ue(2 * value - 1 if value > 0 else -2 * value)


def scaling_lists() -> str:
    """seq_scaling_matrix_present_flag's eight lists for 4:2:0: full delta-coded ones, one absent, one that
    falls back to the default matrix at once (a first delta that makes the next scale 0)."""
    bits = ""
    for index in range(8):
        size = 16 if index < 6 else 64
        if index == 2:
            bits += "0"
        elif index == 4:
            bits += "1" + se(-8)
        else:
            bits += "1"
            last = 8
            for value in (6 + (j * 7 + index) % 90 for j in range(size)):
                bits += se((value - last + 128) % 256 - 128)
                last = value
    return bits


def with_scaling_lists(stream: bytes) -> bytes:
    """`stream` with its SPS given scaling lists. x264 puts its quantiser matrices in the PPS and never in
    the SPS, so the lists are spliced in: after profile, constraints and level (24 bits), sps id 0 (1),
    chroma_format_idc 1 (010), both bit depths 8 (1, 1) and qpprime_y_zero_transform_bypass_flag (0), at bit
    31, is seq_scaling_matrix_present_flag."""
    start = stream.index(b"\x00\x00\x01\x67") + 4
    end = stream.index(b"\x00\x00\x01", start)
    end -= stream[end - 1] == 0  # the zero byte of a 4-byte start code
    rbsp = stream[start:end].replace(b"\x00\x00\x03", b"\x00\x00")
    bits = "".join(f"{byte:08b}" for byte in rbsp)
    assert rbsp[0] == 100 and bits[24:32] == "10101100", "not the x264 High 4:2:0 SPS this splice expects"
    bits = bits[:31] + "1" + scaling_lists() + bits[32 : bits.rindex("1")] + "1"
    bits += "0" * (-len(bits) % 8)
    rbsp = int(bits, 2).to_bytes(len(bits) // 8, "big")
    escaped = bytearray()
    for byte in rbsp:  # emulation prevention: no 00 00 0x (x <= 3) inside a NAL
        if len(escaped) >= 2 and escaped[-2:] == b"\x00\x00" and byte <= 3:
            escaped.append(3)
        escaped.append(byte)
    return stream[:start] + bytes(escaped) + stream[end:]


def test_it_skips_the_scaling_lists_in_an_sps(tmp_path):
    stream = x264(tmp_path / "a.h264", "650x366", "-profile:v", "high", "-pix_fmt", "yuv420p").read_bytes()
    (tmp_path / "lists.h264").write_bytes(with_scaling_lists(stream))
    # ffmpeg's own decoder reads the spliced SPS as intended: the same pictures, the same size.
    with av.open(str(tmp_path / "lists.h264"), format="h264") as container:
        frame = next(container.decode(video=0))
    assert (frame.width, frame.height) == (650, 366)
    assert pixel_size(tmp_path / "lists.h264") == (650, 366)


def test_it_reads_an_interlaced_stream(tmp_path):
    # frame_mbs_only_flag 0: the height is in field macroblock pairs, and so is the cropping.
    stream = x264(
        tmp_path / "a.h264", "1920x1080", "-pix_fmt", "yuv420p", "-flags", "+ildct+ilme", "-x264-params", "tff=1"
    )
    assert pixel_size(stream) == (1920, 1080)


def test_it_reads_no_further_than_its_bound_for_an_sps(tmp_path):
    stream = x264(tmp_path / "a.h264", "650x366", "-pix_fmt", "yuv420p").read_bytes()
    filler = b"\x00\x00\x00\x01\x0c" + b"\xff" * H264_SCAN_BYTES  # a filler NAL, then the SPS too late
    (tmp_path / "late.h264").write_bytes(filler + stream)
    assert pixel_size(tmp_path / "late.h264") is None


# --- Not media, or broken ------------------------------------------------------------------------------------


def truncated(source: Path, out: Path, keep: int) -> Path:
    out.write_bytes(source.read_bytes()[:keep])
    return out


def test_a_jpeg_cut_before_its_frame_header_is_none(tmp_path):
    source = jpeg(tmp_path / "a.jpg", "640x478")
    cut = truncated(source, tmp_path / "cut.jpg", source.read_bytes().index(b"\xff\xc0"))
    assert pixel_size(cut) is None


def test_an_mp4_cut_before_its_moov_is_none(tmp_path):
    source = x264(tmp_path / "a.mp4", "642x360")
    assert pixel_size(truncated(source, tmp_path / "cut.mp4", source.stat().st_size // 2)) is None


def test_an_h264_stream_cut_inside_its_sps_is_none(tmp_path):
    source = x264(tmp_path / "a.h264", "1920x1080", "-profile:v", "high", "-pix_fmt", "yuv420p")
    assert pixel_size(truncated(source, tmp_path / "cut.h264", 10)) is None


@pytest.mark.parametrize(
    "content", [b"hello, this is not a picture\n", b"", b"\xff\xd8\xff", b"\x00\x00\x00\x18ftypisom"], ids=repr
)
def test_a_file_that_is_not_readable_media_is_none(tmp_path, content):
    (tmp_path / "file.jpg").write_bytes(content)
    assert pixel_size(tmp_path / "file.jpg") is None


def test_a_missing_path_a_directory_and_a_fifo_are_none(tmp_path):
    os.mkfifo(tmp_path / "fifo.h264")  # opening it for reading must not wait for a writer
    assert [pixel_size(tmp_path / name) for name in ("missing.jpg", ".", "fifo.h264")] == [None, None, None]


def test_a_jpeg_of_endless_fill_bytes_is_none(tmp_path):
    (tmp_path / "fill.jpg").write_bytes(b"\xff\xd8" + b"\xff" * 100_000)
    assert pixel_size(tmp_path / "fill.jpg") is None
