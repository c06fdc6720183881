"""Batched augmentation, whitening and normalisation ops."""

from liftlab.augment.batch import alternating_flip, channel_stats, flip_coins, random_crop, random_flip
from liftlab.augment.mixing import mix_batch
from liftlab.augment.pipeline import augment_batch
from liftlab.augment.whitening import apply_zca, fit_zca, per_image_standardise

__all__ = [
    "alternating_flip",
    "apply_zca",
    "augment_batch",
    "channel_stats",
    "fit_zca",
    "flip_coins",
    "mix_batch",
    "per_image_standardise",
    "random_crop",
    "random_flip",
]
