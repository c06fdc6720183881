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
