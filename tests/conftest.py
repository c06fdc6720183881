"""Shared fixtures: an isolated cache, the shared CIFAR-10 sample, and generated image folders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO.parent / "shared" / "datasets"


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test, and every module fixture before it, writes its cache under one session folder, never
    the user's cache (a session fixture is set up before module ones; a function one would come after)."""
    cache = tmp_path_factory.mktemp("liftlab-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LIFTLAB_CACHE", str(cache))
        yield cache


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A private PostgreSQL server for this test session (stopped and deleted after it)."""
    from pg_server import postgres_server

    try:
        with postgres_server() as url:
            yield url
    except RuntimeError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="session")
def tracking_server() -> Iterator[str]:
    """A private MLflow tracking server for this test session; its URI."""
    from mlflow_server import mlflow_server

    try:
        with mlflow_server() as server:
            yield server.uri
    except RuntimeError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="session")
def cifar_small() -> Path:
    path = SHARED_DATASETS / "cifar10-small"
    if not path.is_dir():
        pytest.fail(f"{path} is missing: the tests need ../shared/datasets beside the repository")
    return path


def save_image(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (12, 12), seed: int = 0) -> Path:
    """A small RGB image of one colour with a little noise, so files differ."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(color)[None, None] + rng.integers(-20, 20, (size[1], size[0], 3)), 0, 255)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    return path


COLOURS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}


def colour_splits(root: Path, train: int, test: int, test_seed: int) -> Path:
    """ImageFolder with train/ and test/ of the COLOURS classes (`train` and `test` PNGs per class); the test
    images are drawn from seeds `test_seed` onwards, apart from the training images' 0 onwards."""
    for name, colour in COLOURS.items():
        for i in range(train):
            save_image(root / "train" / name / f"{i:03d}.png", colour, seed=i)
        for i in range(test):
            save_image(root / "test" / name / f"{i:03d}.png", colour, seed=test_seed + i)
    return root


@pytest.fixture()
def colour_folder(tmp_path: Path) -> Path:
    """Unsplit ImageFolder: 3 colour classes x 20 images."""
    root = tmp_path / "colours"
    for name, colour in COLOURS.items():
        for i in range(20):
            save_image(root / name / f"{i:03d}.png", colour, seed=i)
    return root


@pytest.fixture()
def split_folder(tmp_path: Path) -> Path:
    """ImageFolder with train/ (16 per class) and test/ (4 per class)."""
    root = tmp_path / "splitted"
    for name, colour in COLOURS.items():
        for i in range(16):
            save_image(root / "train" / name / f"{i:03d}.jpg", colour, seed=i)
        for i in range(4):
            save_image(root / "test" / name / f"{i:03d}.jpg", colour, seed=100 + i)
    return root
