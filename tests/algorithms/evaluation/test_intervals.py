"""Wilson score intervals (`algorithms.evaluation.intervals`)."""

from __future__ import annotations

import numpy as np
import pytest

from algorithms import ratings


def test_wilson_hand_computed():
    z2 = 1.959964**2
    # 0 of 10: lo 0, hi = (z²/10)/(1 + z²/10) = 0.277533.
    lo, hi = ratings.wilson_interval(0, 10)
    assert lo == pytest.approx(0.0, abs=1e-15) and hi == pytest.approx((z2 / 10) / (1 + z2 / 10), rel=1e-12)
    # 5 of 10: centre ½, half = z/(1 + z²/10)·sqrt(.025 + z²/400) = 0.263407.
    lo, hi = ratings.wilson_interval(5, 10)
    half = 1.959964 / (1 + z2 / 10) * np.sqrt(0.025 + z2 / 400)
    assert (lo, hi) == (pytest.approx(0.5 - half, rel=1e-12), pytest.approx(0.5 + half, rel=1e-12))
    assert half == pytest.approx(0.263407, abs=1e-6)


def test_wilson_broadcasts_and_handles_no_games_and_draws():
    lo, hi = ratings.wilson_interval(np.array([[0.0, 3.5], [2.0, 0.0]]), np.array([[0, 7], [4, 4]]))
    assert lo.shape == hi.shape == (2, 2)
    assert (lo[0, 0], hi[0, 0]) == (0.0, 1.0)  # nothing played
    # 3.5 of 7 (one draw) is a rate of ½, so the interval is centred on ½.
    assert lo[0, 1] + hi[0, 1] == pytest.approx(1.0, abs=1e-12)
    assert lo[1, 0] < 0.5 < hi[1, 0] and lo[1, 1] == 0.0


def test_wilson_coverage_is_close_to_95_percent():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.95, size=2000)
    wins = rng.binomial(100, p)
    lo, hi = ratings.wilson_interval(wins, 100)
    coverage = np.mean((lo <= p) & (p <= hi))
    assert 0.93 <= coverage <= 0.97, coverage
