"""Nash equilibria of a payoff matrix, exploitability and Nash averaging.

    strategy, value = nash(payoff, symmetric=True)       # LP (scipy HiGHS); value ½ when symmetric
    exploitability(payoff, strategy)                     # max_i (P s)_i - ½, 0 at a Nash
    strategy, value, gap = nash_iterative(payoff)        # large P: regret matching+, duality gap
    nash_average(payoff)                                 # each policy's payoff against the Nash

The row player of payoff[i, j] (the probability that i beats j) maximises. float64 numpy, outside `jit`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.optimize

from algorithms import validate
from algorithms.evaluation.checks import check_payoff, check_strategy

# Above this many policies the Nash LP uses HiGHS's interior point method instead of simplex.
LP_SIMPLEX_MAX = 256


def _row_maximin(payoff: np.ndarray) -> np.ndarray:
    """float64[P] maximin strategy of the row player of payoff: float64[P, Q], by LP (HiGHS).

    Variables (s, v): maximise v subject to (sᵀ payoff)_j >= v for every column j, s in the simplex.
    """
    p, q = payoff.shape
    cost = np.zeros(p + 1)
    cost[-1] = -1.0
    a_ub = np.hstack([-payoff.T, np.ones((q, 1))])
    a_eq = np.hstack([np.ones((1, p)), np.zeros((1, 1))])
    bounds = [(0.0, None)] * p + [(None, None)]
    # HiGHS picks dual simplex, which slows badly on big dense games (P = 1024: 33 s against 5 s for
    # the interior point method, whose crossover still returns a vertex).
    method = "highs" if max(p, q) <= LP_SIMPLEX_MAX else "highs-ipm"
    res = scipy.optimize.linprog(cost, A_ub=a_ub, b_ub=np.zeros(q), A_eq=a_eq, b_eq=[1.0], bounds=bounds,
                                 method=method)
    if res.status != 0:
        raise RuntimeError(f"the Nash linear program failed (status {res.status}): {res.message}")
    # The solver may leave entries at -1e-12; project back onto the simplex.
    s = np.clip(res.x[:p], 0.0, None)
    return s / s.sum()


def nash(payoff, *, symmetric: bool = False) -> tuple[np.ndarray, float]:
    """Maximin mixed strategy of the row player and the game's value, by linear programming.

    payoff: float[P, P], entries in [0, 1]; the row player receives payoff[i, j], the column player
    pays it. symmetric=True checks payoff + payoff.T == 1 (then the value is ½).
    Returns (strategy: float64[P], value: float) with value = min_j (strategyᵀ payoff)_j, the payoff
    the strategy guarantees (= max_s min_j by LP optimality, up to the solver's ~1e-9 tolerance).
    When the equilibrium is not unique this is whichever vertex HiGHS finds.
    """
    matrix = check_payoff(payoff, symmetric=symmetric)
    strategy = _row_maximin(matrix)
    return strategy, float(np.min(strategy @ matrix))


def exploitability(payoff, strategy) -> float:
    """How much a best response gains against `strategy`: max_i Σ_j payoff[i, j]·strategy[j] − ½.

    payoff: float[P, P] win probabilities; strategy: float[P], a mixture of the population.
    For a symmetric game it is >= 0 and 0 exactly at a Nash equilibrium (the duality gap is twice it).
    """
    matrix = check_payoff(payoff)
    s = check_strategy(strategy, matrix.shape[0])
    return float(np.max(matrix @ s) - 0.5)


def nash_average(payoff, strategy=None) -> np.ndarray:
    """float64[P]: each policy's expected payoff against the Nash mixture, payoff @ strategy.

    Balduzzi et al. (2018), "Re-evaluating evaluation". strategy: float[P], default `nash(payoff)`.
    Policies in the equilibrium's support score the value (½ in a symmetric game); the others less.
    Balduzzi et al. pick the maximum-entropy equilibrium to make the answer unique; the default
    here is the LP's vertex, which agrees whenever the equilibrium is unique.
    """
    matrix = check_payoff(payoff)
    s = nash(matrix)[0] if strategy is None else check_strategy(strategy, matrix.shape[0])
    return matrix @ s


class _RegretState(NamedTuple):
    """Regret matching+ state of both players (cumulative clipped regrets, weighted strategy sums)."""

    regret_row: np.ndarray  # float64[P]
    regret_col: np.ndarray  # float64[Q]
    sum_row: np.ndarray  # float64[P]  Σ_t t·x_t
    sum_col: np.ndarray  # float64[Q]  Σ_t t·y_t


def _regret_to_strategy(regret: np.ndarray) -> np.ndarray:
    total = regret.sum()
    return regret / total if total > 0 else np.full(regret.shape, 1.0 / regret.size)


def _rm_plus_step(payoff: np.ndarray, state: _RegretState, t: int) -> _RegretState:
    """One alternating regret matching+ iteration (the column player sees the new row strategy)."""
    y = _regret_to_strategy(state.regret_col)
    gain_row = payoff @ y  # row action values, [P]
    x = _regret_to_strategy(state.regret_row)
    regret_row = np.maximum(state.regret_row + gain_row - x @ gain_row, 0.0)
    x = _regret_to_strategy(regret_row)
    loss_col = x @ payoff  # the column player minimises, [Q]
    regret_col = np.maximum(state.regret_col + y @ loss_col - loss_col, 0.0)
    y = _regret_to_strategy(regret_col)
    # Linear averaging (weight t) discounts the poor early iterates.
    return _RegretState(regret_row, regret_col, state.sum_row + t * x, state.sum_col + t * y)


def _duality_bounds(payoff: np.ndarray, s: np.ndarray, t: np.ndarray) -> tuple[float, float]:
    """(min_j (sᵀP)_j, max_i (P t)_i): the game's value lies between them."""
    return float(np.min(s @ payoff)), float(np.max(payoff @ t))


def nash_iterative(payoff, *, iters: int = 20_000, tol: float = 1e-4,
                   check_every: int = 10) -> tuple[np.ndarray, float, float]:
    """Approximate Nash equilibrium of a large matrix game by regret matching+ (numpy, no LP).

    payoff: float[P, P], entries in [0, 1] (row player maximises). Both players run regret
    matching+ with alternating updates and linearly weighted averages (the CFR+ recipe: no step size
    to tune, and in practice far faster than the O(1/√T) worst case). Every `check_every` iterations
    the averages (s, t) give the certificate min_j (sᵀP)_j <= value <= max_i (P t)_i; it stops when
    gap = max_i (P t)_i − min_j (sᵀP)_j < tol or after `iters` iterations. For a symmetric game
    t can be replaced by s, and then gap = 2·exploitability(payoff, s).
    Returns (strategy: float64[P] = s, value: float, gap: float) with value the midpoint of the
    bounds, so |value − true value| <= gap / 2, and s guarantees at least value − gap / 2.
    Cost: two matrix-vector products per iteration.
    """
    matrix = check_payoff(payoff)
    iters = validate.integer("iters", iters, 1)
    check_every = validate.integer("check_every", check_every, 1)
    tol = validate.positive("tol", tol, allow_zero=True)
    p, q = matrix.shape
    state = _RegretState(np.zeros(p), np.zeros(q), np.zeros(p), np.zeros(q))
    for t in range(1, iters + 1):
        state = _rm_plus_step(matrix, state, t)
        if t % check_every == 0 or t == iters:
            s, col = state.sum_row / state.sum_row.sum(), state.sum_col / state.sum_col.sum()
            lower, upper = _duality_bounds(matrix, s, col)
            if upper - lower < tol:
                break
    return s, 0.5 * (lower + upper), upper - lower
