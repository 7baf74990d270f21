"""The evaluation report of a payoff matrix and its files (`algorithms.evaluation.report`)."""

from __future__ import annotations

import csv
import json

import jax
import numpy as np
import pytest

from algorithms import evaluation as E
from algorithms.evaluation.game import MatrixGame
from tests.algorithms.evaluation.conftest import CHAIN, RPS, exact_matrix

NAMES = ["rock", "paper", "scissors"]


def test_report_on_rps():
    report = E.evaluation_report(exact_matrix(RPS, 100, NAMES))
    np.testing.assert_allclose(report["nash_strategy"], [1 / 3] * 3, atol=1e-9)
    assert report["nash_value"] == pytest.approx(0.5)
    assert report["nash_exploitability"] == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(report["exploitability"], 0.5)  # each pure strategy is beaten surely
    np.testing.assert_allclose(report["nash_average"], 0.5)
    np.testing.assert_allclose(report["bradley_terry"], 1000.0, atol=1e-6)  # a cycle: all equal
    assert report["names"] == NAMES and report["n_games"] == 900


def test_report_on_a_chain_ranks_the_policies():
    report = E.evaluation_report(exact_matrix(CHAIN, 200, "abcd"))
    # Policy 3 beats everyone: the Nash equilibrium is pure on it and nobody exploits it.
    np.testing.assert_allclose(report["nash_strategy"], [0, 0, 0, 1], atol=1e-9)
    assert report["exploitability"][3] == pytest.approx(0.0, abs=1e-9)
    assert report["exploitability"][0] == pytest.approx(0.9 - 0.5)  # 3 beats 0 with probability 0.9
    assert np.all(np.diff(report["bradley_terry"]) > 0) and np.all(np.diff(report["elo"]) > 0)
    lo, hi = np.asarray(report["bradley_terry_interval"]).T
    assert np.all(lo <= np.asarray(report["bradley_terry"]) + 1e-9)
    assert np.all(np.asarray(report["bradley_terry"]) <= hi + 1e-9)
    np.testing.assert_allclose(report["mean_win_rate"][3], (0.9 + 0.75 + 0.65) / 3)


def test_report_rejects_unplayed_cells():
    m = exact_matrix(RPS, 10, NAMES)
    n = m.n_games.copy()
    n[0, 1] = n[1, 0] = 0
    holed = E.PayoffMatrix(win_rate=m.win_rate, wins=m.wins * (n > 0), n_games=n, lo=m.lo, hi=m.hi, names=m.names)
    with pytest.raises(ValueError, match=r"never played.*'rock', 'paper'"):
        E.evaluation_report(holed)


def test_save_report_files_parse(tmp_path):
    game = MatrixGame(RPS, names=NAMES)
    m = E.payoff_matrix(game, None, 40, jax.random.PRNGKey(4), only_earlier=True)
    report = E.evaluation_report(m)
    paths = E.save_report(m, report, tmp_path / "out")
    assert set(paths) == {"matrix_json", "matrix_csv", "report_json"}
    loaded = E.PayoffMatrix.from_dict(json.loads(paths["matrix_json"].read_text()))
    np.testing.assert_array_equal(loaded.win_rate, m.win_rate)
    np.testing.assert_array_equal(loaded.n_games, m.n_games)
    assert loaded.names == tuple(NAMES)
    with open(paths["matrix_csv"]) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["policy", *NAMES]
    assert [r[0] for r in rows[1:]] == NAMES
    np.testing.assert_allclose(np.array([[float(v) for v in r[1:]] for r in rows[1:]]), m.win_rate)
    saved = json.loads(paths["report_json"].read_text())
    np.testing.assert_allclose(saved["nash_strategy"], [1 / 3] * 3, atol=1e-9)
    np.testing.assert_allclose(saved["exploitability"], 0.5)


def test_nan_cells_are_saved_as_null(tmp_path):
    m = exact_matrix(RPS, 10, NAMES)
    rate = m.win_rate.copy()
    rate[0, 1] = np.nan
    holed = E.PayoffMatrix(win_rate=rate, wins=m.wins, n_games=m.n_games, lo=m.lo, hi=m.hi, names=m.names)
    paths = E.save_report(holed, None, tmp_path)
    saved = json.loads(paths["matrix_json"].read_text())  # strict JSON: no NaN tokens
    assert saved["win_rate"][0][1] is None and "report_json" not in paths
    assert np.isnan(E.PayoffMatrix.from_dict(saved).win_rate[0, 1])
