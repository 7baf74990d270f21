"""Online Elo ratings, averaged over random orders of the games.

    ratings, intervals = elo(games_from_wins(wins), P)

float64 numpy, outside `jit`.
"""

from __future__ import annotations

import numpy as np

from algorithms import validate
from algorithms.evaluation.checks import check_wins


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
    n_policies = validate.integer("n_policies", n_policies, 1)
    g = _check_games(games, n_policies)
    anchor = validate.index("anchor", anchor, n_policies, "a policy index")
    k, scale = validate.positive("k", k), validate.positive("scale", scale)
    n_shuffles = validate.integer("n_shuffles", n_shuffles, 1)
    if not np.isfinite(start):
        raise ValueError(f"start must be finite, got {start!r}")
    rng = np.random.default_rng(seed)
    order = rng.permuted(np.broadcast_to(np.arange(len(g)), (n_shuffles, len(g))), axis=1)
    runs = _online_elo(g[order, 0].astype(np.int64), g[order, 1].astype(np.int64), g[order, 2], n_policies,
                       k=k, scale=scale, start=start)
    runs += start - runs[:, anchor:anchor + 1]
    return runs.mean(axis=0), np.percentile(runs, [2.5, 97.5], axis=0).T
