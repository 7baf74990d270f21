"""Cross-play payoff matrices with confidence intervals.

    matrix = payoff_matrix(game, population, n_games, key, names=names)   # PayoffMatrix

`game` is any game of `algorithms.evaluation.game` (`MatrixGame`, `BattleGame`): it plays all pairs of the
population in one compiled call (`play_matrix`, or `play_pairs` for `only_earlier`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import jax
import numpy as np

from algorithms import validate
from algorithms.evaluation.game import MatrixGame, population_size
from algorithms.evaluation.intervals import wilson_interval


@dataclasses.dataclass(frozen=True, eq=False)  # arrays: compare fields with numpy
class PayoffMatrix:
    """Measured outcomes between P policies; cell (i, j) holds the games of row i against column j.

    win_rate: float64[P, P]  mean outcome of i against j (draws count ½); NaN where nothing was played
    wins:     float64[P, P]  i's wins in those games, draws counted as ½
    n_games:  int64[P, P]    games played in the cell (0: filled by symmetry or not played)
    lo, hi:   float64[P, P]  95 % Wilson interval of win_rate (NaN where win_rate is NaN)
    names:    tuple[str, ...] of length P, in checkpoint / population order
    """

    win_rate: np.ndarray
    wins: np.ndarray
    n_games: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    names: tuple[str, ...]

    def __post_init__(self):
        p = len(self.names)
        for field in ("win_rate", "wins", "n_games", "lo", "hi"):
            shape = np.shape(getattr(self, field))
            if shape != (p, p):
                raise ValueError(f"PayoffMatrix.{field} must have shape ({p}, {p}) for {p} names, got {shape}")

    @property
    def size(self) -> int:
        return len(self.names)

    def pooled(self) -> tuple[np.ndarray, np.ndarray]:
        """(wins float64[P, P], games float64[P, P]) over all games between i and j, both orders:
        wins[i, j] = i's wins in cell (i, j) + i's wins in cell (j, i); games symmetric, and
        wins + wins.T = games. Cells filled by symmetry are not counted twice."""
        n = self.n_games.astype(np.float64)
        w = np.nan_to_num(self.wins)
        wins = w + (n - w).T
        games = n + n.T
        return wins, games

    def pooled_win_rate(self) -> np.ndarray:
        """float64[P, P]: i's win rate against j over the games of both orders; exactly constant-sum
        (P + P.T = 1) and ½ on the diagonal. NaN where i and j never met."""
        wins, games = self.pooled()
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(games > 0, wins / np.maximum(games, 1), np.nan)
        np.fill_diagonal(rate, np.where(np.isnan(np.diag(rate)), 0.5, np.diag(rate)))
        return rate

    def vs_earlier(self, pooled: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(wins, games) float64[P - 1]: policy i = 1 .. P-1 against all earlier policies j < i
        together, over the games of both orders (`pooled`) or i's own row only. The learning curve
        of a run's checkpoints: above ½ while each checkpoint beats its past."""
        wins, games = self.pooled() if pooled else (np.nan_to_num(self.wins), self.n_games.astype(np.float64))
        rows = range(1, self.size)
        return np.array([wins[i, :i].sum() for i in rows]), np.array([games[i, :i].sum() for i in rows])

    def to_dict(self) -> dict[str, Any]:
        return dict(names=list(self.names), win_rate=jsonable(self.win_rate), wins=jsonable(self.wins),
                    n_games=self.n_games.tolist(), lo=jsonable(self.lo), hi=jsonable(self.hi))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PayoffMatrix":
        arr = lambda key: np.asarray([[np.nan if v is None else v for v in row] for row in d[key]], np.float64)  # noqa: E731
        return cls(win_rate=arr("win_rate"), wins=arr("wins"), n_games=np.asarray(d["n_games"], np.int64),
                   lo=arr("lo"), hi=arr("hi"), names=tuple(d["names"]))


def jsonable(a) -> Any:
    """Nested lists with NaN and infinities as None (JSON has neither)."""
    a = np.asarray(a, np.float64)
    return [jsonable(x) for x in a] if a.ndim else (float(a) if math.isfinite(float(a)) else None)


def _wilson(wins: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """95 % Wilson interval per cell; NaN where nothing was played."""
    lo, hi = wilson_interval(wins, n)
    return np.where(n > 0, lo, np.nan), np.where(n > 0, hi, np.nan)


def payoff_matrix(game, population, n_games: int, key: jax.Array, *, only_earlier: bool = False,
                  names: Sequence[str] | None = None) -> PayoffMatrix:
    """Play every pair of `population` n_games times and tabulate the outcomes.

    population: a stacked pytree (leaves [P, ...]); for a `MatrixGame`, int[P] strategy indices or
    None for all of them. The diagonal (a policy against itself) is played too, not assumed.
    only_earlier: play each policy only against the earlier ones (cells j < i, e.g. checkpoints
    against their predecessors) and fill cell (j, i) by symmetry, win_rate[j, i] = 1 - win_rate[i, j],
    with n_games 0 there; the diagonal is then ½ by symmetry (P[i, i] = 1 - P[i, i]), n_games 0.
    """
    n_games = validate.integer("n_games", n_games, 1)
    if population is None:
        if not isinstance(game, MatrixGame):
            raise ValueError("population=None means every strategy, which only a MatrixGame has; pass a stacked population")
        population = game.population()
    size = population_size(population)  # empty or mismatched populations raise here
    if names is None:
        if isinstance(game, MatrixGame):
            names = [game.names[int(i)] for i in np.asarray(population)]
        else:
            names = [str(i) for i in range(size)]
    names = tuple(str(n) for n in names)
    if len(names) != size:
        raise ValueError(f"names: expected {size} names (one per policy), got {len(names)}")

    wins = np.zeros((size, size))
    count = np.zeros((size, size), np.int64)
    if not only_earlier:
        outcomes = np.asarray(game.play_matrix(key, population, population, n_games), np.float64)  # [P, P, n]
        wins[:] = outcomes.sum(-1)
        count[:] = n_games
    elif size > 1:
        rows, cols = np.tril_indices(size, -1)
        outcomes = np.asarray(game.play_pairs(key, population, rows, cols, n_games), np.float64)  # [K, n]
        wins[rows, cols] = outcomes.sum(-1)
        count[rows, cols] = n_games
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(count > 0, wins / np.maximum(count, 1), np.nan)
    lo, hi = _wilson(wins, count)
    if only_earlier:
        upper = np.triu_indices(size, 1)
        rate[upper] = 1.0 - rate.T[upper]
        lo[upper], hi[upper] = 1.0 - hi.T[upper], 1.0 - lo.T[upper]
        np.fill_diagonal(rate, 0.5)
        np.fill_diagonal(lo, 0.5)
        np.fill_diagonal(hi, 0.5)
    return PayoffMatrix(win_rate=rate, wins=wins, n_games=count, lo=lo, hi=hi, names=names)
