"""Decoding phone-size photos: the full decode then a resize, against liftlab's reduced-scale JPEG decode
(`data/images.read_image`, libjpeg's scaled inverse DCT at the smallest of 1/2, 1/4, 1/8 that keeps both
sides at least twice the target), for the sizes `improve` decodes at, and the data check's inspection of every
file (full decode against a decode at 1/8 scale).

The photos are TrashNet's, enlarged to 4032x3024 (a 12-megapixel phone camera) with mild sensor-like noise so
their files weigh what a phone's do (about 3 MB at quality 90), written to a temporary folder, never the
repository. One thread, interleaved rounds; the ratio is what counts (these machines are noisy).

    python -m benchmarks.decode_photos [--photos 24] [--rounds 3] [--sizes 128,224,288]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from liftlab.data.images import load_array, read_image, stored_geometry, to_array

TRASHNET = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "trashnet"
PHONE = (4032, 3024)


def phone_photos(folder: Path, count: int, noise: float) -> list[Path]:
    photos = sorted(TRASHNET.glob("*/*.jpg"))
    sources = photos[:: max(len(photos) // count, 1)][:count]
    if not sources:
        raise SystemExit(f"no photos under {TRASHNET}: this benchmark reads ../shared/datasets/trashnet")
    rng = np.random.default_rng(0)
    paths = []
    for index, source in enumerate(sources):
        large = np.asarray(Image.open(source).convert("RGB").resize(PHONE, Image.Resampling.BICUBIC), dtype=np.float32)
        large += rng.normal(0.0, noise, large.shape).astype(np.float32)
        path = folder / f"photo{index:03d}.jpg"
        Image.fromarray(large.clip(0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths


def seconds_per_photo(work: Callable[[Path], object], paths: list[Path]) -> float:
    start = time.perf_counter()
    for path in paths:
        work(path)
    return (time.perf_counter() - start) / len(paths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default="128,224,288")
    parser.add_argument("--noise", type=float, default=4.0, help="standard deviation of the added noise, of 255")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        paths = phone_photos(Path(folder), args.photos, args.noise)
        megabytes = statistics.mean(path.stat().st_size for path in paths) / 1e6
        print(f"{len(paths)} photos at {PHONE[0]}x{PHONE[1]}, {megabytes:.1f} MB each on average; one thread")
        variants: dict[str, Callable[[Path], object]] = {"check full": read_image, "check 1/8": stored_geometry}
        for size in sizes:
            variants[f"{size} full"] = lambda p, s=size: to_array(read_image(p), s, "stretch", "rgb")
            variants[f"{size} reduced"] = lambda p, s=size: load_array(p, s, "stretch", "rgb")
        timings: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, work in variants.items():
                timings[name].append(seconds_per_photo(work, paths))
        best = {name: min(values) for name, values in timings.items()}
        print(f"{'what':<26} {'full ms':>9} {'liftlab ms':>11} {'ratio':>7} {'mean |diff| of 255':>19}")
        print(f"{'data check':<26} {best['check full'] * 1e3:>9.1f} {best['check 1/8'] * 1e3:>11.1f} "
              f"{best['check 1/8'] / best['check full']:>7.2f} {'-':>19}")  # fmt: skip
        for size in sizes:
            full, reduced = best[f"{size} full"], best[f"{size} reduced"]
            difference = statistics.mean(
                float(np.abs(load_array(p, size, "stretch", "rgb").astype(float)
                             - to_array(read_image(p), size, "stretch", "rgb").astype(float)).mean())
                for p in paths
            )  # fmt: skip
            print(f"{f'decode to {size} px':<26} {full * 1e3:>9.1f} {reduced * 1e3:>11.1f} {reduced / full:>7.2f} "
                  f"{difference:>19.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
