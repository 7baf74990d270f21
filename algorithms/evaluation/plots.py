"""Figures of an evaluation: payoff heatmap, win rate against earlier policies, ratings, Nash mixture.

Each function writes one PNG (matplotlib's Agg backend, no display needed) and returns its path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig, path) -> str:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return os.fspath(path)


def _fit(n: int, base: float = 4.0, per: float = 0.45, cap: float = 24.0) -> float:
    return min(cap, max(base, per * n + 2.0))


def plot_payoff_heatmap(matrix, path) -> str:
    """Heatmap of win_rate (row beats column) in population order, the value in each cell when the
    matrix is small enough to read (<= 24 policies)."""
    rate = np.asarray(matrix.win_rate, np.float64)
    names = list(matrix.names)
    p = len(names)
    size = _fit(p)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(np.ma.masked_invalid(rate), cmap="RdBu", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="P(row beats column)")
    ticks = np.arange(p)
    ax.set_xticks(ticks, names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(ticks, names, fontsize=8)
    ax.set_xlabel("column policy (opponent)")
    ax.set_ylabel("row policy")
    if p <= 24:
        for i in range(p):
            for j in range(p):
                v = rate[i, j]
                text = "–" if np.isnan(v) else f"{v:.2f}"
                ax.text(j, i, text, ha="center", va="center", fontsize=7,
                        color="white" if not np.isnan(v) and abs(v - 0.5) > 0.3 else "black")
    n = np.asarray(matrix.n_games)
    played = n[n > 0]
    if not played.size:
        games = ""
    elif played.min() == played.max():
        games = f", {int(played.min())} games per cell"
    else:
        games = f", {int(played.min())}–{int(played.max())} games per cell"
    ax.set_title(f"Cross-play win rate{games}")
    return _save(fig, path)


def plot_winrate_vs_earlier(matrix, path) -> str:
    """For each policy i > 0 (x, in population / checkpoint order): its win rate over all its games
    against the earlier policies j < i with that rate's 95 % Wilson interval (shaded), and its win
    rate against each single earlier policy as a dot; ½ marked."""
    from algorithms.evaluation.intervals import wilson_interval

    rate = np.asarray(matrix.win_rate, np.float64)
    names = list(matrix.names)
    p = len(names)
    fig, ax = plt.subplots(figsize=(_fit(p, base=5.0, per=0.35), 4.0))
    xs = np.arange(1, p)
    if p > 1:
        won, played = matrix.vs_earlier(pooled=False)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(played > 0, won / np.maximum(played, 1), np.nan)
        band_lo, band_hi = wilson_interval(won, played)
        ax.fill_between(xs, band_lo, band_hi, color="tab:blue", alpha=0.2, label="95 % Wilson interval")
        ax.plot(xs, mean, "o-", color="tab:blue", label="win rate vs all earlier")
        for i in xs:
            ax.scatter(np.full(i, i), rate[i, :i], s=10, color="tab:gray", alpha=0.6, zorder=3,
                       label="vs one earlier policy" if i == 1 else None)
        ax.set_xticks(xs, names[1:], rotation=60, ha="right", fontsize=8)
    else:
        ax.text(0.5, 0.5, "one policy: nothing earlier to play", ha="center", va="center", transform=ax.transAxes)
    ax.axhline(0.5, color="black", lw=0.8, ls="--")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("policy (checkpoint order)")
    ax.set_ylabel("win rate against earlier policies")
    ax.set_title("Win rate against all earlier policies")
    if p > 1:
        ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def plot_ratings(names: Sequence[str], scores, intervals, path, *, label: str = "rating") -> str:
    """Horizontal bars of scores float[P] with intervals float[P, 2] as error bars (none drawn where
    the interval is unbounded or unknown: a policy with no games linking it to the anchor)."""
    scores = np.asarray(scores, np.float64)
    intervals = np.asarray(intervals, np.float64).reshape(-1, 2)
    names = list(names)
    p = len(names)
    fig, ax = plt.subplots(figsize=(6.0, _fit(p, base=2.5, per=0.3)))
    ys = np.arange(p)
    err = np.abs(np.stack([scores - intervals[:, 0], intervals[:, 1] - scores]))
    err = np.where(np.isfinite(err), err, np.nan)
    ax.errorbar(scores, ys, xerr=err, fmt="o", color="tab:blue", ecolor="tab:gray", capsize=3)
    ax.set_yticks(ys, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(label)
    ax.set_title(f"{label} (95 % interval)")
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def plot_nash_mixture(names: Sequence[str], strategy, path) -> str:
    """Bar chart of the Nash mixture's weight per policy."""
    strategy = np.asarray(strategy, np.float64)
    names = list(names)
    fig, ax = plt.subplots(figsize=(_fit(len(names), base=4.0, per=0.35), 3.5))
    xs = np.arange(len(names))
    ax.bar(xs, strategy, color="tab:green")
    for x, w in zip(xs, strategy):
        if w > 1e-3:
            ax.text(x, w, f"{w:.2f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(xs, names, rotation=60, ha="right", fontsize=8)
    ax.set_ylim(0.0, max(1.0, float(strategy.max()) * 1.1) if strategy.size else 1.0)
    ax.set_ylabel("Nash weight")
    ax.set_title("Nash equilibrium mixture")
    return _save(fig, path)
