from __future__ import annotations

import numpy as np

from liftlab.diagnose.learning_curve import LearningCurve


def test_power_law_fit_recovers_a_known_curve_and_extrapolates_inside_its_interval() -> None:
    rng = np.random.default_rng(0)
    sizes = [250, 500, 1000, 2000]

    def truth(n: float) -> float:
        return 1 - (0.08 + 4.0 * n**-0.6)

    points = [[truth(n) + rng.normal(0, 0.004) for _ in range(3)] for n in sizes]
    curve = LearningCurve.from_points(sizes, points)
    predicted, (low, high) = curve.predict(8000)
    assert low <= truth(8000) <= high
    assert abs(predicted - truth(8000)) < 0.02
    images, (images_low, _) = curve.images_for(0.88)
    assert images is not None and images_low is not None
    assert 0.5 * images < ((4.0 / (0.12 - 0.08)) ** (1 / 0.6)) < 2 * images
    unreachable, _ = curve.images_for(0.97)  # error floor 0.08: 97% cannot be reached by data alone
    assert unreachable is None


def _simulated_points(
    rng: np.random.Generator, sizes: list[int], seeds: int, n_val: int = 500
) -> tuple[list[list[float]], list[list[np.ndarray]], np.ndarray]:
    """Per-image validation correctness of `seeds` runs at each size, images of varying difficulty, the mean
    accuracy at size n following 1 - (0.05 + 3 n^-0.5)."""
    difficulty = rng.normal(0, 1, n_val)
    correct = []
    for n in sizes:
        accuracy = 1 - (0.05 + 3 * n**-0.5)
        shift = np.log(accuracy / (1 - accuracy))
        correct.append([rng.random(n_val) < 1 / (1 + np.exp(-(shift + difficulty))) for _ in range(seeds)])
    return [[float(c.mean()) for c in per] for per in correct], correct, difficulty


def test_the_interval_at_twice_the_data_covers_the_truth_with_images_resampled() -> None:
    # 2 seeds at 4 sizes, 500 validation images: the 95% interval of the accuracy at 4,000 images covers the
    # population's accuracy there in at least 88% of 25 simulated diagnoses (about 98% in 60)
    rng = np.random.default_rng(0)
    sizes, covered, trials = [250, 500, 1000, 2000], 0, 25
    population = rng.normal(0, 1, 200_000)
    accuracy = 1 - (0.05 + 3 * 4000**-0.5)
    truth = float(np.mean(1 / (1 + np.exp(-(np.log(accuracy / (1 - accuracy)) + population)))))
    for trial in range(trials):
        points, correct, _ = _simulated_points(rng, sizes, 2)
        curve = LearningCurve.from_points(sizes, points, correct=correct, seed=trial)
        assert curve.reliable
        _, (low, high) = curve.predict(4000)
        covered += low <= truth <= high
    assert covered / trials >= 0.88


def test_one_seed_at_three_sizes_gives_no_interval_and_no_image_count() -> None:
    from liftlab.diagnose.learning_curve import learning_curve_findings

    rng = np.random.default_rng(1)
    sizes = [500, 1000, 2000]
    points, correct, _ = _simulated_points(rng, sizes, 1)
    curve = LearningCurve.from_points(sizes, points, correct=correct)
    assert not curve.reliable and curve.boot == []
    record = curve.record(0.95)
    assert record.interval is not None and record.interval.startswith("none")
    assert record.images_for_target is not None and record.images_for_target.ci95 == (None, None)
    assert record.scope == "baseline recipe, validation split"
    rising = LearningCurve.from_points(sizes, [[0.70], [0.76], [0.82]])
    findings = learning_curve_findings(rising, 0.95, n_val=500)
    assert [f.code for f in findings] == ["MORE_DATA_HELPS"]
    assert "measured" in findings[0].message and "images_for_target" not in findings[0].evidence
    assert learning_curve_findings(LearningCurve.from_points(sizes, [[0.80], [0.81], [0.815]]), 0.95, 500) == []


def test_an_image_count_far_beyond_the_measured_sizes_is_out_of_range() -> None:
    sizes = [250, 500, 1000, 2000]
    points = [[1 - (0.02 + 3 * n**-0.3) + d for d in (-0.002, 0.002)] for n in sizes]
    target = LearningCurve.from_points(sizes, points).record(0.9).images_for_target
    assert target is not None and target.images is not None and target.images > 4 * 2000 and target.out_of_range
