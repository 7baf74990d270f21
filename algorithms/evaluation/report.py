"""The report of a payoff matrix: Nash, exploitability, Nash average, Bradley-Terry and Elo, written
to disk with its figures.

    report = evaluation_report(matrix)          # plain JSON-able values per policy
    save_report(matrix, report, out_dir)        # matrix.json, matrix.csv, report.json
    write_figures(matrix, report, out_dir)      # heatmap, win rate vs earlier, ratings, Nash mixture
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from algorithms.evaluation import plots
from algorithms.evaluation.bradley_terry import bradley_terry
from algorithms.evaluation.elo import elo, games_from_wins
from algorithms.evaluation.nash import exploitability, nash, nash_average
from algorithms.evaluation.payoff import PayoffMatrix, jsonable


def evaluation_report(matrix: PayoffMatrix) -> dict[str, Any]:
    """Nash equilibrium, exploitability, Nash average, Bradley-Terry and Elo of a payoff matrix.

    Everything is computed from the pooled matrix (`PayoffMatrix.pooled_win_rate`: all games between
    i and j, both orders), which is constant-sum, so the symmetric game's value is ½.
    Returns plain JSON-able values, per policy in `names` order.
    """
    rate = matrix.pooled_win_rate()
    if np.isnan(rate).any():
        missing = [(matrix.names[i], matrix.names[j]) for i, j in zip(*np.nonzero(np.isnan(rate)))]
        raise ValueError(f"the payoff matrix has cells never played, e.g. {missing[:3]}; a report needs every pair")
    strategy, value = nash(rate, symmetric=True)
    strategy = np.asarray(strategy, np.float64)
    exploit = [float(exploitability(rate, np.eye(matrix.size)[i])) for i in range(matrix.size)]
    wins, games = matrix.pooled()
    np.fill_diagonal(wins, 0.0)
    bt_scores, bt_intervals = bradley_terry(wins)
    elo_scores, elo_intervals = elo(games_from_wins(wins), matrix.size)
    won, played = matrix.vs_earlier()
    return dict(
        names=list(matrix.names),
        n_games=int(matrix.n_games.sum()),
        nash_strategy=jsonable(strategy),
        nash_value=float(value),
        nash_exploitability=float(exploitability(rate, strategy)),
        exploitability=exploit,
        nash_average=jsonable(nash_average(rate, strategy)),
        bradley_terry=jsonable(bt_scores),
        bradley_terry_interval=jsonable(bt_intervals),
        elo=jsonable(elo_scores),
        elo_interval=jsonable(elo_intervals),
        mean_win_rate=jsonable(_mean_offdiag(rate)),
        win_rate_vs_earlier=jsonable(won / np.maximum(played, 1)),  # policy i >= 1 against all j < i, pooled
    )


def _mean_offdiag(rate: np.ndarray) -> np.ndarray:
    p = rate.shape[0]
    if p == 1:
        return np.full(1, 0.5)
    return (rate.sum(1) - np.diag(rate)) / (p - 1)


def save_report(matrix: PayoffMatrix, report: dict[str, Any] | None, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write matrix.json, matrix.csv (win rates, names as header and first column) and report.json
    (when given) into out_dir; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = dict(matrix_json=out / "matrix.json", matrix_csv=out / "matrix.csv")
    paths["matrix_json"].write_text(json.dumps(matrix.to_dict(), indent=1))
    with open(paths["matrix_csv"], "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["policy", *matrix.names])
        for name, row in zip(matrix.names, matrix.win_rate):
            writer.writerow([name, *("" if math.isnan(v) else f"{v:.6g}" for v in row)])
    if report is not None:
        paths["report_json"] = out / "report.json"
        paths["report_json"].write_text(json.dumps(report, indent=1))
    return paths


def write_figures(matrix: PayoffMatrix, report: dict[str, Any], out_dir: str | os.PathLike) -> dict[str, str]:
    """The four figures of a report in out_dir: payoff heatmap, win rate against earlier policies,
    Bradley-Terry ratings with their intervals (anchored at the first policy) and the Nash mixture;
    returns {figure: path}."""
    out, names = Path(out_dir), list(matrix.names)
    return dict(
        heatmap=plots.plot_payoff_heatmap(matrix, out / "payoff_heatmap.png"),
        winrate_vs_earlier=plots.plot_winrate_vs_earlier(matrix, out / "winrate_vs_earlier.png"),
        ratings=plots.plot_ratings(names, report["bradley_terry"], report["bradley_terry_interval"],
                                   out / "ratings.png", label=f"Bradley-Terry score (anchor {names[0]})"),
        nash=plots.plot_nash_mixture(names, report["nash_strategy"], out / "nash_mixture.png"),
    )
