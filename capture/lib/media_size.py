"""The real pixel size of a capture, read from its headers: a JPEG, an MP4 or a raw H.264 stream.

The camera may round a requested size (641×479 became 640×478 with the real rpicam apps), so the server
records what the file really is rather than what was asked for. It does so in a web worker, where PyAV and
numpy are not loaded (about 25 MB a process), so this reads a few header bytes with the stdlib only,
seeks instead of reading whole files, and answers None, never an exception, for a file it can't read.
"""

from __future__ import annotations

import os
import stat
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

# Raw H.264: the SPS comes first in a camera's stream; a file without one this early is not one we read.
H264_SCAN_BYTES = 1 << 20
# An SPS is a few dozen bytes; 4 KiB holds one with all twelve scaling lists at their longest.
MAX_SPS_BYTES = 4096
# JPEG segments and MP4 boxes visited at most: each visit reads a few bytes, so this bounds the work too.
MAX_SEGMENTS = 1024
MAX_FILL_BYTES = 64
MAX_BOXES = 4096

_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
# Markers without a length field: TEM and the restart markers.
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}
_MP4_TOP_LEVEL = {b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pdin"}
# Profiles whose SPS carries chroma_format_idc, bit depths and scaling lists (H.264 7.3.2.1.1).
_H264_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


class _Unreadable(Exception):
    """The file is not a well-formed file of the kind it looked like."""


def pixel_size(path: Path) -> tuple[int, int] | None:
    """(width, height) of the JPEG, MP4 or raw H.264 stream at `path`; None if it is none of those or broken."""
    try:
        # O_NONBLOCK: opening a FIFO someone left in the upload directory must not hang a web worker.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        regular = False
    if not regular:
        os.close(fd)
        return None
    with os.fdopen(fd, "rb") as file:
        try:
            head = file.read(12)
            size = _read_size(file, head)
        except (OSError, _Unreadable):
            return None
    if size is None or size[0] <= 0 or size[1] <= 0:
        return None
    return size


def _read_size(file: BinaryIO, head: bytes) -> tuple[int, int] | None:
    if head.startswith(b"\xff\xd8\xff"):
        return _jpeg_size(file)
    if head[4:8] in _MP4_TOP_LEVEL:
        return _mp4_size(file)
    if head.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01")):
        file.seek(0)
        return _h264_size(file.read(H264_SCAN_BYTES))
    return None


def _read_exactly(file: BinaryIO, count: int) -> bytes:
    data = file.read(count)
    if len(data) != count:
        raise _Unreadable("truncated")
    return data


# --- JPEG -------------------------------------------------------------------------------------------------


def _jpeg_size(file: BinaryIO) -> tuple[int, int] | None:
    """The frame header's size. Segments are skipped by their length, never scanned for a marker: an EXIF
    thumbnail is a whole JPEG inside APP1, with a SOF of its own."""
    file.seek(2)
    for _ in range(MAX_SEGMENTS):
        if _read_exactly(file, 1) != b"\xff":
            raise _Unreadable("no marker where a segment should start")
        marker = _read_exactly(file, 1)[0]
        for _ in range(MAX_FILL_BYTES):
            if marker != 0xFF:
                break
            marker = _read_exactly(file, 1)[0]  # a fill byte before the marker
        else:
            raise _Unreadable("a run of fill bytes")
        if marker in _JPEG_STANDALONE:
            continue
        if marker in (0xD9, 0xDA):  # end of image, or scan data, before any frame header
            return None
        (length,) = struct.unpack(">H", _read_exactly(file, 2))
        if length < 2:
            raise _Unreadable("segment length below 2")
        if marker in _JPEG_SOF:
            _precision, height, width = struct.unpack(">BHH", _read_exactly(file, 5))
            return (width, height) if height else None  # 0: the height comes later, in a DNL segment
        file.seek(length - 2, os.SEEK_CUR)
    return None


# --- MP4 (ISO base media file format) ----------------------------------------------------------------------


def _boxes(file: BinaryIO, start: int, end: int, budget: list[int]) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of each box between `start` and `end`, by seeking over them."""
    offset = start
    while offset + 8 <= end:
        budget[0] -= 1
        if budget[0] < 0:
            raise _Unreadable("too many boxes")
        file.seek(offset)
        size, kind = struct.unpack(">I4s", _read_exactly(file, 8))
        header = 8
        if size == 1:  # a 64-bit size follows (an mdat over 4 GiB)
            (size,) = struct.unpack(">Q", _read_exactly(file, 8))
            header = 16
        elif size == 0:  # the last box, up to the end of the file
            size = end - offset
        if size < header or offset + size > end:
            raise _Unreadable(f"box {kind!r} overruns its parent")
        yield kind, offset + header, offset + size
        offset += size


def _child(file: BinaryIO, start: int, end: int, kind: bytes, budget: list[int]) -> tuple[int, int] | None:
    for found, payload, box_end in _boxes(file, start, end, budget):
        if found == kind:
            return payload, box_end
    return None


def _mp4_size(file: BinaryIO) -> tuple[int, int] | None:
    """The first video track's sample entry size (moov/trak/mdia/minf/stbl/stsd), else its tkhd size.

    moov is often at the end, after the media data (rpicam-vid and ffmpeg without +faststart write it last),
    so the boxes are walked by seeking: a long video costs the same few reads as a short one.
    """
    end = file.seek(0, os.SEEK_END)
    budget = [MAX_BOXES]
    moov = _child(file, 0, end, b"moov", budget)
    if moov is None:
        return None
    for kind, start, stop in _boxes(file, *moov, budget):
        if kind != b"trak":
            continue
        mdia = _child(file, start, stop, b"mdia", budget)
        if mdia is None or _handler(file, *mdia, budget) != b"vide":
            continue
        size = _sample_entry_size(file, mdia, budget) or _tkhd_size(file, start, stop, budget)
        if size:
            return size
    return None


def _handler(file: BinaryIO, start: int, end: int, budget: list[int]) -> bytes | None:
    hdlr = _child(file, start, end, b"hdlr", budget)
    if hdlr is None or hdlr[1] - hdlr[0] < 12:
        return None
    file.seek(hdlr[0] + 8)  # version and flags, pre_defined
    return _read_exactly(file, 4)


def _sample_entry_size(file: BinaryIO, mdia: tuple[int, int], budget: list[int]) -> tuple[int, int] | None:
    box = mdia
    for kind in (b"minf", b"stbl", b"stsd"):
        box = _child(file, *box, kind, budget)
        if box is None:
            return None
    # stsd: version and flags, entry count, then sample entries. A visual sample entry (avc1, hvc1, ...):
    # 6 reserved bytes, data_reference_index, 16 bytes of pre_defined and reserved, then width and height.
    for _kind, payload, entry_end in _boxes(file, box[0] + 8, box[1], budget):
        if entry_end - payload < 28:
            return None
        file.seek(payload + 24)
        width, height = struct.unpack(">HH", _read_exactly(file, 4))
        return (width, height) if width and height else None
    return None


def _tkhd_size(file: BinaryIO, start: int, end: int, budget: list[int]) -> tuple[int, int] | None:
    tkhd = _child(file, start, end, b"tkhd", budget)
    if tkhd is None:
        return None
    file.seek(tkhd[0])
    version = _read_exactly(file, 1)[0]
    # After version and flags: times, track id and duration (32- or 64-bit), then reserved, layer,
    # alternate group, volume, reserved and the 3×3 matrix; then width and height as 16.16 fixed point.
    offset = 4 + (32 if version == 1 else 20) + 16 + 36
    if tkhd[1] - tkhd[0] < offset + 8:
        return None
    file.seek(tkhd[0] + offset)
    width, height = struct.unpack(">II", _read_exactly(file, 8))
    return (round(width / 65536), round(height / 65536)) if width and height else None


# --- Raw H.264 (Annex B) ---------------------------------------------------------------------------------


class _Bits:
    """An RBSP read bit by bit, with exp-Golomb codes (H.264 9.1)."""

    def __init__(self, data: bytes) -> None:
        self.value = int.from_bytes(data, "big")
        self.left = len(data) * 8

    def u(self, count: int) -> int:
        if count > self.left:
            raise _Unreadable("SPS ends early")
        self.left -= count
        return (self.value >> self.left) & ((1 << count) - 1)

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:  # no SPS field needs more than 32 bits
                raise _Unreadable("exp-Golomb code too long")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        code = self.ue()
        return (code + 1) // 2 if code % 2 else -(code // 2)


def _h264_size(data: bytes) -> tuple[int, int] | None:
    """The size the first SPS gives: macroblocks, field coding and the frame cropping that takes a
    1920×1088 coded picture to 1920×1080."""
    sps = _first_nal(data, nal_type=7)
    return None if sps is None else _sps_size(_Bits(sps))


def _first_nal(data: bytes, nal_type: int) -> bytes | None:
    """The payload (after its header byte, emulation prevention removed) of the first NAL of `nal_type`."""
    start = data.find(b"\x00\x00\x01")
    while start != -1 and start + 3 < len(data):
        header = start + 3
        following = data.find(b"\x00\x00\x01", header)
        if data[header] & 0x1F == nal_type:
            end = len(data) if following == -1 else following
            # The payload may not contain 00 00 00 or 00 00 01, so 00 00 00 ends it (trailing zeros).
            zeros = data.find(b"\x00\x00\x00", header, end)
            payload = data[header + 1 : end if zeros == -1 else zeros][:MAX_SPS_BYTES]
            return payload.replace(b"\x00\x00\x03", b"\x00\x00")
        start = following
    return None


def _sps_size(bits: _Bits) -> tuple[int, int]:
    profile_idc = bits.u(8)
    bits.u(16)  # constraint flags, level_idc
    bits.ue()  # seq_parameter_set_id
    chroma_format_idc, separate_colour_planes = 1, 0
    if profile_idc in _H264_HIGH_PROFILES:
        chroma_format_idc = bits.ue()
        if chroma_format_idc > 3:
            raise _Unreadable("chroma_format_idc out of range")
        if chroma_format_idc == 3:
            separate_colour_planes = bits.u(1)
        bits.ue()  # bit_depth_luma_minus8
        bits.ue()  # bit_depth_chroma_minus8
        bits.u(1)  # qpprime_y_zero_transform_bypass_flag
        if bits.u(1):  # seq_scaling_matrix_present_flag
            for index in range(8 if chroma_format_idc != 3 else 12):
                if bits.u(1):
                    _skip_scaling_list(bits, 16 if index < 6 else 64)
    bits.ue()  # log2_max_frame_num_minus4
    pic_order_cnt_type = bits.ue()
    if pic_order_cnt_type == 0:
        bits.ue()  # log2_max_pic_order_cnt_lsb_minus4
    elif pic_order_cnt_type == 1:
        bits.u(1)  # delta_pic_order_always_zero_flag
        bits.se()  # offset_for_non_ref_pic
        bits.se()  # offset_for_top_to_bottom_field
        cycle = bits.ue()
        if cycle > 255:
            raise _Unreadable("num_ref_frames_in_pic_order_cnt_cycle out of range")
        for _ in range(cycle):
            bits.se()
    elif pic_order_cnt_type != 2:
        raise _Unreadable("pic_order_cnt_type out of range")
    bits.ue()  # max_num_ref_frames
    bits.u(1)  # gaps_in_frame_num_value_allowed_flag
    width_mbs = bits.ue() + 1
    height_map_units = bits.ue() + 1
    frame_mbs_only = bits.u(1)
    if not frame_mbs_only:
        bits.u(1)  # mb_adaptive_frame_field_flag
    bits.u(1)  # direct_8x8_inference_flag
    width = width_mbs * 16
    height = (2 - frame_mbs_only) * height_map_units * 16
    if bits.u(1):  # frame_cropping_flag: in chroma samples, and in field pairs when fields are coded
        left, right, top, bottom = bits.ue(), bits.ue(), bits.ue(), bits.ue()
        chroma_array_type = 0 if separate_colour_planes else chroma_format_idc
        sub_width, sub_height = {0: (1, 1), 1: (2, 2), 2: (2, 1), 3: (1, 1)}[chroma_array_type]
        width -= sub_width * (left + right)
        height -= sub_height * (2 - frame_mbs_only) * (top + bottom)
    return width, height


def _skip_scaling_list(bits: _Bits, size: int) -> None:
    """Read past a scaling_list() (H.264 7.3.2.1.1.1): delta-coded until a delta makes the next scale 0."""
    last_scale = next_scale = 8
    for _ in range(size):
        if next_scale != 0:
            next_scale = (last_scale + bits.se() + 256) % 256
        last_scale = next_scale or last_scale
