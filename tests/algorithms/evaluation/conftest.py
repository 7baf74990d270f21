"""Shared by the evaluation tests: small games whose true payoff is known, and sampled win counts.

Rock-paper-scissors and its biased variant, random symmetric constant-sum games, win counts of
Bradley-Terry players, a transitive 4-policy chain, and a `PayoffMatrix` with exact counts; the
battle environment and its scripted population are built once per process.
"""

from __future__ import annotations

import numpy as np
import pytest

import gigastep_jax as gj
from algorithms import evaluation as E
from algorithms.evaluation import payoff as payoff_module
from algorithms.evaluation import scripted as S

BATTLE = "identical_5_vs_5_fobs_vec_void_disc"


# Win probabilities of rock-paper-scissors (rows R, P, S): win 1, draw ½, loss 0.
RPS = np.array([[0.5, 0.0, 1.0], [1.0, 0.5, 0.0], [0.0, 1.0, 0.5]])


# Biased RPS of docs/PREFERENCE.md testbed (a): P = ½ + A/4.
BIASED_RPS = 0.5 + np.array([[0, -1, 2], [1, 0, -1], [-2, 1, 0]]) / 4.0


def symmetric_random(rng: np.random.Generator, n: int) -> np.ndarray:
    """float64[n, n] random symmetric constant-sum game: upper triangle uniform, P + Pᵀ = 1."""
    upper = np.triu(rng.uniform(size=(n, n)), k=1)
    payoff = upper + np.tril(1.0 - upper.T, k=-1)
    np.fill_diagonal(payoff, 0.5)
    return payoff


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def simulate_wins(rng: np.random.Generator, log_strength: np.ndarray, games_per_pair: int) -> np.ndarray:
    """float64[P, P] win counts of games between every pair, P(i beats j) = σ(θ_i − θ_j)."""
    p = len(log_strength)
    wins = np.zeros((p, p))
    for i in range(p):
        for j in range(i + 1, p):
            won = rng.binomial(games_per_pair, sigmoid(log_strength[i] - log_strength[j]))
            wins[i, j], wins[j, i] = won, games_per_pair - won
    return wins


# A noisy, transitive-ish 4-policy game (row beats column), constant-sum.
UPPER = {(0, 1): 0.3, (0, 2): 0.2, (0, 3): 0.1, (1, 2): 0.4, (1, 3): 0.25, (2, 3): 0.35}


CHAIN = np.full((4, 4), 0.5)
for (i, j), v in UPPER.items():
    CHAIN[i, j], CHAIN[j, i] = v, 1 - v


def exact_matrix(payoff, n: int, names) -> E.PayoffMatrix:
    """A PayoffMatrix whose counts are exactly n * payoff (what infinitely lucky sampling gives)."""
    payoff = np.asarray(payoff, np.float64)
    wins = payoff * n
    count = np.full(payoff.shape, n)
    lo, hi = payoff_module._wilson(wins, count)
    return E.PayoffMatrix(win_rate=payoff, wins=wins, n_games=count, lo=lo, hi=hi, names=tuple(names))


@pytest.fixture(scope="session")
def env():
    """The battle scenario of the game and scripted tests (one per process)."""
    return gj.make(BATTLE)


@pytest.fixture(scope="session")
def scripted():
    params, names = S.scripted_population(["random", "chaser", "circler"])
    return params, names
