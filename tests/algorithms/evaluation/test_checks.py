"""Bad input to the ratings is a ValueError naming the entry and what is allowed
(`algorithms.evaluation.checks` and each rating's own arguments); degenerate populations work."""

from __future__ import annotations

import numpy as np
import pytest

from algorithms import ratings
from tests.algorithms.evaluation.conftest import RPS


def test_single_policy_and_no_games():
    assert ratings.nash([[0.5]], symmetric=True) == (pytest.approx([1.0]), 0.5)
    scores, intervals = ratings.bradley_terry([[0.0]])
    assert scores.tolist() == [1000.0] and intervals.tolist() == [[1000.0, 1000.0]]
    r, intervals = ratings.elo(np.zeros((0, 3)), 3, start=1200.0)
    assert r.tolist() == [1200.0] * 3 and intervals.tolist() == [[1200.0, 1200.0]] * 3
    assert ratings.games_from_wins(np.zeros((3, 3))).shape == (0, 3)


@pytest.mark.parametrize(
    "payoff, pattern",
    [
        (np.full((2, 3), 0.5), r"square 2-D matrix float\[P, P\], got shape \(2, 3\)"),
        (np.full(3, 0.5), r"got shape \(3,\)"),
        (np.zeros((0, 0)), r"empty population"),
        ([[0.5, 1.5], [-0.5, 0.5]], r"payoff\[0, 1\] = 1.5 is outside \[0, 1\]"),
        ([[0.5, np.nan], [0.5, 0.5]], r"payoff\[0, 1\] = nan is not finite"),
    ],
)
def test_bad_payoff(payoff, pattern):
    with pytest.raises(ValueError, match=pattern):
        ratings.nash(payoff)
    with pytest.raises(ValueError, match=pattern):
        ratings.nash_iterative(payoff)


def test_asymmetric_payoff_rejected_when_symmetric():
    payoff = np.array([[0.5, 0.7, 0.5], [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]])
    with pytest.raises(ValueError, match=r"largest violation \|payoff\[0, 1\] \+ payoff\[1, 0\] - 1\| = 0.2"):
        ratings.nash(payoff, symmetric=True)
    ratings.nash(payoff)  # a general matrix game is fine
    with pytest.raises(ValueError, match=r"payoff\[1, 1\] \+ payoff\[1, 1\]"):
        ratings.check_payoff(np.array([[0.5, 0.5], [0.5, 0.6]]), symmetric=True)


@pytest.mark.parametrize(
    "strategy, pattern",
    [
        ([0.5, 0.5], r"strategy must have shape \(3,\).*got shape \(2,\)"),
        ([0.5, 0.4, 0.0], r"strategy must sum to 1.*got sum 0.9"),
        ([1.5, -0.5, 0.0], r"strategy\[1\] = -0.5 is negative"),
        ([np.nan, 0.5, 0.5], r"strategy must be finite"),
    ],
)
def test_bad_strategy(strategy, pattern):
    with pytest.raises(ValueError, match=pattern):
        ratings.exploitability(RPS, strategy)
    with pytest.raises(ValueError, match=pattern):
        ratings.nash_average(RPS, strategy)


@pytest.mark.parametrize(
    "wins, pattern",
    [
        ([[0, 3], [-1, 0]], r"wins\[1, 0\] = -1.0 is negative"),
        ([[0, 3, 1], [1, 0, 2]], r"wins must be a square.*got shape \(2, 3\)"),
        ([[0, np.inf], [1, 0]], r"wins\[0, 1\] = inf is not finite"),
        (np.zeros((0, 0)), r"wins: empty population"),
    ],
)
def test_bad_wins(wins, pattern):
    with pytest.raises(ValueError, match=pattern):
        ratings.bradley_terry(wins)
    with pytest.raises(ValueError, match=pattern):
        ratings.games_from_wins(wins)


@pytest.mark.parametrize(
    "call, pattern",
    [
        (lambda: ratings.elo([[0, 2, 1.0]], 2), r"games\[0, 1\] = 2.0 is not a policy index in \[0, 2\)"),
        (lambda: ratings.elo([[0, 1, 1.5]], 2), r"games\[0, 2\] = 1.5 is not an outcome in \[0, 1\]"),
        (lambda: ratings.elo([[0, 1]], 2), r"games must have shape \[G, 3\]"),
        (lambda: ratings.elo([[0, 1, 1.0]], 2, anchor=2), r"anchor must be a policy index in \[0, 2\), got 2"),
        (lambda: ratings.elo([[0, 1, 1.0]], 2, n_shuffles=0), r"n_shuffles must be an int >= 1, got 0"),
        (lambda: ratings.bradley_terry([[0, 1], [1, 0]], anchor=-1), r"anchor must be a policy index"),
        (lambda: ratings.bradley_terry([[0, 1], [1, 0]], prior=-1.0), r"prior must be a finite number >= 0"),
        (lambda: ratings.fit_bradley_terry([[0, 1], [1, 0]], method="mm"), r"method must be one of"),
        (lambda: ratings.wilson_interval(11, 10), r"successes must lie in \[0, n\], got successes 11.0 with n 10.0"),
        (lambda: ratings.wilson_interval(1, -1), r"n must be >= 0"),
        (lambda: ratings.games_from_wins([[0, 1.5], [1, 0]], draws=[[0, 1], [1, 0]]), r"whole counts"),
        (lambda: ratings.nash_iterative(RPS, iters=0), r"iters must be an int >= 1, got 0"),
    ],
)
def test_bad_arguments(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()
