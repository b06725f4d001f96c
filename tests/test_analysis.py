"""capture.analysis.metrics on real files made here: JPEGs by Pillow, videos by ffmpeg."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from capture.analysis.metrics import AnalysisError, analyze_file, laplacian_variance, motion_score
from capture.lib.ffmpeg import base_argv, find_ffmpeg
from capture.lib.runner import run_command


def make_video(path: Path, source: str, *, seconds: float, fps: int = 25, gop: int | None = None) -> Path:
    """Encode `seconds` of a lavfi source to H.264 (MP4 or raw, by the suffix)."""
    argv = [*base_argv(find_ffmpeg()), "-f", "lavfi", "-i", f"{source}:rate={fps}"]
    argv += ["-frames:v", str(round(seconds * fps)), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    argv += ["-g", str(gop)] if gop else []
    argv += ["-f", "h264"] if path.suffix == ".h264" else ["-movflags", "+faststart"]
    run_command([*argv, str(path)], timeout=60)
    return path


def test_it_measures_a_jpeg(tmp_path):
    image = Image.radial_gradient("L").resize((1024, 768))
    image.save(tmp_path / "a.jpg", quality=95)
    result = analyze_file(tmp_path / "a.jpg")
    assert result["kind"] == "image" and result["format"] == "jpeg"
    assert (result["width"], result["height"]) == (1024, 768)
    assert result["sizeBytes"] == (tmp_path / "a.jpg").stat().st_size
    assert result["brightness"] == pytest.approx(np.asarray(image).mean(), abs=3)
    assert result["contrast"] == pytest.approx(np.asarray(image).std(), abs=3)
    assert result["exposure"] == "ok"
    assert result["exif"] == {}


@pytest.mark.parametrize(
    ("level", "verdict"), [(0, "dark"), (40, "dark"), (128, "ok"), (220, "bright"), (255, "bright")]
)
def test_the_exposure_verdict_follows_the_brightness(tmp_path, level, verdict):
    Image.new("L", (320, 240), level).save(tmp_path / "flat.jpg")
    result = analyze_file(tmp_path / "flat.jpg")
    assert result["exposure"] == verdict
    assert result["brightness"] == pytest.approx(level, abs=2)
    assert result["contrast"] < 2 and result["sharpness"] < 2  # a flat grey has no edges


def test_mostly_clipped_pictures_are_dark_or_bright_even_with_a_middling_mean(tmp_path):
    pixels = np.zeros((100, 100), dtype=np.uint8)
    pixels[:, :40] = 255  # 60 % black, 40 % white: mean 102, but most of it is crushed to black
    Image.fromarray(pixels).save(tmp_path / "night.jpg", quality=100)
    result = analyze_file(tmp_path / "night.jpg")
    assert 90 < result["brightness"] < 115
    assert result["clippedShadows"] > 0.5
    assert result["exposure"] == "dark"


def test_sharpness_drops_when_the_picture_is_blurred(tmp_path):
    sharp = Image.effect_noise((640, 480), 80).convert("L")
    sharp.save(tmp_path / "sharp.jpg", quality=95)
    sharp.filter(ImageFilter.GaussianBlur(4)).save(tmp_path / "blurred.jpg", quality=95)
    assert analyze_file(tmp_path / "sharp.jpg")["sharpness"] > 10 * analyze_file(tmp_path / "blurred.jpg")["sharpness"]


def test_laplacian_variance_and_motion_score_by_hand():
    edge = np.zeros((5, 5), dtype=np.float32)
    edge[:, 3:] = 100  # a vertical edge: Laplacian +100 left of it, -100 right of it, 0 elsewhere
    assert laplacian_variance(edge) == pytest.approx(np.var([0, 100, -100] * 3))
    frames = [np.full((4, 4), value, dtype=np.float32) for value in (10, 30, 30)]
    assert motion_score(frames) == pytest.approx((20 + 0) / 2)
    assert motion_score(frames[:1]) is None


def test_it_reads_exif(tmp_path):
    exif = Image.Exif()
    exif[0x010F] = "Raspberry Pi"  # Make
    exif[0x0110] = "imx708"  # Model
    exif.get_ifd(0x8769)[0x829A] = 1 / 120  # ExposureTime
    exif.get_ifd(0x8769)[0x8827] = 400  # ISOSpeedRatings
    Image.new("RGB", (64, 48), "gray").save(tmp_path / "pi.jpg", exif=exif)
    result = analyze_file(tmp_path / "pi.jpg")["exif"]
    assert result["Make"] == "Raspberry Pi" and result["Model"] == "imx708"
    assert result["ExposureTime"] == pytest.approx(1 / 120, rel=1e-3)
    assert result["ISOSpeedRatings"] == 400


@pytest.mark.parametrize("gop", [10, None])  # keyframes every 0.4 s (decoded alone), or only the first
def test_it_measures_an_mp4(tmp_path, gop):
    path = make_video(tmp_path / "v.mp4", "testsrc2=size=320x240", seconds=3, fps=25, gop=gop)
    result = analyze_file(path)
    assert result["kind"] == "video" and result["container"] == "mp4" and result["codec"] == "h264"
    assert (result["width"], result["height"]) == (320, 240)
    assert result["durationSec"] == pytest.approx(3, abs=0.05)
    assert result["frames"] == 75
    assert result["fps"] == 25 and result["fpsSource"] == "stream"
    assert result["keyframes"] == (8 if gop else 1)
    assert result["exposure"] == "ok"
    assert result["motionScore"] > 1 and result["motionSamples"] >= 8


def test_a_still_black_video_is_dark_with_no_motion(tmp_path):
    result = analyze_file(make_video(tmp_path / "black.mp4", "color=black:size=160x120", seconds=2, gop=10))
    assert result["exposure"] == "dark"
    assert result["brightness"] < 20
    assert result["motionScore"] == pytest.approx(0, abs=0.5)


def test_a_raw_h264_stream_takes_its_rate_from_the_capture(tmp_path):
    path = make_video(tmp_path / "v.h264", "testsrc2=size=320x240", seconds=2, fps=30, gop=30)
    result = analyze_file(path, fps_hint=30)
    assert result["container"] == "h264"
    assert result["frames"] == 60
    assert result["durationSec"] == pytest.approx(2)
    assert result["fpsSource"] == "capture"
    # Without the capture's rate, the stream's own is used when it is plausible.
    assert analyze_file(path)["fpsSource"] == "stream"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("text.jpg", b"hello", "not an image"),
        ("garbage.mp4", b"\x00\x01garbage" * 100, "not a video"),
        ("empty.h264", b"", "no video"),
        ("notes.txt", b"hello", "Unsupported file type .txt"),
    ],
)
def test_unreadable_files_are_analysis_errors(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(AnalysisError, match=message):
        analyze_file(tmp_path / name)


def test_a_truncated_jpeg_is_an_analysis_error(tmp_path):
    Image.effect_noise((640, 480), 50).convert("L").save(tmp_path / "whole.jpg")
    whole = (tmp_path / "whole.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(AnalysisError, match="cut.jpg can't be decoded: image file is truncated"):
        analyze_file(tmp_path / "cut.jpg")


def test_a_png_named_jpg_is_refused(tmp_path):
    Image.new("L", (8, 8)).save(tmp_path / "x.jpg", format="PNG")
    with pytest.raises(AnalysisError, match="not a JPEG"):
        analyze_file(tmp_path / "x.jpg")


def test_a_missing_file_is_an_analysis_error(tmp_path):
    for name in ("gone.jpg", "gone.mp4"):
        with pytest.raises(AnalysisError, match="gone"):
            analyze_file(tmp_path / name)
