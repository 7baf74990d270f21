"""Bradley-Terry strengths from win counts, on the Elo scale, with bootstrap intervals.

    scores, intervals = bradley_terry(wins)              # Newman's iteration, Elo scale, bootstrap

wins[i, j] = i's wins over j (a draw counts ½ each way); P(i beats j) = π_i / (π_i + π_j).
float64 numpy, outside `jit`.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import scipy.sparse.csgraph

from algorithms import validate
from algorithms.evaluation.checks import check_wins


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
    prior = validate.positive("prior", prior, allow_zero=True)
    tol = validate.positive("tol", tol)
    max_iter = validate.integer("max_iter", max_iter, 1)
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
    prior=0, resamples without a finite MLE are left out. A policy that never met the anchor, even
    through others (no games, or another connected component of the games), has no data against
    it: its interval is (-inf, inf), not the certainty its unchanging resamples would suggest.
    Returns (scores: float64[P], intervals: float64[P, 2]).
    """
    w = check_wins(wins)
    p = w.shape[0]
    anchor = validate.index("anchor", anchor, p, "a policy index")
    n_bootstrap = validate.integer("n_bootstrap", n_bootstrap, 0)
    scale = validate.positive("scale", scale)
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
        intervals[~_linked_to(w, anchor)] = (-np.inf, np.inf)
    return scores, intervals


def _linked_to(wins: np.ndarray, anchor: int) -> np.ndarray:
    """bool[P]: the policies joined to the anchor by a chain of played games."""
    games = (wins + wins.T) > 0
    np.fill_diagonal(games, False)
    labels = scipy.sparse.csgraph.connected_components(games, directed=False)[1]
    return labels == labels[anchor]
