"""Batched augmentation and normalisation ops."""

from liftlab.augment.batch import channel_stats, normalise, random_crop, random_flip

__all__ = ["channel_stats", "normalise", "random_crop", "random_flip"]
