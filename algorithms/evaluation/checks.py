"""Input checks of payoff matrices, win counts and mixed strategies (float64 numpy, outside `jit`).

A payoff matrix float[P, P] holds win probabilities (1 win, ½ draw, 0 loss, averaged); a symmetric
constant-sum game also has payoff + payoff.T == 1. Each check returns a validated float64 copy or
raises ValueError naming the first bad entry.
"""

from __future__ import annotations

import numpy as np

# Tolerance on payoff + payoff.T == 1 and on a strategy summing to 1 (matrices arrive as float32
# win rates or as averages of many games, so exact equality is too strict).
SYMMETRY_TOL = 1e-6
STRATEGY_TOL = 1e-6


def _as_float_matrix(name: str, value) -> np.ndarray:
    """float64[P, P] copy of `value`, or ValueError naming its shape when it is not square / empty."""
    try:
        matrix = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a numeric float[P, P] matrix, got {type(value).__name__}") from err
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"{name} must be a square 2-D matrix float[P, P], got shape {matrix.shape}")
    if matrix.shape[0] == 0:
        raise ValueError(f"{name}: empty population (shape {matrix.shape}); need at least one policy")
    bad = np.argwhere(~np.isfinite(matrix))
    if len(bad):
        i, j = bad[0]
        raise ValueError(f"{name}[{i}, {j}] = {matrix[i, j]} is not finite; every entry must be a finite number")
    return matrix


def check_payoff(payoff, *, symmetric: bool = False) -> np.ndarray:
    """Validated float64[P, P] copy of a win-probability matrix.

    payoff: float[P, P], entries in [0, 1]. symmetric=True also requires payoff + payoff.T == 1
    within 1e-6 (a symmetric constant-sum game; the diagonal must then be ½).
    Raises ValueError naming the shape, the first bad entry, or the largest symmetry violation.
    """
    matrix = _as_float_matrix("payoff", payoff)
    bad = np.argwhere((matrix < 0.0) | (matrix > 1.0))
    if len(bad):
        i, j = bad[0]
        raise ValueError(f"payoff[{i}, {j}] = {matrix[i, j]} is outside [0, 1] (entries are win probabilities)")
    if symmetric:
        violation = np.abs(matrix + matrix.T - 1.0)
        i, j = np.unravel_index(np.argmax(violation), violation.shape)
        if violation[i, j] > SYMMETRY_TOL:
            raise ValueError(
                f"payoff + payoff.T must equal 1 for a symmetric game (within {SYMMETRY_TOL}); largest violation "
                f"|payoff[{i}, {j}] + payoff[{j}, {i}] - 1| = {violation[i, j]:.3g}"
            )
    return matrix


def check_wins(wins) -> np.ndarray:
    """Validated float64[P, P] copy of a win-count matrix (counts may be fractional: draws count ½).

    Raises ValueError for a non-square or empty matrix, non-finite or negative counts.
    """
    matrix = _as_float_matrix("wins", wins)
    bad = np.argwhere(matrix < 0.0)
    if len(bad):
        i, j = bad[0]
        raise ValueError(f"wins[{i}, {j}] = {matrix[i, j]} is negative; win counts must be >= 0")
    return matrix


def check_strategy(strategy, size: int) -> np.ndarray:
    """Validated float64[size] mixed strategy: finite, >= 0 and summing to 1 (within 1e-6)."""
    s = np.array(strategy, dtype=np.float64)
    if s.shape != (size,):
        raise ValueError(f"strategy must have shape ({size},) to match the payoff matrix, got shape {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"strategy must be finite, got {s}")
    if s.min() < -STRATEGY_TOL:
        i = int(np.argmin(s))
        raise ValueError(f"strategy[{i}] = {s[i]} is negative; a mixed strategy is a probability vector")
    if abs(s.sum() - 1.0) > STRATEGY_TOL:
        raise ValueError(f"strategy must sum to 1 (within {STRATEGY_TOL}), got sum {s.sum():.9g}")
    return np.clip(s, 0.0, None)
