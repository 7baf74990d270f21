"""Evaluation as a game: Nash equilibria, exploitability, Nash averaging, Bradley-Terry, Elo, Wilson.

A population of P policies is evaluated as a symmetric two-player constant-sum game:
`payoff[i, j]` is the probability that policy i beats policy j (1 win, ½ draw, 0 loss, averaged), so
payoff + payoff.T == 1 and the diagonal is ½. The row player of that matrix game maximises.

    strategy, value = nash(payoff, symmetric=True)       # LP (scipy HiGHS); value ½ when symmetric
    exploitability(payoff, strategy)                     # max_i (P s)_i - ½, 0 at a Nash
    strategy, value, gap = nash_iterative(payoff)        # large P: regret matching+, duality gap
    nash_average(payoff)                                 # each policy's payoff against the Nash
    scores, intervals = bradley_terry(wins)              # Newman's iteration, Elo scale, bootstrap
    ratings, intervals = elo(games_from_wins(wins), P)   # online Elo averaged over game orders
    lo, hi = wilson_interval(successes, n)               # 95 % interval of a win rate

Everything here runs outside `jit` in float64 numpy. Inputs are checked at the edge: bad shapes,
non-finite values and out-of-range entries raise ValueError naming the value and what is allowed.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import scipy.optimize
import scipy.sparse.csgraph

# Two-sided 95 % normal quantile.
Z95 = 1.959964
# Tolerance on payoff + payoff.T == 1 and on a strategy summing to 1 (matrices arrive as float32
# win rates or as averages of many games, so exact equality is too strict).
SYMMETRY_TOL = 1e-6
STRATEGY_TOL = 1e-6
# Above this many policies the Nash LP uses HiGHS's interior point method instead of simplex.
LP_SIMPLEX_MAX = 256


# ----------------------------------------------------------------------------- validation
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


def _check_positive(name: str, value, *, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if ok:
        ok = np.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        raise ValueError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0, got {value!r}")
    return float(value)


def _check_count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _check_index(name: str, value, size: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < size:
        raise ValueError(f"{name} must be a policy index in [0, {size}), got {value!r}")
    return int(value)


# ----------------------------------------------------------------------------- Nash equilibria
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
    iters = _check_count("iters", iters, 1)
    check_every = _check_count("check_every", check_every, 1)
    tol = _check_positive("tol", tol, allow_zero=True)
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


# ----------------------------------------------------------------------------- Wilson intervals
def wilson_interval(successes, n, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a success probability from `successes` out of `n` trials.

    successes: float[...] (fractional allowed: a draw counts ½), n: float[...] >= successes; the two
    broadcast. z: the normal quantile (1.959964 for 95 %). Where n == 0 nothing is known: (0, 1).
    Returns (lo, hi) with the broadcast shape (numpy scalars for scalar inputs), clipped to [0, 1].
    """
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    z = _check_positive("z", z)
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


# ----------------------------------------------------------------------------- Bradley-Terry
class BradleyTerryFit(NamedTuple):
    """Result of `fit_bradley_terry`.

    strengths: float64[..., P]  π, normalised to geometric mean 1 over the P policies
    sweeps:    int              sweeps taken (the slowest of a batch)
    converged: bool             max |Δ log π| of the last sweep < tol
    change:    float            max |Δ log π| of the last sweep
    """

    strengths: np.ndarray
    sweeps: int
    converged: bool
    change: float


def _newman_sweep(pi: np.ndarray, wins: np.ndarray, prior: float) -> np.ndarray:
    """One Newman (2023) sweep: π_i ← [Σ_j w_ij π_j/(π_i+π_j)] / [Σ_j w_ji/(π_i+π_j)] for each i in turn.

    The virtual opponent (strength 1, prior/2 wins each way) is one more term of each sum. Updated in
    place (Gauss-Seidel): updating all i at once oscillates forever on two policies (π_1/π_0 → K²/(π_1/π_0)
    with K the odds) and on any bipartite comparison graph.
    pi: float64[..., P] (a copy is returned), wins: float64[..., P, P] with a zero diagonal.
    """
    pi = pi.copy()
    for i in range(pi.shape[-1]):
        inv = 1.0 / (pi[..., i:i + 1] + pi)
        virtual = 0.5 * prior / (pi[..., i] + 1.0)
        num = np.sum(wins[..., i, :] * pi * inv, axis=-1) + virtual
        den = np.sum(wins[..., :, i] * inv, axis=-1) + virtual
        pi[..., i] = num / den
    return pi


def _zermelo_sweep(pi: np.ndarray, wins: np.ndarray, prior: float) -> np.ndarray:
    """One Zermelo (1929) / Hunter MM sweep, in place like `_newman_sweep`:
    π_i ← (Σ_j w_ij + prior/2) / (Σ_j n_ij/(π_i+π_j) + prior/(π_i+1)), n_ij = w_ij + w_ji.

    pi: float64[..., P] (a copy is returned), wins: float64[..., P, P] with a zero diagonal.
    """
    pi = pi.copy()
    won = wins.sum(axis=-1) + 0.5 * prior
    for i in range(pi.shape[-1]):
        games = wins[..., i, :] + wins[..., :, i]
        den = np.sum(games / (pi[..., i:i + 1] + pi), axis=-1) + prior / (pi[..., i] + 1.0)
        pi[..., i] = won[..., i] / den
    return pi


def _geometric_normalise(pi: np.ndarray) -> np.ndarray:
    return pi / np.exp(np.mean(np.log(pi), axis=-1, keepdims=True))


def _best_scale(pi: np.ndarray, newton_steps: int = 8) -> np.ndarray:
    """float64[..., P]: pi·c with c maximising the virtual-opponent terms, the only ones that see scale.

    The games among real policies are invariant to π → cπ, so with a weak prior that direction is
    nearly flat and the fixed-point sweeps crawl along it (10^4 sweeps in practice). Its optimum
    solves Σ_i tanh((u + log π_i)/2) = 0 for u = log c, which lies in [−max log π, −min log π]:
    safeguarded Newton steps from the centre of that bracket.
    """
    theta = np.log(pi)
    lo, hi = -theta.max(axis=-1, keepdims=True), -theta.min(axis=-1, keepdims=True)
    u = 0.5 * (lo + hi)
    for _ in range(newton_steps):
        t = np.tanh(0.5 * (u + theta))
        slope = 0.5 * np.sum(1.0 - t * t, axis=-1, keepdims=True)
        u = np.clip(u - np.sum(t, axis=-1, keepdims=True) / slope, lo, hi)
    return pi * np.exp(u)


def _require_identifiable(wins: np.ndarray) -> None:
    """Without a prior the MLE is finite only if every policy can reach every other by a chain of wins."""
    n, labels = scipy.sparse.csgraph.connected_components(wins > 0, directed=True, connection="strong")
    if n > 1:
        never_lost = np.flatnonzero(wins.sum(axis=0) == 0)
        never_won = np.flatnonzero(wins.sum(axis=1) == 0)
        detail = (f"policy {int(never_lost[0])} never lost" if len(never_lost) else
                  f"policy {int(never_won[0])} never won" if len(never_won) else
                  f"the policies split into {n} groups that never beat each other both ways")
        raise ValueError(f"Bradley-Terry with prior=0 has no finite maximum likelihood: {detail}; use prior > 0")


def fit_bradley_terry(wins, *, method: str = "newman", prior: float = 1.0, tol: float = 1e-10,
                      max_iter: int = 10_000) -> BradleyTerryFit:
    """Bradley-Terry strengths by a fixed-point iteration, with the sweep count.

    wins: float[..., P, P] win counts (a leading batch axis fits several matrices at once, e.g.
    bootstrap resamples); the diagonal is ignored (a policy against itself says nothing).
    method: "newman" (Newman 2023, fast) or "zermelo" (the classic MM iteration, same fixed point);
    both update one policy at a time within a sweep (Gauss-Seidel, see `_newman_sweep`).
    A 2-D `wins` is validated by `check_wins`; a batch is trusted (internal callers only).
    prior: each policy also plays `prior` drawn games against a virtual opponent of strength 1
    (prior/2 wins each way). It keeps strengths finite for a policy that never wins or never loses
    and pins the scale; it is the MAP under a logistic prior on log π. After every sweep the overall
    scale is set to its exact optimum (`_best_scale`), else the weak prior makes convergence crawl.
    prior=0 gives the plain MLE (then normalised to geometric mean 1 every sweep, and the data must
    be strongly connected).
    Stops when max |Δ log π| < tol or after max_iter sweeps (converged=False, no warning here).
    """
    if method not in ("newman", "zermelo"):
        raise ValueError(f"method must be one of ('newman', 'zermelo'), got {method!r}")
    prior = _check_positive("prior", prior, allow_zero=True)
    tol = _check_positive("tol", tol)
    max_iter = _check_count("max_iter", max_iter, 1)
    w = np.array(wins, dtype=np.float64)
    if w.ndim == 2:
        w = check_wins(w)
    w = w * (1.0 - np.eye(w.shape[-1]))
    if prior == 0.0:
        for matrix in w.reshape(-1, *w.shape[-2:]):
            _require_identifiable(matrix)
    sweep_fn = _newman_sweep if method == "newman" else _zermelo_sweep
    pi = np.ones(w.shape[:-1])
    change = np.inf
    for sweep in range(1, max_iter + 1):
        new = sweep_fn(pi, w, prior)
        new = _geometric_normalise(new) if prior == 0.0 else _best_scale(new)
        change = float(np.max(np.abs(np.log(new) - np.log(pi))))
        pi = new
        if change < tol:
            break
    return BradleyTerryFit(_geometric_normalise(pi), sweep, change < tol, change)


def _warn_unconverged(fit: BradleyTerryFit, max_iter: int) -> None:
    if not fit.converged:
        warnings.warn(f"Bradley-Terry iteration did not converge in max_iter={max_iter} sweeps "
                      f"(last max |Δ log π| = {fit.change:.3g}); raise max_iter or tol", RuntimeWarning,
                      stacklevel=3)


def bradley_terry_strengths(wins, *, prior: float = 1.0, tol: float = 1e-10, max_iter: int = 10_000) -> np.ndarray:
    """float64[P] Bradley-Terry strengths π (geometric mean 1) by Newman's iteration.

    wins: float[P, P], wins[i, j] = i's wins over j (draws ½ each way). P(i beats j) = π_i/(π_i+π_j).
    prior: pseudo-games against a virtual opponent (see `fit_bradley_terry`); 0 for the plain MLE.
    Warns (RuntimeWarning) if not converged within max_iter sweeps.
    """
    fit = fit_bradley_terry(check_wins(wins), method="newman", prior=prior, tol=tol, max_iter=max_iter)
    _warn_unconverged(fit, max_iter)
    return fit.strengths


def zermelo_strengths(wins, *, prior: float = 1.0, tol: float = 1e-10, max_iter: int = 100_000) -> np.ndarray:
    """float64[P]: the same strengths as `bradley_terry_strengths` by Zermelo's slower iteration."""
    fit = fit_bradley_terry(check_wins(wins), method="zermelo", prior=prior, tol=tol, max_iter=max_iter)
    _warn_unconverged(fit, max_iter)
    return fit.strengths


def _elo_scale(strengths: np.ndarray, anchor: int, scale: float, base_rating: float) -> np.ndarray:
    """score_i = base + scale·log10(π_i/π_anchor); strengths: float64[..., P]."""
    log10 = np.log10(strengths)
    return base_rating + scale * (log10 - log10[..., anchor:anchor + 1])


def _resample_wins(wins: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """float64[n_samples, P, P]: each pair's games redrawn binomially at the observed win rate.

    A pair's games n_ij = w_ij + w_ji may be fractional (draws, weights): round(n_ij) games are drawn
    and rescaled to weigh n_ij in total, so the resample keeps each pair's weight.
    """
    games = np.triu(wins + wins.T, k=1)
    upper = np.triu(wins, k=1)
    rate = np.divide(upper, games, out=np.zeros_like(games), where=games > 0)
    drawn = np.rint(games).astype(np.int64)
    weight = np.divide(games, drawn, out=np.zeros_like(games), where=drawn > 0)
    won = rng.binomial(drawn, rate, size=(n_samples, *wins.shape)) * weight
    return won + np.swapaxes(games - won, -1, -2)


def _bootstrap_scores(wins: np.ndarray, n_bootstrap: int, rng: np.random.Generator, *, prior: float,
                      anchor: int, scale: float, base_rating: float, tol: float, max_iter: int) -> np.ndarray:
    """float64[B', P] Elo-scale scores of bootstrap resamples (B' <= B: see `bradley_terry`)."""
    p = wins.shape[0]
    # Fit resamples in batches (one vectorised iteration per batch) of ~4M matrix entries.
    batch = max(1, min(n_bootstrap, 4_000_000 // (p * p)))
    out, worst = [], None
    for start in range(0, n_bootstrap, batch):
        sample = _resample_wins(wins, min(batch, n_bootstrap - start), rng)
        if prior == 0.0:
            keep = [scipy.sparse.csgraph.connected_components(m > 0, connection="strong")[0] == 1 for m in sample]
            sample = sample[np.asarray(keep, bool)]
            if not len(sample):
                continue
        fit = fit_bradley_terry(sample, prior=prior, tol=tol, max_iter=max_iter)
        worst = fit if worst is None or fit.change > worst.change else worst
        out.append(_elo_scale(fit.strengths, anchor, scale, base_rating))
    if worst is not None:
        _warn_unconverged(worst, max_iter)
    scores = np.concatenate(out) if out else np.zeros((0, p))
    if len(scores) < 0.9 * n_bootstrap:
        warnings.warn(f"only {len(scores)} of {n_bootstrap} bootstrap resamples have a finite Bradley-Terry "
                      f"fit with prior=0; use prior > 0 for reliable intervals", RuntimeWarning, stacklevel=3)
    return scores


def bradley_terry(wins, *, n_bootstrap: int = 200, seed: int = 0, anchor: int = 0, scale: float = 400.0,
                  base_rating: float = 1000.0, tol: float = 1e-10, max_iter: int = 10_000,
                  prior: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Bradley-Terry scores on the Elo scale with percentile-bootstrap 95 % intervals.

    wins: float[P, P], wins[i, j] = i's wins over j (fractional allowed: a draw counts ½ each way);
    the diagonal is ignored. Strengths π are fitted by Newman's iteration (`fit_bradley_terry`, with
    `prior` drawn pseudo-games against a virtual opponent so an unbeaten or winless policy stays
    finite), then score_i = base_rating + scale·log10(π_i/π_anchor): the anchor scores base_rating and
    a 400-point lead means 10:1 odds, as in Elo.
    Intervals: the (2.5, 97.5) percentiles over n_bootstrap resamples, each pair's games redrawn
    binomially at its observed rate (numpy Generator(seed)); they are relative to the anchor, whose
    interval is therefore [base_rating, base_rating]. n_bootstrap=0 gives NaN intervals. With
    prior=0, resamples without a finite MLE are left out.
    Returns (scores: float64[P], intervals: float64[P, 2]).
    """
    w = check_wins(wins)
    p = w.shape[0]
    anchor = _check_index("anchor", anchor, p)
    n_bootstrap = _check_count("n_bootstrap", n_bootstrap, 0)
    scale = _check_positive("scale", scale)
    if not np.isfinite(base_rating):
        raise ValueError(f"base_rating must be finite, got {base_rating!r}")
    strengths = bradley_terry_strengths(w, prior=prior, tol=tol, max_iter=max_iter)
    scores = _elo_scale(strengths, anchor, scale, base_rating)
    intervals = np.full((p, 2), np.nan)
    if n_bootstrap:
        boot = _bootstrap_scores(w, n_bootstrap, np.random.default_rng(seed), prior=prior, anchor=anchor,
                                 scale=scale, base_rating=base_rating, tol=tol, max_iter=max_iter)
        if len(boot):
            intervals = np.percentile(boot, [2.5, 97.5], axis=0).T
    return scores, intervals


# ----------------------------------------------------------------------------- Elo
def games_from_wins(wins, draws=None) -> np.ndarray:
    """float64[G, 3] game list (i, j, outcome) from win counts, one row per game, pairs in order.

    wins: float[P, P], wins[i, j] = i's wins over j.
    draws=None: draws are already in `wins` as ½ each way. Each pair i < j gives floor(w_ij) wins of
    i (outcome 1), floor(w_ji) wins of j (outcome 0) and, if fractional parts remain (r = frac(w_ij) +
    frac(w_ji) > 0), one more game with outcome frac(w_ij)/r — a draw (½) when the pair's games are a
    whole number. (So two draws of a pair come back as one win each: same total score.)
    draws: float[P, P] symmetric draw counts per pair (draws[i, j] == draws[j, i], counted once);
    `wins` then holds decisive games only, and both must be whole numbers.
    The diagonal is ignored. Outcome 1 means i won, 0.5 a draw, 0 that j won.
    """
    w = check_wins(wins)
    p = w.shape[0]
    if draws is not None:
        d = check_wins(draws)
        if d.shape != w.shape:
            raise ValueError(f"draws must have the shape of wins {w.shape}, got {d.shape}")
        if not np.allclose(d, d.T):
            raise ValueError("draws must be symmetric: draws[i, j] counts the draws between i and j once")
        for name, m in (("wins", w), ("draws", d)):
            frac = np.abs(m - np.rint(m))
            if frac.max() > 1e-9:
                i, j = np.unravel_index(np.argmax(frac), m.shape)
                raise ValueError(f"with draws given, {name} must hold whole counts; {name}[{i}, {j}] = {m[i, j]}")
        w, d = np.rint(w), np.rint(d)
    rows = []
    for i in range(p):
        for j in range(i + 1, p):
            rows += [(i, j, 1.0)] * int(np.floor(w[i, j] + 1e-9)) + [(i, j, 0.0)] * int(np.floor(w[j, i] + 1e-9))
            if draws is not None:
                rows += [(i, j, 0.5)] * int(d[i, j])
                continue
            f_ij, f_ji = (max(0.0, x - np.floor(x + 1e-9)) for x in (w[i, j], w[j, i]))
            if f_ij + f_ji > 1e-9:
                rows.append((i, j, f_ij / (f_ij + f_ji)))
    return np.asarray(rows, np.float64).reshape(-1, 3)


def _check_games(games, n_policies: int) -> np.ndarray:
    """Validated float64[G, 3] (i, j, outcome) list: integer indices in [0, P), outcomes in [0, 1]."""
    g = np.array(games, dtype=np.float64)
    if g.size == 0:
        return np.zeros((0, 3))
    if g.ndim != 2 or g.shape[1] != 3:
        raise ValueError(f"games must have shape [G, 3] of (i, j, outcome), got shape {g.shape}")
    if not np.all(np.isfinite(g)):
        raise ValueError("games must be finite")
    idx = g[:, :2]
    bad = np.argwhere((idx != np.round(idx)) | (idx < 0) | (idx >= n_policies))
    if len(bad):
        r, c = bad[0]
        raise ValueError(f"games[{r}, {c}] = {idx[r, c]} is not a policy index in [0, {n_policies})")
    bad = np.flatnonzero((g[:, 2] < 0) | (g[:, 2] > 1))
    if len(bad):
        raise ValueError(f"games[{bad[0]}, 2] = {g[bad[0], 2]} is not an outcome in [0, 1] "
                         f"(1: i won, 0.5: draw, 0: j won)")
    return g


def _online_elo(first: np.ndarray, second: np.ndarray, outcome: np.ndarray, n_policies: int, *,
                k: float, scale: float, start: float) -> np.ndarray:
    """float64[S, P] final ratings of S independent online Elo runs, one game order per row.

    first, second: int[S, G] policy indices; outcome: float[S, G] (1: first won). The runs advance
    together (one vectorised update per game), so cost is G small numpy operations.
    """
    runs = first.shape[0]
    ratings = np.full((runs, n_policies), start)
    row = np.arange(runs)
    for t in range(first.shape[1]):
        a, b = first[:, t], second[:, t]
        expected = 1.0 / (1.0 + 10.0 ** ((ratings[row, b] - ratings[row, a]) / scale))
        delta = k * (outcome[:, t] - expected)
        ratings[row, a] += delta
        ratings[row, b] -= delta
    return ratings


def elo(games, n_policies: int, *, k: float = 32.0, scale: float = 400.0, start: float = 1000.0,
        anchor: int = 0, n_shuffles: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Online Elo ratings averaged over random orders of the games.

    games: float[G, 3] or int[G, 3] rows (i, j, outcome), outcome 1 = i won, 0.5 draw, 0 = j won
    (see `games_from_wins`). Each of `n_shuffles` runs plays all games in a random order (numpy
    Generator(seed)) from `start` with the usual update R_i += k·(outcome − E), E = 1/(1 +
    10^((R_j − R_i)/scale)); online Elo depends on that order, so the final ratings are averaged.
    Every run is shifted so the anchor rates `start`.
    Returns (ratings: float64[P], intervals: float64[P, 2]) with intervals the (2.5, 97.5)
    percentiles over the runs: the spread due to game order, not a sampling interval (use
    `bradley_terry` for that). The anchor's interval is [start, start].
    """
    n_policies = _check_count("n_policies", n_policies, 1)
    g = _check_games(games, n_policies)
    anchor = _check_index("anchor", anchor, n_policies)
    k, scale = _check_positive("k", k), _check_positive("scale", scale)
    n_shuffles = _check_count("n_shuffles", n_shuffles, 1)
    if not np.isfinite(start):
        raise ValueError(f"start must be finite, got {start!r}")
    rng = np.random.default_rng(seed)
    order = rng.permuted(np.broadcast_to(np.arange(len(g)), (n_shuffles, len(g))), axis=1)
    runs = _online_elo(g[order, 0].astype(np.int64), g[order, 1].astype(np.int64), g[order, 2], n_policies,
                       k=k, scale=scale, start=start)
    runs += start - runs[:, anchor:anchor + 1]
    return runs.mean(axis=0), np.percentile(runs, [2.5, 97.5], axis=0).T
