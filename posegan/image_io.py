"""Robust image loading for the app and CLI: path, bytes, PIL or numpy -> uint8 RGB [H, W, 3], or a clear error.

    image = load_image("photo.jpg")               # EXIF-rotated, RGB, alpha composited on white
    small, scale = downscale_long_side(image)     # long side <= 1280 px before detection

Every failure raises :class:`ImageLoadError` (a ``ValueError``) whose message can be shown to a user as is:
"not an image file: ...", "image is truncated or corrupt: ...", "image is too large: ...".
The pixel cap also guards against decompression bombs: PIL's own guard (``Image.MAX_IMAGE_PIXELS``) is set to
the same cap, so images that PIL decodes elsewhere in the process (e.g. Gradio's upload component) get it too.
"""
from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 40_000_000   # 40 MP: above any phone photo (a 48 MP sensor saves 12 MP by default), ~120 MB decoded
MAX_DETECT_SIDE = 1280    # YOLO sees 640 px anyway; 1280 keeps a 2x margin for the 128x64 crop of a small person
WHITE = (255, 255, 255)

# PIL warns above MAX_IMAGE_PIXELS and refuses above twice that; load_image turns both into ImageLoadError.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
# Importing ultralytics replaces PIL's Image.open with a wrapper that, for a file PIL cannot identify, tries to
# install a HEIF plugin and then fails with ImportError. Keep PIL's own opener (pose_detect imports ultralytics
# only after this module); _open still reads an ImportError as "not an image" should ultralytics come first.
_pil_open = Image.open

HIGH_DEPTH_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N", "F")  # 16/32-bit grey, float grey
ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


class ImageLoadError(ValueError):
    """An input that is not a usable image; the message says why in words a user understands."""


def load_image(source, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode ``source`` (path, bytes, PIL image or numpy array) into uint8 RGB ``[H, W, 3]``.

    EXIF orientation is applied, every PIL mode becomes RGB (transparency composited on white) and images with
    more than ``max_pixels`` pixels are refused before they are decoded (files also by PIL's own cap, so a
    ``max_pixels`` above ``Image.MAX_IMAGE_PIXELS`` does not raise the limit for them). Numpy arrays must be uint8
    and are taken as RGB (grey ``[H, W]``/``[H, W, 1]`` and RGBA ``[H, W, 4]`` are converted).
    """
    if isinstance(source, np.ndarray):
        return _array_to_rgb(source, max_pixels)
    if isinstance(source, Image.Image):
        _check_size(source.size, max_pixels, "image")
        return _pil_to_rgb(ImageOps.exif_transpose(source))
    name, image = _open(source, max_pixels)
    with image:  # closes the file also when a check below fails
        _check_size(image.size, max_pixels, name)
        try:
            image.load()  # decode now: truncation and corrupt data only show up here
            oriented = ImageOps.exif_transpose(image)
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ImageLoadError(f"image is truncated or corrupt: {name} ({exc})") from None
        return _pil_to_rgb(oriented)


def downscale_long_side(image: np.ndarray, max_side: int = MAX_DETECT_SIDE) -> tuple[np.ndarray, float]:
    """Shrink ``image`` so that its long side is at most ``max_side`` (INTER_AREA); returns (image, scale).

    ``scale`` is new size / old size (1.0 when the image is already small enough; the image is then returned
    as is). The exact per-axis factors are ``new.shape[:2] / old.shape[:2]``, which differ from ``scale`` by
    the rounding of the new size to whole pixels.
    """
    height, width = image.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1.0:
        return image, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


def _open(source, max_pixels: int) -> tuple[str, Image.Image]:
    """Open (not decode) a path or bytes; returns (name for messages, lazy PIL image)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        name, file = "uploaded image", io.BytesIO(bytes(source))
    elif isinstance(source, (str, Path)):
        name, file = str(source), source
    else:
        raise ImageLoadError(f"cannot read an image from a {type(source).__name__}; "
                             "give a file path, bytes, a PIL image or a uint8 numpy array")
    try:
        # PIL checks the declared size in open(); make its warning an error we can report (see module doc).
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return name, _pil_open(file)
    except FileNotFoundError:
        raise ImageLoadError(f"file not found: {name}") from None
    except IsADirectoryError:
        raise ImageLoadError(f"not an image file (it is a folder): {name}") from None
    except (UnidentifiedImageError, ImportError):
        raise ImageLoadError(f"not an image file: {name} (the format is not recognised)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # PIL refused in open(), before we could read the size; its message states the pixel count.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(found[1]) / 1e6:.1f} MP" if found else str(exc)
        raise ImageLoadError(f"image is too large: {size} ({name}); "
                             f"the limit is {Image.MAX_IMAGE_PIXELS / 1e6:g} MP") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageLoadError(f"image is truncated or corrupt: {name} ({exc})") from None


def _check_size(size: tuple[int, int], max_pixels: int, name: str) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ImageLoadError(f"image is too large: {width}x{height} pixels ({width * height / 1e6:.1f} MP); "
                             f"the limit is {max_pixels / 1e6:g} MP ({name})")
    if width == 0 or height == 0:
        raise ImageLoadError(f"image is empty: {width}x{height} pixels ({name})")


def _pil_to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in HIGH_DEPTH_MODES:
        grey = _grey_to_uint8(np.asarray(image), image.mode)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if image.mode in ALPHA_MODES or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", image.size, WHITE + (255,)), image)
    return np.array(image.convert("RGB"), dtype=np.uint8)  # "1", L, P, CMYK, YCbCr, LAB, HSV, RGB


def _grey_to_uint8(grey: np.ndarray, mode: str) -> np.ndarray:
    """Map high-depth grey to 0..255 by its full scale: 16 bits for I;16, [0, 1] or 8/16 bits by the values' range.

    PIL's own convert("L") clips at 255, which turns most 16-bit PNGs white.
    """
    grey = grey.astype(np.float64)
    low, high = float(grey.min()), float(grey.max())
    if mode.startswith("I;16"):
        full_scale = 65535.0
    elif mode == "F" and low >= 0 and high <= 1.0:
        full_scale = 1.0
    elif low >= 0 and high <= 255:
        full_scale = 255.0
    elif low >= 0 and high <= 65535:
        full_scale = 65535.0  # 16-bit data that PIL decoded as 32-bit "I"
    else:
        grey, full_scale = grey - low, max(high - low, 1e-12)  # no known scale: stretch min..max
    return np.clip(np.round(grey * (255.0 / full_scale)), 0, 255).astype(np.uint8)


def _array_to_rgb(array: np.ndarray, max_pixels: int) -> np.ndarray:
    if array.dtype != np.uint8:
        raise ImageLoadError(f"numpy image must be uint8 (0..255), got {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageLoadError(f"numpy image must be [H, W], [H, W, 3] (RGB) or [H, W, 4] (RGBA), got {array.shape}")
    _check_size((array.shape[1], array.shape[0]), max_pixels, "array")
    if array.ndim == 2:
        return np.repeat(array[:, :, None], 3, axis=2)
    if array.shape[2] == 4:
        return _pil_to_rgb(Image.fromarray(array, "RGBA"))
    return np.ascontiguousarray(array)
