"""Images near each other, and images near nothing: near-copies (a perceptual hash and the frozen backbone's
features must both agree), outliers (far from every training image in feature space) and the distance an image
met at prediction keeps from the training data.

The perceptual hash is imagehash's pHash (the low frequencies of the image's DCT, 64 bits): it survives
re-encoding and resizing but not much cropping; the backbone's features survive crops and colour shifts but
also call two photos of the same kind of object alike. A pair is a near-copy when its features are nearly
parallel, or when they are close and its hashes nearly equal. cleanlab scores outliers (the distance to an
image's nearest neighbours in feature space, `cleanlab.outlier.OutOfDistribution`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import imagehash
import numpy as np
import torch
from cleanlab.outlier import OutOfDistribution
from PIL import Image

NEIGHBOURS = 5
"""Nearest neighbours looked at per image for near-copies: a copy is its original's nearest neighbour; a few
more catch groups of three or four copies."""
SIMILAR_FEATURES = 0.97
"""Cosine similarity of the backbone's features above which two images are near-copies whatever their hashes
(a crop or colour change moves the hash; docs/results.md, "Near-copies")."""
CLOSE_FEATURES = 0.85
"""Cosine similarity above which two images are near-copies when their hashes also agree within HASH_BITS."""
HASH_BITS = 10
"""Largest Hamming distance of two 64-bit pHashes counted as agreeing (re-encoding and resizing by 10-20%
move a pHash by a few bits; unrelated images differ by about 32)."""
RULE = (
    f"among {NEIGHBOURS} nearest neighbours: feature cosine >= {SIMILAR_FEATURES}, "
    f"or cosine >= {CLOSE_FEATURES} and pHash within {HASH_BITS} of 64 bits"
)
OUTLIER_NEIGHBOURS = 10
"""Neighbours cleanlab averages distances over (its default): more than a handful, so a few odd images that
resemble each other are still far from the rest."""


def perceptual_hashes(images: torch.Tensor) -> np.ndarray:
    """(N,) uint64 pHashes of uint8 (N, C, H, W) images."""
    hashes = np.zeros(len(images), dtype=np.uint64)
    for index, image in enumerate(images):
        array = image.permute(1, 2, 0).numpy()
        picture = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
        bits = imagehash.phash(picture).hash.flatten()
        hashes[index] = np.uint64(int("".join("1" if bit else "0" for bit in bits), 2))
    return hashes


def hash_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise Hamming distance of uint64 hashes."""
    return np.bitwise_count(np.bitwise_xor(a, b)).astype(np.int64)


def unit_rows(features: np.ndarray) -> np.ndarray:
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)


def nearest(
    queries: np.ndarray, references: np.ndarray, k: int, same: bool = False, chunk: int = 2048
) -> tuple[np.ndarray, np.ndarray]:
    """(indices, cosine similarities), each (Q, k): the `k` references most similar to each query, best first;
    with `same` (queries are the references) an image is not its own neighbour."""
    q, r = torch.from_numpy(unit_rows(queries)).float(), torch.from_numpy(unit_rows(references)).float()
    k = min(k, len(r) - (1 if same else 0))
    indices, similarities = [], []
    for start in range(0, len(q), chunk):
        block = q[start : start + chunk] @ r.T
        if same:
            rows = torch.arange(len(block))
            block[rows, rows + start] = -2.0  # below any cosine
        values, found = block.topk(k, dim=1)
        indices.append(found.numpy())
        similarities.append(values.numpy())
    return np.concatenate(indices), np.concatenate(similarities)


@dataclass(frozen=True)
class NearPair:
    """Two images (indices into the reviewed images) found to be near-copies, with the evidence."""

    first: int
    second: int
    similarity: float
    hash_bits: int


def is_near_copy(similarity: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """The near-copy rule on arrays of feature similarities and hash distances.

    >>> is_near_copy(np.array([0.99, 0.9, 0.9, 0.5]), np.array([30, 4, 20, 0])).tolist()
    [True, True, False, False]
    """
    return (similarity >= SIMILAR_FEATURES) | ((similarity >= CLOSE_FEATURES) & (bits <= HASH_BITS))


def near_copies(features: np.ndarray, hashes: np.ndarray, k: int = NEIGHBOURS) -> list[NearPair]:
    """Every pair of images the near-copy rule joins among each image's `k` nearest neighbours, once each."""
    if len(features) < 2:
        return []
    indices, similarities = nearest(features, features, k, same=True)
    firsts = np.repeat(np.arange(len(features)), indices.shape[1])
    seconds, sims = indices.ravel(), similarities.ravel()
    bits = hash_distance(hashes[firsts], hashes[seconds])
    keep = is_near_copy(sims, bits)
    pairs: dict[tuple[int, int], NearPair] = {}
    for a, b, sim, bit in zip(firsts[keep], seconds[keep], sims[keep], bits[keep], strict=True):
        key = (int(min(a, b)), int(max(a, b)))
        pairs.setdefault(key, NearPair(key[0], key[1], round(float(sim), 4), int(bit)))
    return sorted(pairs.values(), key=lambda pair: -pair.similarity)


def near_copies_over(
    features: list[np.ndarray], images: list[torch.Tensor]
) -> tuple[list[NearPair], list[tuple[int, int]]]:
    """Near-copy pairs among several parts (splits) taken as one set of images, each part given as its features
    and its uint8 images: the pairs (indices into the parts laid end to end), and each index's (part, position)."""
    located = [(part, index) for part, rows in enumerate(features) for index in range(len(rows))]
    return near_copies(np.concatenate(features), perceptual_hashes(torch.cat(images))), located


def copy_groups(count: int, pairs: list[NearPair]) -> list[int]:
    """A group id per image: images joined by near-copy pairs, directly or through others, share one.

    >>> copy_groups(5, [NearPair(0, 3, 1.0, 0), NearPair(3, 4, 1.0, 0)])
    [0, 1, 2, 0, 0]
    """
    parent = list(range(count))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    for pair in pairs:
        a, b = root(pair.first), root(pair.second)
        parent[max(a, b)] = min(a, b)
    return [root(index) for index in range(count)]


def outlier_scores(fitted_on: np.ndarray, scored: np.ndarray | None = None) -> np.ndarray:
    """Outlier scores in [0, 1] (higher: farther from the `fitted_on` images' neighbourhoods) of `scored`, or of
    `fitted_on` themselves (each against the others) when `scored` is None."""
    detector = OutOfDistribution({"k": min(OUTLIER_NEIGHBOURS, len(fitted_on) - 1)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if scored is None:
            typical = detector.fit_score(features=unit_rows(fitted_on), verbose=False)
        else:
            detector.fit(features=unit_rows(fitted_on), verbose=False)
            typical = detector.score(features=unit_rows(scored))
    return 1.0 - np.asarray(typical, dtype=float)
