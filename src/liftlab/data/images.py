"""Decode one image file into a uint8 array of the recipe's size and colour mode.

Every odd kind of file people keep in image folders is handled here, once: palette images with
transparency, RGBA and LA (composited on white, as a viewer shows them), CMYK, 16-bit and 32-bit
grayscale, 1-bit, EXIF-rotated photos. Files that cannot be used raise `BadImageError` with a reason.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from liftlab.errors import BadInputError

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".jfif"}
)

ResizePolicy = str  # "stretch" | "keep-aspect" | "center-crop"


@dataclass(frozen=True)
class BadFile:
    """A file that could not be used, and why."""

    path: str
    reason: str


class BadImageError(Exception):
    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.bad = BadFile(str(path), reason)


def is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


DRAFT_GAP = 2
"""A JPEG decodes at the smallest of libjpeg's 1/2, 1/4 and 1/8 scales that keeps both sides at least this many
times the size it is resized to, and the resize does the rest: the scaled inverse DCT computes a fraction of
the pixels, so a phone photo costs a fraction of its full decode (`python -m benchmarks.decode_photos`:
4032x3024 JPEGs to 224 px, 4.5x faster here, pixels within 0.12 of 255 on average of the full decode's).
2 is Pillow's own margin for the same trick (`Image.thumbnail`'s `reducing_gap`)."""
CHECK_SIDE = 1
"""The data check decodes every file to find the corrupt and truncated ones, not to look at it: at 1/8 scale a
JPEG's every coefficient is still read (a truncated or corrupt file still fails), an eighth of the pixels
computed."""


def read_image(path: Path, resized_to: int = 0) -> Image.Image:
    """Open and decode `path`, or raise BadImageError naming why it cannot be used. With `resized_to`, a JPEG
    decodes at the smallest scale that keeps both sides at least DRAFT_GAP times that size (other formats
    decode in full): a 4000x3000 JPEG read for 224 px decodes at 1000x750.
    """
    return _decoded(path, resized_to)[0]


def stored_geometry(path: Path) -> tuple[int, int, str]:
    """(width, height, mode) of `path` as stored, found by decoding it at CHECK_SIDE (a JPEG at 1/8 scale), so a
    file that cannot be used raises BadImageError as `read_image` would."""
    image, (width, height) = _decoded(path, CHECK_SIDE)
    return width, height, image.mode


def _decoded(path: Path, resized_to: int) -> tuple[Image.Image, tuple[int, int]]:
    """The decoded image and its stored (width, height)."""
    try:
        if path.stat().st_size == 0:
            raise BadImageError(path, "zero bytes")
    except FileNotFoundError:
        raise BadImageError(path, "file not found") from None
    try:
        with warnings.catch_warnings():
            # Pillow only warns between 1x and 2x its pixel limit; a file that big is as suspect as one
            # over 2x, so both count as decompression bombs.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
            stored = image.size
            if resized_to > 0:
                image.draft(None, (DRAFT_GAP * resized_to, DRAFT_GAP * resized_to))  # a no-op but for JPEG
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise BadImageError(
            path, f"decompression bomb: over Pillow's limit of {Image.MAX_IMAGE_PIXELS} pixels ({error})"
        ) from None
    except UnidentifiedImageError:
        raise BadImageError(path, "not an image (Pillow cannot identify the format)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        text = str(error)
        reason = "truncated" if "truncated" in text.lower() else f"corrupt ({text})"
        raise BadImageError(path, reason) from None
    return image, stored


def _to_8bit_gray(image: Image.Image) -> Image.Image:
    values = np.asarray(image).astype(np.float64)
    if image.mode.startswith("I;16") or values.max(initial=0) > 255:
        top = 65535.0 if values.max(initial=0) <= 65535 else float(values.max())
        values = values * (255.0 / top)
    elif image.mode == "F" and values.max(initial=0) <= 1.0:
        values = values * 255.0
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), mode="L")


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB (H, W, 3) uint8 to CIE L*a*b* (D65) scaled into uint8: L*x2.55, a and b offset by 128."""
    x = rgb.astype(np.float64) / 255.0
    linear = np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    matrix = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = linear @ matrix.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    lightness = 116 * f[..., 1] - 16
    a = 500 * (f[..., 0] - f[..., 1])
    b = 200 * (f[..., 1] - f[..., 2])
    lab = np.stack([lightness * 2.55, a + 128, b + 128], axis=-1)
    return np.clip(np.rint(lab), 0, 255).astype(np.uint8)


def convert_color(image: Image.Image, color: str) -> Image.Image:
    """An RGB or L image in the recipe's colour space: rgb, gray, hsv (Pillow's) or lab."""
    if color == "gray":
        return image.convert("L")
    rgb = image.convert("RGB")
    if color == "hsv":
        return rgb.convert("HSV")
    if color == "lab":
        return Image.fromarray(rgb_to_lab(np.asarray(rgb)), mode="RGB")
    return rgb


def normalise_mode(image: Image.Image, color: str) -> Image.Image:
    """Convert any Pillow mode to the recipe's colour space (3 channels, or 1 for gray)."""
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError):  # broken EXIF: keep the picture
        image = ImageOps.exif_transpose(image) or image
    mode = image.mode
    if mode == "P" or mode == "PA":
        image = image.convert("RGBA") if ("transparency" in image.info or mode == "PA") else image.convert("RGB")
    elif mode == "1":
        image = image.convert("L")
    elif mode.startswith("I") or mode == "F":
        image = _to_8bit_gray(image)
    if image.mode in ("RGBA", "LA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return convert_color(image, color)


def resize(image: Image.Image, size: int, policy: ResizePolicy) -> Image.Image:
    """Make `image` size x size: stretch, keep-aspect (pad with black) or center-crop."""
    width, height = image.size
    if (width, height) == (size, size):
        return image
    resample = Image.Resampling.BILINEAR
    if policy == "stretch":
        return image.resize((size, size), resample)
    if policy == "center-crop":
        scale = size / min(width, height)
        new = (max(size, round(width * scale)), max(size, round(height * scale)))
        image = image.resize(new, resample)
        left, top = (new[0] - size) // 2, (new[1] - size) // 2
        return image.crop((left, top, left + size, top + size))
    if policy == "keep-aspect":
        scale = size / max(width, height)
        new = (max(1, round(width * scale)), max(1, round(height * scale)))
        canvas = Image.new(image.mode, (size, size))
        canvas.paste(image.resize(new, resample), ((size - new[0]) // 2, (size - new[1]) // 2))
        return canvas
    raise ValueError(f"resize policy {policy!r}: expected stretch, keep-aspect or center-crop")


def to_array(image: Image.Image, size: int, policy: ResizePolicy, color: str) -> np.ndarray:
    """A decoded image as a (channels, size, size) uint8 array."""
    # Resize in RGB (or gray), then change colour space: interpolating hue would wrap wrongly.
    base = normalise_mode(image, "gray" if color == "gray" else "rgb")
    image = convert_color(resize(base, size, policy), color)
    array = np.asarray(image, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def load_array(path: Path, size: int, policy: ResizePolicy, color: str) -> np.ndarray:
    """Read `path` and return a (channels, size, size) uint8 array; raises BadImageError. A JPEG far larger
    than `size` decodes at a reduced scale first (`read_image`)."""
    return to_array(read_image(path, resized_to=size), size, policy, color)


def image_files(inputs: list[Path]) -> list[Path]:
    """Every image named: files as given, folders searched recursively in sorted order."""
    found: list[Path] = []
    for item in inputs:
        if item.is_dir():
            found += sorted(p for p in item.rglob("*") if p.is_file() and is_image_name(p))
        elif item.is_file():
            found.append(item)
        else:
            raise BadInputError(f"{item}: no such image or folder")
    if not found:
        raise BadInputError(f"no image files in {', '.join(map(str, inputs))}")
    return found
