"""What the built-in analyzer measures in a capture. No Django here: a path in, a JSON-ready dict out.

Everything is sized for a Raspberry Pi: a JPEG is decoded at reduced size by the JPEG decoder itself (DCT
scaling), and a video is demuxed once without decoding, then only a few of its keyframes are decoded.
Pixel statistics are taken on a grey image at most ANALYSIS_SIZE pixels on its long side, so a 12 MP still
and a 640×480 one give comparable numbers.

AnalysisError means the file itself can't be analysed (not a JPEG, truncated, no video stream): retrying
won't help. Any other exception (an I/O error, say) may be transient.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from capture.formats import FORMATS

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

# numpy, Pillow and PyAV are imported by the functions that use them, on first use: a web worker or an
# idle analysis worker never loads them (tens of MB each process, which counts on a Pi).

# From the formats' table: a still's extension and its aliases (.jpg, .jpeg), the videos' own (.mp4, .h264).
IMAGE_SUFFIXES = tuple(f".{ext}" for fmt in FORMATS.values() if not fmt.video for ext in (fmt.extension, *fmt.aliases))
VIDEO_SUFFIXES = tuple(f".{fmt.extension}" for fmt in FORMATS.values() if fmt.video)
SUPPORTED_SUFFIXES = IMAGE_SUFFIXES + VIDEO_SUFFIXES

ANALYSIS_SIZE = 640  # long side, in pixels, of the grey image the statistics are taken on
VIDEO_ANALYSIS_SIZE = 320
MAX_VIDEO_SAMPLES = 24  # frames decoded for the motion score and brightness
MAX_SEQUENTIAL_DECODE = 900  # a video with too few keyframes is decoded from the start, this far at most

# Exposure verdict: the mean grey level (0-255), or most of the picture clipped to black or white.
DARK_BELOW = 60
BRIGHT_ABOVE = 195
SHADOW_LEVEL = 16
HIGHLIGHT_LEVEL = 240
CLIPPED_FRACTION = 0.5

# Raw H.264 has no timestamps and its stream's rate can be nonsense (a Pi 5 stream says 1 MHz).
_PLAUSIBLE_FPS = (1, 240)
_EXIF_SKIP = {"MakerNote", "UserComment", "PrintImageMatching", "ExifOffset", "GPSInfo", "JPEGInterchangeFormat"}


class AnalysisError(Exception):
    """The file can't be analysed; the message says why."""


def analyze_file(path: Path, *, fps_hint: float | None = None) -> dict:
    """Analyse one JPEG, MP4 or raw H.264 file. `fps_hint` is the rate the video was recorded at, used for
    raw H.264, which carries no reliable rate of its own."""
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        result = analyze_jpeg(path)
    elif suffix in VIDEO_SUFFIXES:
        result = analyze_video(path, fps_hint=fps_hint)
    else:
        raise AnalysisError(f"Unsupported file type {suffix or '(none)'}: expected {', '.join(SUPPORTED_SUFFIXES)}")
    result["sizeBytes"] = path.stat().st_size
    return result


def analyze_jpeg(path: Path) -> dict:
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.format != "JPEG":
                raise AnalysisError(f"{path.name} is not a JPEG (it is {image.format or 'unknown'})")
            width, height = image.size
            exif = exif_fields(image)
            image.draft("L", (ANALYSIS_SIZE, ANALYSIS_SIZE))  # let the decoder scale down: cheap on a Pi
            gray = image.convert("L")
    except UnidentifiedImageError:
        raise AnalysisError(f"{path.name} is not an image Pillow can read") from None
    except FileNotFoundError:
        raise AnalysisError(f"{path.name} is gone") from None
    except OSError as exc:
        if exc.errno is None:  # Pillow's decoding errors ("image file is truncated"), not the disk's
            raise AnalysisError(f"{path.name} can't be decoded: {exc}") from None
        raise
    gray.thumbnail((ANALYSIS_SIZE, ANALYSIS_SIZE))
    pixels = np.asarray(gray, dtype=np.float32)
    return {
        "kind": "image",
        "format": "jpeg",
        "width": width,
        "height": height,
        **pixel_statistics(pixels),
        "sharpness": round(laplacian_variance(pixels), 2),
        "exif": exif,
    }


def analyze_video(path: Path, *, fps_hint: float | None = None) -> dict:
    import av

    # Pass 1: demux only (no decoding): frame count, keyframes, stream bytes.
    with _open_video(path) as container:
        stream = container.streams.video[0]
        codec = stream.codec_context
        width, height = codec.width, codec.height
        raw_stream = not _has_timestamps(container)
        frames = stream_bytes = 0
        keyframes: list[int] = []
        try:
            for packet in container.demux(stream):
                if not packet.size:
                    continue  # the demuxer's final empty packet
                if packet.is_keyframe:
                    keyframes.append(frames)
                frames += 1
                stream_bytes += packet.size
        except av.error.InvalidDataError as exc:
            if frames == 0:
                raise AnalysisError(f"{path.name} has no readable video: {exc.strerror or exc}") from None
            # A truncated tail (a recording cut short): analyse what is there.
        if frames == 0 or not width or not height:
            raise AnalysisError(f"{path.name} has no video frames")
        fps, fps_source = _frame_rate(stream, raw_stream, fps_hint)
        duration = container.duration / av.time_base if container.duration and not raw_stream else frames / fps
        facts = {
            "kind": "video",
            "container": _container_name(container),
            "codec": codec.name,
            "width": width,
            "height": height,
            "durationSec": round(duration, 3),
            "frames": frames,
            "fps": round(fps, 3),
            "fpsSource": fps_source,
            "bitrate": round(stream_bytes * 8 / duration) if duration > 0 else None,
            "keyframes": len(keyframes),
        }
    # Pass 2: decode a few frames spread over the video.
    samples = _sample_frames(path, keyframes, frames, fps)
    facts.update(_video_statistics(samples))
    return facts


def pixel_statistics(gray: np.ndarray) -> dict:
    """Brightness (mean grey level), contrast (its standard deviation) and the exposure verdict."""
    brightness = float(gray.mean())
    shadows = float((gray <= SHADOW_LEVEL).mean())
    highlights = float((gray >= HIGHLIGHT_LEVEL).mean())
    return {
        "brightness": round(brightness, 2),
        "contrast": round(float(gray.std()), 2),
        "clippedShadows": round(shadows, 4),
        "clippedHighlights": round(highlights, 4),
        "exposure": exposure_verdict(brightness, shadows, highlights),
    }


def exposure_verdict(brightness: float, shadows: float, highlights: float) -> str:
    if brightness < DARK_BELOW or shadows > CLIPPED_FRACTION:
        return "dark"
    if brightness > BRIGHT_ABOVE or highlights > CLIPPED_FRACTION:
        return "bright"
    return "ok"


def laplacian_variance(gray: np.ndarray) -> float:
    """Sharpness: the variance of the 4-neighbour Laplacian. Blur and flat pictures score near 0."""
    if gray.shape[0] < 3 or gray.shape[1] < 3:
        return 0.0
    centre = gray[1:-1, 1:-1]
    laplacian = gray[:-2, 1:-1] + gray[2:, 1:-1] + gray[1:-1, :-2] + gray[1:-1, 2:] - 4 * centre
    return float(laplacian.var())


def motion_score(frames: list[np.ndarray]) -> float | None:
    """The mean absolute difference (0-255) between consecutive sampled frames; None with fewer than two."""
    import numpy as np

    if len(frames) < 2:
        return None
    diffs = [float(np.abs(b - a).mean()) for a, b in zip(frames, frames[1:], strict=False)]
    return sum(diffs) / len(diffs)


def exif_fields(image: Image.Image) -> dict:
    """EXIF tags by name (the main IFD, the Exif IFD and GPS), as JSON values; binary blobs are left out."""
    from PIL import ExifTags

    exif = image.getexif()
    fields: dict[str, object] = {}
    sources = [(exif, ExifTags.TAGS)]
    for ifd, names in ((ExifTags.IFD.Exif, ExifTags.TAGS), (ExifTags.IFD.GPSInfo, ExifTags.GPSTAGS)):
        try:
            sources.append((exif.get_ifd(ifd), names))
        except (KeyError, ValueError, TypeError):
            continue
    for tags, names in sources:
        for tag, value in tags.items():
            name = names.get(tag, f"Tag{tag:#06x}")
            if name in _EXIF_SKIP:
                continue
            value = _json_value(value)
            if value is not None:
                fields[name] = value
    return fields


def _json_value(value):
    from PIL import TiffImagePlugin

    if isinstance(value, TiffImagePlugin.IFDRational):
        return None if value.denominator == 0 else round(float(value), 6)
    if isinstance(value, bytes):
        text = value.rstrip(b"\0")
        if len(text) <= 64 and text.isascii() and text.decode().isprintable():
            return text.decode()
        return None  # binary data: of no use in JSON
    if isinstance(value, str):
        return value.rstrip("\0").strip()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int):
        return value
    if isinstance(value, tuple | list):
        items = [_json_value(item) for item in value]
        return None if any(item is None for item in items) else items
    return None


def _open_video(path: Path):
    import av

    try:
        container = av.open(str(path))
    except FileNotFoundError:
        raise AnalysisError(f"{path.name} is gone") from None
    except OSError:
        raise  # the disk, not the file: may be transient
    except av.error.FFmpegError as exc:
        raise AnalysisError(f"{path.name} is not a video FFmpeg can read: {exc.strerror or exc}") from None
    if not container.streams.video:
        container.close()
        raise AnalysisError(f"{path.name} has no video stream")
    return container


def _has_timestamps(container) -> bool:
    # A raw elementary stream (.h264) has no container timestamps; MP4 has.
    return container.format.name not in ("h264", "hevc")


def _container_name(container) -> str:
    names = container.format.name.split(",")
    return "mp4" if "mp4" in names else names[0]


def _frame_rate(stream, raw_stream: bool, fps_hint: float | None) -> tuple[float, str]:
    if raw_stream and fps_hint:
        return float(fps_hint), "capture"
    candidates = (stream.guessed_rate, stream.average_rate)
    if not raw_stream:
        candidates = candidates[::-1]  # MP4: frames over duration, from the timestamps
    for rate in candidates:
        if rate and _PLAUSIBLE_FPS[0] <= float(rate) <= _PLAUSIBLE_FPS[1]:
            return float(rate), "stream"
    if fps_hint:
        return float(fps_hint), "capture"
    raise AnalysisError("The video's frame rate is unknown")


def _sample_frames(path: Path, keyframes: list[int], frames: int, fps: float) -> list[tuple[float, np.ndarray]]:
    """(time in s, small grey frame) for up to MAX_VIDEO_SAMPLES frames spread over the video.

    With three keyframes or more, only keyframes are decoded (each decodes on its own). Otherwise the video
    is decoded from the start, MAX_SEQUENTIAL_DECODE frames at most, keeping evenly spaced frames."""
    samples: list[tuple[float, np.ndarray]] = []
    with _open_video(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        size = _scaled_size(stream.codec_context.width, stream.codec_context.height, VIDEO_ANALYSIS_SIZE)
        if len(keyframes) >= 3:
            wanted = set(_spread(keyframes, MAX_VIDEO_SAMPLES))
            index = 0
            packets = []
            for packet in container.demux(stream):
                if not packet.size:
                    continue
                if index in wanted:
                    packets.append((index, packet))
                index += 1
            decoded = []
            for _, packet in packets:
                decoded += _decode(stream, packet)
            decoded += _decode(stream, None)  # frames still inside a threaded decoder
            # Each keyframe decodes to one frame, in order (keyframes are never reordered).
            samples = [(index / fps, _gray(frame, size)) for (index, _), frame in zip(packets, decoded, strict=False)]
        else:
            limit = min(frames, MAX_SEQUENTIAL_DECODE)
            wanted = set(_spread(list(range(limit)), MAX_VIDEO_SAMPLES))
            index = 0
            for packet in container.demux(stream):
                for frame in _decode(stream, packet if packet.size else None):
                    if index in wanted:
                        samples.append((index / fps, _gray(frame, size)))
                    index += 1
                if index >= limit:
                    break
    return samples


def _decode(stream, packet):
    import av

    try:
        return stream.decode(packet)
    except av.error.InvalidDataError:
        return []  # one damaged frame: sample the others


def _gray(frame, size: tuple[int, int]) -> np.ndarray:
    import numpy as np

    width, height = size
    return frame.reformat(width=width, height=height, format="gray").to_ndarray().astype(np.float32)


def _video_statistics(samples: list[tuple[float, np.ndarray]]) -> dict:
    if not samples:
        raise AnalysisError("No frame of the video could be decoded")
    frames = [pixels for _, pixels in samples]
    stats = [pixel_statistics(pixels) for pixels in frames]
    brightness = sum(s["brightness"] for s in stats) / len(stats)
    shadows = sum(s["clippedShadows"] for s in stats) / len(stats)
    highlights = sum(s["clippedHighlights"] for s in stats) / len(stats)
    motion = motion_score(frames)
    times = [t for t, _ in samples]
    return {
        "brightness": round(brightness, 2),
        "contrast": round(sum(s["contrast"] for s in stats) / len(stats), 2),
        "exposure": exposure_verdict(brightness, shadows, highlights),
        "motionScore": None if motion is None else round(motion, 3),
        "motionSamples": len(frames),
        "motionIntervalSec": round((times[-1] - times[0]) / (len(times) - 1), 3) if len(times) > 1 else None,
    }


def _spread(items: list[int], count: int) -> list[int]:
    """Up to `count` items spread evenly from the first to the last."""
    if len(items) <= count:
        return list(items)
    step = (len(items) - 1) / (count - 1)
    return [items[round(i * step)] for i in range(count)]


def _scaled_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    scale = min(1.0, long_side / max(width, height))
    return max(2, round(width * scale)), max(2, round(height * scale))
