"""Known-answer data sets: procedurally generated shapes whose right and wrong remedies are known by
construction. They are the test bed of the remedies and of the diagnosis.

- `builtin:shapes-color`: the class is the object's colour; all class colours have the same luma, so
  grayscale makes the classes indistinguishable and must hurt.
- `builtin:shapes-hue`: the class is the object's hue; its brightness is drawn at random per image, so in
  grayscale no class can be told from another and a model's changed predictions scatter (information lost,
  not one class swapped for another).
- `builtin:shapes-orientation`: the class is the direction an arrow points (left, right, up, down);
  a horizontal flip turns left into right, rotations turn every class into another: they must hurt.
- `builtin:shapes-small-objects`: the class is a small object's shape, and the object sits near the
  border; an aggressive random crop often cuts it out of the picture and must hurt.
- `builtin:shapes-few`: the class is a shape (arrow, L, wedge, triangle) at any position, shown in
  either mirror image at random, with only 24 training images per class; mirroring never changes
  the label, so flips (and small shifts) add views the few images lack and must help, as must more
  data.

All are 32x32 RGB with a train and a test split, generated from a fixed seed (identical on every
machine) in about 0.1 s per set, and kept in memory for the process (cheaper than reading a file).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from liftlab.data.sources import Source, SplitItems, register_builtin

SIZE = 32
TARGET_LUMA = 128.0


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114])


def isoluminant(rgb: tuple[int, int, int], luma: float = TARGET_LUMA) -> np.ndarray:
    """Scale a colour towards the given luma by mixing with gray, keeping its hue."""
    colour = np.array(rgb, dtype=float)
    for _ in range(50):
        colour = np.clip(colour + (luma - _luma(colour)), 0, 255)
    return colour


CLASS_COLOURS = {
    "red": isoluminant((255, 40, 40)),
    "green": isoluminant((40, 200, 40)),
    "blue": isoluminant((60, 60, 255)),
    "magenta": isoluminant((230, 40, 230)),
}


def _grid(radius: int, angle: float) -> tuple[np.ndarray, np.ndarray]:
    half = radius if angle == 0 else int(np.ceil(radius * 1.42))  # room for the rotated corners
    coords = np.arange(-half, half + 1, dtype=float)
    y, x = np.meshgrid(coords, coords, indexing="ij")
    cos, sin = np.cos(angle), np.sin(angle)
    return -x * sin + y * cos, x * cos + y * sin  # the shape's own (y, x) at each pixel


def shape_mask(kind: str, radius: int, angle: float = 0.0) -> np.ndarray:
    """A boolean mask of a shape centred in its patch, rotated by `angle` radians."""
    y, x = _grid(radius, angle)
    if kind == "circle":
        return x**2 + y**2 <= radius**2
    if kind == "square":
        inner = max(1, round(radius * 0.8))
        return (np.abs(x) <= inner) & (np.abs(y) <= inner)
    if kind == "triangle":  # pointing up, symmetric left-right
        return (y >= -radius) & (y <= radius) & (np.abs(x) <= (y + radius) / 2)
    if kind == "cross":
        arm = max(1, radius // 3)
        return ((np.abs(x) <= arm) | (np.abs(y) <= arm)) & (np.abs(x) <= radius) & (np.abs(y) <= radius)
    if kind == "ell":  # an L: asymmetric left-right
        thick = max(1, radius // 3)
        upright = (np.abs(x + radius - thick) <= thick) & (np.abs(y) <= radius)
        foot = (np.abs(y - radius + thick) <= thick) & (np.abs(x) <= radius)
        return upright | foot
    if kind == "wedge":  # a right triangle, right angle bottom-left: asymmetric left-right
        return (x >= -radius) & (y <= radius) & (y >= x)
    if kind == "arrow":  # pointing right: a shaft and a head, asymmetric left-right
        shaft = (x <= 0) & (np.abs(y) <= max(1, radius // 4))
        head = (x >= 0) & (np.abs(y) <= (radius - x) * 0.9)
        return (shaft | head) & (np.abs(x) <= radius)
    raise ValueError(f"unknown shape {kind!r}")


def arrow(direction: str, radius: int) -> np.ndarray:
    mask = shape_mask("arrow", radius)
    turns = {"right": 0, "up": 1, "left": 2, "down": 3}[direction]
    return np.rot90(mask, turns)


def _background(rng: np.random.Generator) -> np.ndarray:
    level = rng.uniform(70, 110)
    noise = rng.normal(0, 12, (SIZE, SIZE, 1))
    return np.clip(level + noise, 0, 255).repeat(3, axis=2)


def _paste(image: np.ndarray, mask: np.ndarray, colour: np.ndarray, top: int, left: int) -> None:
    height, width = mask.shape
    region = image[top : top + height, left : left + width]
    region[mask[: region.shape[0], : region.shape[1]]] = colour


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    colour = rng.uniform(0, 255, 3)
    colour[rng.integers(3)] = 255  # bright enough to stand out from the background
    return colour


Drawer = Callable[[np.random.Generator, int], np.ndarray]


def _colour_image(rng: np.random.Generator, label: int) -> np.ndarray:
    image = _background(rng)
    radius = int(rng.integers(5, 9))
    mask = shape_mask(str(rng.choice(["circle", "square", "triangle", "cross"])), radius)
    top, left = rng.integers(0, SIZE - mask.shape[0] + 1, 2)
    colour = list(CLASS_COLOURS.values())[label] + rng.normal(0, 4, 3)
    _paste(image, mask, np.clip(colour, 0, 255), int(top), int(left))
    return image


HUES = {"red": (255, 40, 40), "green": (40, 200, 40), "blue": (60, 60, 255), "magenta": (230, 40, 230)}


def _hue_image(rng: np.random.Generator, label: int) -> np.ndarray:
    image = _background(rng)
    radius = int(rng.integers(5, 9))
    mask = shape_mask(str(rng.choice(["circle", "square", "triangle", "cross"])), radius)
    top, left = rng.integers(0, SIZE - mask.shape[0] + 1, 2)
    colour = isoluminant(list(HUES.values())[label], float(rng.uniform(60, 200))) + rng.normal(0, 4, 3)
    _paste(image, mask, np.clip(colour, 0, 255), int(top), int(left))
    return image


def _orientation_image(rng: np.random.Generator, label: int) -> np.ndarray:
    image = _background(rng)
    mask = arrow(["left", "right", "up", "down"][label], int(rng.integers(6, 10)))
    top, left = rng.integers(0, SIZE - mask.shape[0] + 1, 2)
    _paste(image, mask, _random_colour(rng), int(top), int(left))
    return image


SMALL_SHAPES = ["circle", "square", "triangle", "cross"]


def _small_object_image(rng: np.random.Generator, label: int) -> np.ndarray:
    image = _background(rng)
    mask = shape_mask(SMALL_SHAPES[label], 3)
    side = mask.shape[0]
    # Anywhere along the border band: at most 2 pixels from one edge.
    edge = int(rng.integers(4))
    along = int(rng.integers(0, SIZE - side + 1))
    offset = int(rng.integers(0, 3))
    top, left = [(offset, along), (SIZE - side - offset, along), (along, offset), (along, SIZE - side - offset)][edge]
    _paste(image, mask, _random_colour(rng), top, left)
    return image


FEW_SHAPES = ["arrow", "ell", "wedge", "triangle"]


def _few_image(rng: np.random.Generator, label: int) -> np.ndarray:
    image = _background(rng)
    mask = shape_mask(FEW_SHAPES[label], int(rng.integers(5, 9)))
    if rng.random() < 0.5:  # each shape appears in both mirror images: flips preserve the label
        mask = mask[:, ::-1]
    top, left = rng.integers(0, SIZE - mask.shape[0] + 1, 2)
    _paste(image, mask, _random_colour(rng), int(top), int(left))
    return image


@functools.lru_cache(maxsize=16)
def generate(draw: Drawer, classes: int, per_class: int, seed: int) -> tuple[np.ndarray, list[int]]:
    """(N, 3, 32, 32) uint8 images and labels, classes interleaved, from one seed."""
    rng = np.random.default_rng(seed)
    labels = [label for _ in range(per_class) for label in range(classes)]
    images = np.stack([draw(rng, label) for label in labels]).round().clip(0, 255).astype(np.uint8)
    images = images.transpose(0, 3, 1, 2).copy()
    images.flags.writeable = False  # shared by every caller of the cache
    return images, labels


SETS: dict[str, tuple[Drawer, list[str], int, int]] = {
    # name: (drawer, classes, training images per class, test images per class)
    "shapes-color": (_colour_image, list(CLASS_COLOURS), 150, 100),
    "shapes-hue": (_hue_image, list(HUES), 150, 100),
    "shapes-orientation": (_orientation_image, ["left", "right", "up", "down"], 150, 100),
    "shapes-small-objects": (_small_object_image, SMALL_SHAPES, 150, 100),
    "shapes-few": (_few_image, FEW_SHAPES, 24, 100),
}


def _loader(name: str) -> Callable[[str], Source]:
    draw, classes, train_per_class, test_per_class = SETS[name]
    seed = sum(map(ord, name))  # fixed per set, different between sets

    def load(spec: str) -> Source:
        train_images, train_labels = generate(draw, len(classes), train_per_class, seed)
        test_images, test_labels = generate(draw, len(classes), test_per_class, seed + 1)
        return Source(
            spec,
            classes,
            {
                "train": SplitItems(
                    train_labels, images=train_images, ids=[f"train#{i}" for i in range(len(train_labels))]
                ),
                "test": SplitItems(test_labels, images=test_images, ids=[f"test#{i}" for i in range(len(test_labels))]),
            },
        )

    return load


for _name in SETS:
    register_builtin(_name, _loader(_name))
