"""Tests for posegan/image_io.py: every input kind and mode becomes uint8 RGB; bad inputs raise ImageLoadError."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from posegan.image_io import MAX_PIXELS, ImageLoadError, downscale_long_side, load_image


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height but holds no pixel data: huge on paper, 57 bytes on disk."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.fixture
def rgb() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (24, 16, 3), dtype=np.uint8)


def test_path_bytes_pil_and_array_give_the_same_pixels(tmp_path, rgb):
    path = tmp_path / "photo.png"
    Image.fromarray(rgb).save(path)
    for source in (path, str(path), path.read_bytes(), Image.open(path), rgb):
        out = load_image(source)
        assert out.dtype == np.uint8 and out.shape == (24, 16, 3)
        np.testing.assert_array_equal(out, rgb)


def test_alpha_is_composited_on_white():
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200                     # red everywhere,
    rgba[:2, :, 3] = 255                   # opaque in the top half,
    rgba[2:, :, 3] = 0                     # transparent in the bottom half
    out = load_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    np.testing.assert_array_equal(out[0, 0], [200, 0, 0])
    np.testing.assert_array_equal(out[3, 3], [255, 255, 255])
    np.testing.assert_array_equal(load_image(rgba), out)  # an RGBA array the same way


def test_palette_and_grey_alpha_modes():
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    np.testing.assert_array_equal(load_image(encode(palette, "PNG"))[0, 0], [10, 20, 30])
    palette.info["transparency"] = 1  # palette entry 1 is transparent -> white
    np.testing.assert_array_equal(load_image(encode(palette, "PNG", transparency=1))[0, 0], [255, 255, 255])
    grey_alpha = Image.new("LA", (4, 4), (50, 0))
    np.testing.assert_array_equal(load_image(encode(grey_alpha, "PNG"))[0, 0], [255, 255, 255])


def test_grey_jpeg_becomes_three_equal_channels():
    grey = Image.fromarray(np.tile(np.arange(0, 256, 16, dtype=np.uint8), (8, 1)), "L")
    out = load_image(encode(grey, "JPEG", quality=95))
    assert out.shape == (8, 16, 3)
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


def test_16_bit_grey_png_keeps_its_range():
    ramp = (np.arange(16, dtype=np.uint16) * 4369).reshape(4, 4)  # 0 .. 65535
    image = Image.fromarray(ramp)
    assert image.mode.startswith("I")
    out = load_image(encode(image, "PNG"))
    assert out[0, 0, 0] == 0 and out[-1, -1, 0] == 255 and out[1, 1, 0] == round(5 * 4369 / 257)


def test_float_and_cmyk_modes():
    float_image = Image.fromarray(np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4), "F")
    out = load_image(float_image)
    assert out[0, 0, 0] == 0 and out[-1, -1, 0] == 255
    cmyk = Image.new("CMYK", (4, 4), (0, 255, 255, 0))  # pure red in CMYK
    out = load_image(encode(cmyk, "JPEG", quality=95))
    assert out.shape == (4, 4, 3) and out[0, 0, 0] > 200 and out[0, 0, 1] < 60


def test_exif_orientation_is_applied():
    stored = np.zeros((20, 40, 3), np.uint8)  # 40 wide x 20 high as stored, left half red
    stored[:, :20, 0] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    out = load_image(encode(Image.fromarray(stored), "JPEG", quality=95, exif=exif.tobytes()))
    assert out.shape == (40, 20, 3)            # displayed portrait
    assert out[5, 10, 0] > 200 and out[35, 10, 0] < 50  # the stored left half is now on top


def test_truncated_files_are_reported(rgb):
    big = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    for fmt in ("JPEG", "PNG"):
        data = encode(Image.fromarray(big), fmt)
        with pytest.raises(ImageLoadError, match="truncated or corrupt: uploaded image"):
            load_image(data[: len(data) // 2])


def test_text_file_named_jpg_is_not_an_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a picture")
    with pytest.raises(ImageLoadError, match=r"not an image file: .*notes\.jpg"):
        load_image(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageLoadError, match="file not found"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageLoadError, match="folder"):
        load_image(tmp_path)


def test_oversized_images_are_refused_before_decoding():
    assert Image.MAX_IMAGE_PIXELS == MAX_PIXELS  # PIL's own guard (e.g. in Gradio's upload) uses the same cap
    # 108 MP: PIL refuses it in open(); 48 MP: PIL only warns, load_image makes that an error too.
    for width, height in ((12000, 9000), (8000, 6000)):
        with pytest.raises(ImageLoadError, match=rf"too large: {width * height / 1e6:.1f} MP .*the limit is 40 MP"):
            load_image(png_header_only(width, height))
    with pytest.raises(ImageLoadError, match=r"too large: 16x24 pixels \(0\.0 MP\); the limit is 0\.0001 MP"):
        load_image(np.zeros((24, 16, 3), np.uint8), max_pixels=100)


def test_bad_sources_and_arrays():
    with pytest.raises(ImageLoadError, match="cannot read an image from a int"):
        load_image(42)
    with pytest.raises(ImageLoadError, match="must be uint8"):
        load_image(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ImageLoadError, match=r"\[H, W, 3\]"):
        load_image(np.zeros((4, 4, 2), np.uint8))
    grey = load_image(np.full((4, 5), 7, np.uint8))
    assert grey.shape == (4, 5, 3) and (grey == 7).all()


def test_downscale_long_side():
    image = np.zeros((1000, 2000, 3), np.uint8)
    small, scale = downscale_long_side(image, 1280)
    assert small.shape == (640, 1280, 3) and scale == pytest.approx(0.64)
    same, scale = downscale_long_side(small, 1280)
    assert same is small and scale == 1.0
