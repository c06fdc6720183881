"""Generate a folder of the odd files people keep in image folders, with what liftlab must make of each."""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Usable:
    rgb: tuple[int, int, int] | None  # expected colour of the centre pixel, where it is known exactly


@dataclass(frozen=True)
class Unusable:
    reason: str  # the start of the reason liftlab must give


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb by Pillow's limit)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b"")


def _save(image: Image.Image, path: Path, **kwargs: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kwargs)


def make_odd_files(folder: Path) -> dict[str, Usable | Unusable]:
    """Write the odd files into `folder`; return file name -> what liftlab must make of it."""
    folder.mkdir(parents=True, exist_ok=True)
    expected: dict[str, Usable | Unusable] = {}

    def usable(name: str, image: Image.Image, rgb: tuple[int, int, int] | None, **kwargs: object) -> None:
        _save(image, folder / name, **kwargs)
        expected[name] = Usable(rgb)

    usable("gray.png", Image.new("L", (10, 10), 100), (100, 100, 100))
    usable("rgb.png", Image.new("RGB", (10, 10), (10, 200, 30)), (10, 200, 30))
    usable("UPPER.PNG", Image.new("RGB", (10, 10), (10, 200, 30)), (10, 200, 30))
    usable("transparent_rgba.png", Image.new("RGBA", (10, 10), (255, 0, 0, 0)), (255, 255, 255))
    usable("opaque_rgba.png", Image.new("RGBA", (10, 10), (0, 0, 255, 255)), (0, 0, 255))
    usable("half_la.png", Image.new("LA", (10, 10), (0, 0)), (255, 255, 255))
    palette = Image.new("P", (10, 10), 1)
    palette.putpalette([0, 0, 0, 200, 0, 0] + [0] * 762)
    usable("palette.png", palette, (200, 0, 0))
    usable("palette_transparent.png", palette, (255, 255, 255), transparency=1)
    usable("palette.gif", palette, (200, 0, 0))
    usable("cmyk.jpg", Image.new("CMYK", (16, 16), (0, 255, 255, 0)), None, quality=100)
    usable("gray16.png", Image.fromarray(np.full((10, 10), 65535, dtype=np.uint16)), (255, 255, 255))
    usable("gray16_half.png", Image.fromarray(np.full((10, 10), 32896, dtype=np.uint16)), (128, 128, 128))
    usable("int32.tif", Image.fromarray(np.full((10, 10), 65535, dtype=np.int32), mode="I"), (255, 255, 255))
    usable("float.tif", Image.fromarray(np.full((10, 10), 0.5, dtype=np.float32), mode="F"), (128, 128, 128))
    usable("onebit.bmp", Image.new("1", (10, 10), 1), (255, 255, 255))
    usable("rgb.bmp", Image.new("RGB", (10, 10), (1, 2, 3)), (1, 2, 3))
    usable("rgb.tiff", Image.new("RGB", (10, 10), (40, 50, 60)), (40, 50, 60))
    usable("lossless.webp", Image.new("RGB", (10, 10), (40, 50, 60)), (40, 50, 60), lossless=True)
    usable("rgb.ppm", Image.new("RGB", (10, 10), (70, 80, 90)), (70, 80, 90))
    usable("progressive.jpg", Image.new("RGB", (24, 24), (128, 128, 128)), None, progressive=True)
    usable("wide.png", Image.new("RGB", (200, 10), (5, 6, 7)), (5, 6, 7))
    usable("one_pixel.png", Image.new("RGB", (1, 1), (9, 9, 9)), (9, 9, 9))
    rotated = Image.new("RGB", (20, 10), (100, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees on display
    usable("exif_rotated.jpg", rotated, None, exif=exif.tobytes())

    (folder / "zero.jpg").write_bytes(b"")
    expected["zero.jpg"] = Unusable("zero bytes")
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    (folder / "truncated.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    expected["truncated.jpg"] = Unusable("truncated")
    (folder / "text.png").write_text("this is not a picture\n")
    expected["text.png"] = Unusable("not an image")
    (folder / "bomb.png").write_bytes(bomb_png())
    expected["bomb.png"] = Unusable("decompression bomb")
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "PNG")
    (folder / "truncated.png").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    expected["truncated.png"] = Unusable("truncated")

    (folder / "notes.txt").write_text("not an image, ignored\n")
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    return expected
