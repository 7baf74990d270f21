"""Confidence intervals of win rates.

    lo, hi = wilson_interval(successes, n)               # 95 % interval of a win rate
"""

from __future__ import annotations

import numpy as np

from algorithms import validate

# Two-sided 95 % normal quantile.
Z95 = 1.959964


def wilson_interval(successes, n, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a success probability from `successes` out of `n` trials.

    successes: float[...] (fractional allowed: a draw counts ½), n: float[...] >= successes; the two
    broadcast. z: the normal quantile (1.959964 for 95 %). Where n == 0 nothing is known: (0, 1).
    Returns (lo, hi) with the broadcast shape (numpy scalars for scalar inputs), clipped to [0, 1].
    """
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    z = validate.positive("z", z)
    if not (np.all(np.isfinite(k)) and np.all(np.isfinite(n))):
        raise ValueError("wilson_interval: successes and n must be finite")
    if np.any(n < 0):
        raise ValueError(f"wilson_interval: n must be >= 0, got {n[n < 0].ravel()[0]}")
    k, n = np.broadcast_arrays(k, n)
    if np.any((k < 0) | (k > n)):
        idx = np.argwhere((k < 0) | (k > n))[0]
        raise ValueError(f"wilson_interval: successes must lie in [0, n], got successes {k[tuple(idx)]} "
                         f"with n {n[tuple(idx)]}")
    played = n > 0
    safe_n = np.where(played, n, 1.0)  # avoid 0/0 where n == 0, overwritten below
    p = k / safe_n
    z2n = z * z / safe_n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z / (1.0 + z2n) * np.sqrt(p * (1.0 - p) / safe_n + z2n / (4.0 * safe_n))
    lo = np.where(played, np.clip(centre - half, 0.0, 1.0), 0.0)
    hi = np.where(played, np.clip(centre + half, 0.0, 1.0), 1.0)
    return lo[()], hi[()]
