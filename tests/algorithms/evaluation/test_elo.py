"""Elo averaged over game orders, and the games of a win matrix (`algorithms.evaluation.elo`)."""

from __future__ import annotations

import numpy as np
import pytest

from algorithms import ratings
from tests.algorithms.evaluation.conftest import simulate_wins


ELO_TRUTH = np.array([1000.0, 1100.0, 1200.0, 1300.0, 1400.0, 1500.0])


@pytest.fixture(scope="module")
def elo_games():
    log_strength = ELO_TRUTH * np.log(10.0) / 400.0
    return ratings.games_from_wins(simulate_wins(np.random.default_rng(1), log_strength, 40))


def test_elo_single_game_by_hand():
    # Both at 1000, expected ½: the winner gains 32·½ = 16, the loser drops 16 (1016 / 984); then
    # the anchor (the winner) is moved to 1000.
    r, intervals = ratings.elo([[1, 0, 1.0]], 2, n_shuffles=1, anchor=1, start=1000.0)
    np.testing.assert_allclose(r, [968.0, 1000.0])
    r, _ = ratings.elo([[1, 0, 0.5]], 2, n_shuffles=1)
    np.testing.assert_allclose(r, [1000.0, 1000.0])


def test_elo_average_over_shuffles_does_not_depend_on_input_order(elo_games):
    permuted = elo_games[np.random.default_rng(7).permutation(len(elo_games))]
    a, _ = ratings.elo(elo_games, 6, n_shuffles=2000)
    b, _ = ratings.elo(permuted, 6, n_shuffles=2000)
    # A single run's rating varies by ~60 points with the order, the mean of 2000 by ~1.5.
    np.testing.assert_allclose(a, b, atol=8.0)
    single_a, _ = ratings.elo(elo_games, 6, n_shuffles=1)
    single_b, _ = ratings.elo(permuted, 6, n_shuffles=1)
    assert np.max(np.abs(single_a - single_b)) > 20.0


def test_elo_ranks_simulated_policies_and_anchors(elo_games):
    r, intervals = ratings.elo(elo_games, 6, start=1200.0, anchor=2)
    assert r[2] == 1200.0 and np.all(intervals[2] == 1200.0)
    assert np.all(np.diff(r) > 0), r
    assert np.all(intervals[:, 0] <= r) and np.all(r <= intervals[:, 1])
    # Shuffle-averaged Elo lands near the truth (shifted to the anchor) and near Bradley-Terry.
    np.testing.assert_allclose(r - r[0], ELO_TRUTH - ELO_TRUTH[0], atol=60.0)


def test_games_from_wins_keeps_scores_and_draws():
    wins = np.array([[0, 2.5, 1], [1.5, 0, 0.5], [3, 3.5, 0.0]])
    games = ratings.games_from_wins(wins)
    # Pair (0, 1): 2 wins, 1 loss, 1 draw; (0, 2): 1 win, 3 losses; (1, 2): 3 losses, 1 draw.
    assert len(games) == 4 + 4 + 4
    for i, j in [(0, 1), (0, 2), (1, 2)]:
        mine = games[(games[:, 0] == i) & (games[:, 1] == j)]
        assert mine[:, 2].sum() == pytest.approx(wins[i, j]) and len(mine) == wins[i, j] + wins[j, i]
    assert np.count_nonzero(games[:, 2] == 0.5) == 2
    draws = np.array([[0, 1, 0], [1, 0, 2], [0, 2, 0]])
    games = ratings.games_from_wins([[0, 2, 0], [1, 0, 0], [0, 0, 0]], draws=draws)
    assert sorted(map(tuple, games)) == sorted([(0, 1, 1.0)] * 2 + [(0, 1, 0.0), (0, 1, 0.5)] + [(1, 2, 0.5)] * 2)
