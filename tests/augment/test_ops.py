from __future__ import annotations

import torch

from liftlab.augment import augment_batch, random_flip
from liftlab.augment.auto import OP_NAMES, apply_ops, rand_augment, trivial_augment
from liftlab.augment.mixing import mix_batch
from liftlab.augment.ops import color_jitter, cutout, random_resized_crop, random_rotate
from liftlab.augment.whitening import apply_zca, fit_zca, per_image_standardise
from liftlab.config import AugmentConfig


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _batch(n: int = 64, c: int = 3, size: int = 16) -> torch.Tensor:
    return torch.rand(n, c, size, size, generator=_gen(42))


def test_rotate_by_zero_is_identity_and_small_angles_change_images_per_sample() -> None:
    images = _batch()
    assert torch.allclose(random_rotate(images, 1e-6, _gen()), images, atol=1e-4)
    rotated = random_rotate(images, 30, _gen())
    changes = (rotated - images).abs().flatten(1).mean(1)
    assert changes.std() > 0, "each image gets its own angle"


def test_rotate_180_of_a_centred_dot_stays_centred_and_a_bar_turns() -> None:
    image = torch.zeros(1, 1, 9, 9)
    image[0, 0, 4, 1:4] = 1.0  # a bar left of centre
    turned = random_rotate(image.repeat(200, 1, 1, 1), 180, _gen())
    right_side = turned[:, 0, 4, 5:8].mean(1)
    assert right_side.max() > 0.8, "some angles near 180 move the bar to the right"


def test_vflip_mirrors_top_and_bottom() -> None:
    images = _batch(400)
    flipped = random_flip(images, _gen(), dim=2)
    mirrored = (flipped == images.flip(2)).flatten(1).all(1)
    same = (flipped == images).flatten(1).all(1)
    assert bool((mirrored | same).all()) and 150 < int(mirrored.sum()) < 250


def test_color_jitter_stays_in_range_and_varies_brightness() -> None:
    images = _batch()
    jittered = color_jitter(images, 0.5, _gen())
    assert jittered.min() >= 0 and jittered.max() <= 1
    assert (jittered.mean(dim=(1, 2, 3)) / images.mean(dim=(1, 2, 3))).std() > 0.05


def test_cutout_erases_a_square_of_the_requested_share() -> None:
    images = torch.ones(200, 3, 20, 20)
    erased = cutout(images, 0.25, _gen())
    zero_fraction = (erased == 0).float().mean(dim=(1, 2, 3))
    assert zero_fraction.max() <= 25 / 400 + 1e-6  # a 5x5 square at most
    assert (zero_fraction > 0).all() and (zero_fraction < 25 / 400).any()  # clipped at the borders sometimes


def test_mixup_and_cutmix_targets_are_distributions_matching_the_mix() -> None:
    images = _batch(32)
    labels = torch.arange(32) % 4
    mixed, targets = mix_batch(images, labels, 4, 0.4, 0.0, _gen())
    assert torch.allclose(targets.sum(1), torch.ones(32))
    assert not torch.equal(mixed, images)
    cut, cut_targets = mix_batch(
        torch.zeros(32, 1, 10, 10) + labels[:, None, None, None].float(), labels, 4, 0.0, 1.0, _gen(1)
    )
    assert torch.allclose(cut_targets.sum(1), torch.ones(32))
    # the label weight of each image's own class equals the share of its own pixels
    own_share = (cut == labels[:, None, None, None].float()).float().mean(dim=(1, 2, 3))
    own_weight = cut_targets[torch.arange(32), labels]
    partner_differs = own_share < 1.0
    assert torch.allclose(own_weight[partner_differs], own_share[partner_differs], atol=1e-5)


def test_every_auto_augment_op_keeps_shape_and_range() -> None:
    images = _batch(len(OP_NAMES) * 4)
    op_ids = torch.arange(len(OP_NAMES)).repeat_interleave(4)
    strengths = torch.linspace(-1, 1, len(op_ids))
    out = apply_ops(images, op_ids, strengths)
    assert out.shape == images.shape and out.min() >= -1e-6 and out.max() <= 1 + 1e-6
    identity = op_ids == OP_NAMES.index("identity")
    assert torch.equal(out[identity], images[identity])
    assert not torch.equal(out[~identity], images[~identity])


def test_rand_and_trivial_augment_are_deterministic_per_seed() -> None:
    images = _batch()
    assert torch.equal(rand_augment(images, 2, 9, _gen(3)), rand_augment(images, 2, 9, _gen(3)))
    assert torch.equal(trivial_augment(images, _gen(3)), trivial_augment(images, _gen(3)))
    assert not torch.equal(trivial_augment(images, _gen(3)), trivial_augment(images, _gen(4)))


def test_augment_batch_with_everything_on_returns_unit_range_floats() -> None:
    config = AugmentConfig(flip=True, vflip=True, crop_padding=2, rotate=20, color_jitter=0.3, cutout=0.2,
                           randaugment=1, trivialaugment=True)  # fmt: skip
    images = torch.randint(0, 256, (16, 3, 12, 12), dtype=torch.uint8, generator=_gen())
    out = augment_batch(images, config, _gen())
    assert out.dtype == torch.float32 and out.shape == (16, 3, 12, 12)
    assert out.min() >= 0 and out.max() <= 1


def test_per_image_standardisation_gives_each_image_mean_0_std_1() -> None:
    images = _batch() * torch.linspace(0.5, 1, 64)[:, None, None, None]  # different exposures
    out = per_image_standardise(images)
    assert torch.allclose(out.flatten(1).mean(1), torch.zeros(64), atol=1e-5)
    assert torch.allclose(out.flatten(1).std(1, unbiased=False), torch.ones(64), atol=1e-4)


def test_zca_decorrelates_pixels_and_keeps_the_image_like_the_input() -> None:
    # correlated pixels: smooth random images (neighbouring pixels alike)
    base = torch.rand(2000, 1, 4, 4, generator=_gen())
    smooth = torch.nn.functional.interpolate(base, size=8, mode="bilinear", align_corners=False)
    noise = torch.rand(2000, 1, 8, 8, generator=_gen(1))
    images = ((0.8 * smooth + 0.2 * noise) * 255).round().to(torch.uint8)
    mean, matrix = fit_zca(images, eps=1e-4)
    white = apply_zca(images.float() / 255.0, mean, matrix).flatten(1)
    raw = (images.float() / 255.0).flatten(1)
    raw_corr = torch.corrcoef(raw.T)
    white_cov = torch.cov(white.T)
    off_diagonal = ~torch.eye(64, dtype=torch.bool)
    assert raw_corr[0, 1] > 0.5, "neighbouring input pixels are strongly correlated"
    assert white_cov[off_diagonal].abs().max() < 0.05
    # directions with variance far above eps get unit variance
    assert white_cov.diagonal().max() < 1.01 and white_cov.diagonal().max() > 0.5
    # ZCA is the whitening closest to the identity: each whitened pixel stays correlated with its own input
    own = torch.stack([torch.corrcoef(torch.stack([raw[:, i], white[:, i]]))[0, 1] for i in range(64)])
    assert own.min() > 0.1


def test_zca_refuses_images_that_are_too_large() -> None:
    import pytest

    with pytest.raises(ValueError, match="per-image"):
        fit_zca(torch.zeros(4, 3, 64, 64, dtype=torch.uint8))


def test_resized_crop_zooms_into_a_share_of_the_image_per_sample() -> None:
    # a horizontal ramp from 0 to 1: a crop's row spans about its width share of the ramp
    ramp = torch.linspace(0, 1, 32).expand(64, 3, 32, 32).contiguous()
    wide = random_resized_crop(ramp, 0.9, _gen(1))
    narrow = random_resized_crop(ramp, 0.1, _gen(1))
    assert narrow.shape == ramp.shape
    span = lambda x: (x[:, 0, 16, -1] - x[:, 0, 16, 0]).abs()  # noqa: E731
    assert span(wide).mean() > 0.85
    assert span(narrow).mean() < span(wide).mean() - 0.15  # E[sqrt(area)] is 0.72 for areas in [0.1, 1]
    assert span(narrow).std() > 0.1, "each image its own crop"
    assert narrow.min() >= 0 and narrow.max() <= 1
    assert torch.equal(narrow, random_resized_crop(ramp, 0.1, _gen(1))), "same seed, same crops"


def test_train_size_gives_smaller_training_images() -> None:
    batch = (torch.rand(4, 3, 32, 32, generator=_gen(3)) * 255).to(torch.uint8)
    cropped = augment_batch(batch, AugmentConfig(resized_crop=0.5, train_size=24), _gen(4))
    shrunk = augment_batch(batch, AugmentConfig(train_size=16), _gen(4))
    assert cropped.shape == (4, 3, 24, 24) and shrunk.shape == (4, 3, 16, 16)
    # a shrink without a crop is the whole image, smaller: its mean brightness stays
    assert torch.allclose(shrunk.mean(dim=(2, 3)), batch.float().div(255).mean(dim=(2, 3)), atol=0.02)
