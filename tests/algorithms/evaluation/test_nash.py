"""Nash equilibria, exploitability and Nash averaging (`algorithms.evaluation.nash`).

Expected numbers are hand-computed in comments or come from an independent solver (the column
player's LP).
"""

from __future__ import annotations

import numpy as np
import pytest

from algorithms import ratings
from tests.algorithms.evaluation.conftest import BIASED_RPS, RPS, sigmoid, symmetric_random


def test_rps_nash_is_uniform_with_value_half():
    strategy, value = ratings.nash(RPS, symmetric=True)
    np.testing.assert_allclose(strategy, [1 / 3, 1 / 3, 1 / 3], atol=1e-6)
    assert value == pytest.approx(0.5, abs=1e-9)


def test_rps_exploitability():
    # Against pure R the best response P wins with probability 1: 1 − ½ = ½.
    for pure in np.eye(3):
        assert ratings.exploitability(RPS, pure) == pytest.approx(0.5, abs=1e-12)
    # Against uniform every response scores (1 + ½ + 0)/3 = ½.
    assert ratings.exploitability(RPS, np.ones(3) / 3) == pytest.approx(0.0, abs=1e-12)


def test_biased_rps_nash_and_exploitability():
    strategy, value = ratings.nash(BIASED_RPS, symmetric=True)
    np.testing.assert_allclose(strategy, [0.25, 0.5, 0.25], atol=1e-6)
    assert value == pytest.approx(0.5, abs=1e-9)
    # Pure R: best response P scores P[1, 0] = .75, so .25.
    assert ratings.exploitability(BIASED_RPS, [1, 0, 0]) == pytest.approx(0.25, abs=1e-12)
    # Uniform: row sums (1.75, 1.5, 1.25)/3, best 1.75/3 = 0.58333, minus ½ = 1/12.
    assert ratings.exploitability(BIASED_RPS, np.ones(3) / 3) == pytest.approx(1 / 12, abs=1e-12)
    assert ratings.exploitability(BIASED_RPS, strategy) == pytest.approx(0.0, abs=1e-9)


def test_transitive_game_has_pure_nash_at_the_top():
    # Bradley-Terry game, the strongest policy (strength 1) sits at index 3.
    s = np.array([0.0, -0.5, 0.5, 1.0, -1.0])
    payoff = sigmoid(s[:, None] - s[None, :])
    strategy, value = ratings.nash(payoff, symmetric=True)
    np.testing.assert_allclose(strategy, np.eye(5)[3], atol=1e-6)
    assert value == pytest.approx(0.5, abs=1e-9)
    # Nash average: each policy's win rate against the top one, σ(s_i − 1); ½ for the top itself.
    np.testing.assert_allclose(ratings.nash_average(payoff), sigmoid(s - 1.0), atol=1e-6)


def test_nash_average_of_full_support_equilibrium_is_the_value():
    # Against (¼, ½, ¼): R scores .5·.25 + .25·.5 + 1·.25 = .5, and so do P and S.
    np.testing.assert_allclose(ratings.nash_average(BIASED_RPS), [0.5, 0.5, 0.5], atol=1e-9)
    np.testing.assert_allclose(ratings.nash_average(BIASED_RPS, [1, 0, 0]), [0.5, 0.75, 0.0], atol=1e-12)


@pytest.mark.parametrize("seed", range(50))
def test_lp_value_is_a_minimax_certificate(seed):
    rng = np.random.default_rng(seed)
    rows, cols = rng.integers(2, 13), rng.integers(2, 13)
    n = max(rows, cols)
    payoff = rng.uniform(size=(n, n))
    strategy, value = ratings.nash(payoff)
    # The row strategy guarantees the value against every column ...
    assert np.min(strategy @ payoff) >= value - 1e-9
    assert strategy.min() >= 0 and strategy.sum() == pytest.approx(1.0, abs=1e-12)
    # ... and the column player's own LP (maximin of 1 − Pᵀ) holds the row to that value: max-min =
    # min-max. Its guarantee 1 − max_i (P t)_i is the column's value.
    column, column_value = ratings.nash(1.0 - payoff.T)
    assert np.max(payoff @ column) <= value + 1e-6
    assert 1.0 - column_value == pytest.approx(value, abs=1e-6)


@pytest.mark.parametrize("n", [2, 7, 30])
def test_symmetric_random_game_value_half_and_zero_exploitability(n):
    payoff = symmetric_random(np.random.default_rng(n), n)
    strategy, value = ratings.nash(payoff, symmetric=True)
    assert value == pytest.approx(0.5, abs=1e-7)
    assert ratings.exploitability(payoff, strategy) == pytest.approx(0.0, abs=1e-7)


def test_nash_iterative_general_50_agrees_with_lp_within_gap():
    payoff = np.random.default_rng(3).uniform(size=(50, 50))
    _, lp_value = ratings.nash(payoff)
    gaps = []
    for iters in (100, 1000, 5000):
        strategy, value, gap = ratings.nash_iterative(payoff, iters=iters, tol=0.0)
        assert abs(value - lp_value) <= gap / 2 + 1e-12
        assert np.min(strategy @ payoff) >= value - gap / 2 - 1e-12
        gaps.append(gap)
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 1e-4


def test_nash_iterative_symmetric_200_agrees_with_lp_within_gap():
    payoff = symmetric_random(np.random.default_rng(4), 200)
    strategy_lp, lp_value = ratings.nash(payoff, symmetric=True)
    gaps = []
    for iters in (50, 500, 3000):
        strategy, value, gap = ratings.nash_iterative(payoff, iters=iters, tol=0.0)
        assert abs(value - lp_value) <= gap / 2 + 1e-12
        # In a symmetric game s's exploitability is bounded by the certificate's gap.
        assert ratings.exploitability(payoff, strategy) <= gap + 1e-12
        gaps.append(gap)
    assert gaps[0] > gaps[1] > gaps[2]
    # The equilibrium of a random symmetric game is unique: the average iterate approaches it.
    assert np.abs(strategy - strategy_lp).sum() < 0.05


def test_nash_iterative_stops_at_tol_on_a_large_population():
    payoff = symmetric_random(np.random.default_rng(5), 1024)
    strategy, value, gap = ratings.nash_iterative(payoff, tol=1e-3)
    assert gap < 1e-3
    assert value == pytest.approx(0.5, abs=gap / 2 + 1e-12)
    assert 0.0 <= ratings.exploitability(payoff, strategy) < 1e-3
