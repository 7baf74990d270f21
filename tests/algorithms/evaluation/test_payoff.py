"""Payoff matrices with Wilson intervals (`algorithms.evaluation.payoff`), sampled from matrix games
whose true payoff is known."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algorithms import evaluation as E
from algorithms.evaluation.game import MatrixGame
from tests.algorithms.evaluation.conftest import CHAIN, RPS

NAMES = ["rock", "paper", "scissors"]


def test_rps_matrix_recovered_within_intervals():
    game = MatrixGame(RPS, names=NAMES)
    m = E.payoff_matrix(game, None, 400, jax.random.PRNGKey(0))
    assert m.names == tuple(NAMES)
    assert m.win_rate.dtype == np.float64 and m.win_rate.shape == (3, 3)
    np.testing.assert_array_equal(m.n_games, 400)  # the diagonal is played too
    assert (m.lo <= RPS).all() and (RPS <= m.hi).all()
    np.testing.assert_allclose(m.win_rate, m.wins / 400)
    # Certain outcomes are measured exactly; the diagonal is a fair coin, measured, not set to ½.
    off = ~np.eye(3, dtype=bool)
    np.testing.assert_array_equal(m.win_rate[off], RPS[off])
    assert np.all(np.abs(np.diag(m.win_rate) - 0.5) < 0.08) and np.any(np.diag(m.win_rate) != 0.5)
    assert np.all(np.diag(m.hi) - np.diag(m.lo) < 0.11)  # Wilson half-width ~0.049 at n = 400


def test_chain_matrix_recovered_within_intervals():
    game = MatrixGame(CHAIN)
    m = E.payoff_matrix(game, None, 300, jax.random.PRNGKey(1))
    inside = (m.lo <= CHAIN) & (CHAIN <= m.hi)
    assert inside.sum() >= 15  # 16 cells at 95 % each; this key gives all 16
    assert np.abs(m.win_rate - CHAIN).max() < 0.1


def test_only_earlier_fills_by_symmetry():
    game = MatrixGame(CHAIN)
    m = E.payoff_matrix(game, None, 200, jax.random.PRNGKey(2), only_earlier=True)
    lower, upper = np.tril_indices(4, -1), np.triu_indices(4, 1)
    np.testing.assert_array_equal(m.n_games[lower], 200)
    np.testing.assert_array_equal(m.n_games[upper], 0)
    np.testing.assert_array_equal(np.diag(m.n_games), 0)
    np.testing.assert_allclose(m.win_rate + m.win_rate.T, 1.0)
    np.testing.assert_array_equal(np.diag(m.win_rate), 0.5)
    np.testing.assert_allclose(m.lo[upper], 1 - m.hi.T[upper])
    np.testing.assert_allclose(m.hi[upper], 1 - m.lo.T[upper])
    assert np.abs(m.win_rate - CHAIN).max() < 0.12
    # Same pairs, same keys as the full matrix: the played cells agree with it exactly.
    full = E.payoff_matrix(game, None, 200, jax.random.PRNGKey(2))
    np.testing.assert_array_equal(m.wins[lower], full.wins[lower])
    # Pooling does not double-count the mirrored cells: each pair met 200 times.
    _, games = m.pooled()
    np.testing.assert_array_equal(games[lower], 200)


def test_payoff_matrix_subset_population_and_names():
    game = MatrixGame(CHAIN, names=list("abcd"))
    m = E.payoff_matrix(game, jnp.array([3, 0]), 50, jax.random.PRNGKey(3))
    assert m.names == ("d", "a")
    assert m.win_rate[0, 1] > 0.75  # d beats a with probability 0.9


def test_payoff_matrix_errors():
    game = MatrixGame(RPS)
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="n_games must be an int >= 1"):
        E.payoff_matrix(game, None, 0, key)
    with pytest.raises(ValueError, match="empty population"):
        E.payoff_matrix(game, jnp.zeros(0, jnp.int32), 4, key)
    with pytest.raises(ValueError, match="names: expected 3 names"):
        E.payoff_matrix(game, None, 4, key, names=["a", "b"])
    with pytest.raises(ValueError, match="mismatched population"):
        E.payoff_matrix(object(), {"w": jnp.zeros((3, 2)), "b": jnp.zeros(2)}, 4, key)
    with pytest.raises(ValueError, match="only a MatrixGame"):
        E.payoff_matrix(object(), None, 4, key)
    with pytest.raises(ValueError, match=r"wins must have shape \(3, 3\).*got \(2, 2\)"):
        E.PayoffMatrix(win_rate=np.zeros((3, 3)), wins=np.zeros((2, 2)), n_games=np.zeros((3, 3)),
                       lo=np.zeros((3, 3)), hi=np.zeros((3, 3)), names=("a", "b", "c"))


def test_vs_earlier_sums_each_policy_against_all_before_it():
    """A hand-made 3-policy matrix: policy 1 against 0, policy 2 against 0 and 1, pooled over both
    orders or from the row alone."""
    wins = np.array([[5.0, 2.0, 1.0], [6.0, 5.0, 3.0], [9.0, 7.0, 5.0]])
    n = np.full((3, 3), 10)
    m = E.PayoffMatrix(win_rate=wins / n, wins=wins, n_games=n, lo=wins / n, hi=wins / n, names=("a", "b", "c"))
    won, played = m.vs_earlier(pooled=False)
    np.testing.assert_array_equal(won, [6.0, 16.0])
    np.testing.assert_array_equal(played, [10.0, 20.0])
    won, played = m.vs_earlier()
    # b: 6 of its row + (10 - 2) of a's row against it; c: 9 + 7 + (10 - 1) + (10 - 3)
    np.testing.assert_array_equal(won, [14.0, 32.0])
    np.testing.assert_array_equal(played, [20.0, 40.0])
    report = E.evaluation_report(m)
    np.testing.assert_allclose(report["win_rate_vs_earlier"], [14 / 20, 32 / 40])
