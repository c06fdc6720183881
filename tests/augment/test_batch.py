from __future__ import annotations

import torch

from liftlab.augment import channel_stats, random_crop, random_flip


def _images(n: int = 64) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def test_flip_mirrors_about_half_and_keeps_the_rest() -> None:
    images = _images(400)
    flipped = random_flip(images, torch.Generator().manual_seed(1))
    mirrored = (flipped == images.flip(3)).flatten(1).all(1)
    unchanged = (flipped == images).flatten(1).all(1)
    assert bool((mirrored | unchanged).all())
    assert 150 < int(mirrored.sum()) < 250


def test_crop_shifts_each_image_within_the_padding() -> None:
    images = torch.arange(1, 65, dtype=torch.uint8).reshape(1, 1, 8, 8).repeat(200, 3, 1, 1)
    cropped = random_crop(images, 2, torch.Generator().manual_seed(0))
    assert cropped.shape == images.shape
    # every output is the input shifted by (dy, dx) in [-2, 2]^2, zero-filled
    shifts = set()
    matched = 0
    for image in cropped:
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                expected = torch.zeros_like(images[0])
                src = images[0][:, max(dy, 0) : 8 + min(dy, 0), max(dx, 0) : 8 + min(dx, 0)]
                expected[:, max(-dy, 0) : 8 + min(-dy, 0), max(-dx, 0) : 8 + min(-dx, 0)] = src
                if torch.equal(image, expected):
                    shifts.add((dy, dx))
                    matched += 1
    assert matched == len(cropped)
    assert len(shifts) == 25, "all 25 offsets occur, and every output is one of them"


def test_same_generator_seed_gives_same_augmented_batch() -> None:
    images = _images()
    a = random_flip(random_crop(images, 4, torch.Generator().manual_seed(3)), torch.Generator().manual_seed(4))
    b = random_flip(random_crop(images, 4, torch.Generator().manual_seed(3)), torch.Generator().manual_seed(4))
    assert torch.equal(a, b)


def test_channel_stats_match_the_float_computation() -> None:
    images = _images(256)
    mean, std = channel_stats(images, chunk=50)
    x = images.float() / 255.0
    assert torch.allclose(mean, x.mean(dim=(0, 2, 3)), atol=1e-5)
    assert torch.allclose(std, x.std(dim=(0, 2, 3), unbiased=False), atol=1e-4)


def test_alternating_flip_shows_each_image_both_ways_every_two_epochs() -> None:
    from liftlab.augment import alternating_flip, flip_coins

    images = _images(300)
    coins = flip_coins(300, seed=5)
    assert torch.equal(coins, flip_coins(300, seed=5)), "the same seed gives the same coins (resumable)"
    assert 100 < int(coins.sum()) < 200
    even, odd = alternating_flip(images, coins, epoch=0), alternating_flip(images, coins, epoch=1)
    assert torch.equal(even, alternating_flip(images, coins, epoch=2))
    assert torch.equal(odd, even.flip(3)), "every image is mirrored in exactly one of two epochs"
    assert torch.equal(even[coins], images[coins].flip(3)) and torch.equal(even[~coins], images[~coins])


def test_translate_mirrors_the_edge_instead_of_adding_black() -> None:
    images = torch.full((100, 3, 8, 8), 200, dtype=torch.uint8)
    images[:, :, :, 0] = 50  # a left edge column
    shifted = random_crop(images, 2, torch.Generator().manual_seed(0), mode="reflect")
    assert int(shifted.min()) == 50, "no zero-filled pixels"
    moved = (shifted != images).flatten(1).any(1)
    assert int(moved.sum()) > 50, "most images move"
