"""Payoff matrices with intervals, the evaluation report and its files, and the figures.

Matrix games here (sampling is cheap and the true matrix is known); battles are in test_game.py and
test_eval_cli.py.
"""

from __future__ import annotations

import csv
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algorithms import evaluation as E
from algorithms.evaluation import payoff as payoff_module
from algorithms.evaluation import plots
from algorithms.evaluation.game import MatrixGame

RPS = np.array([[0.5, 0.0, 1.0], [1.0, 0.5, 0.0], [0.0, 1.0, 0.5]])
NAMES = ["rock", "paper", "scissors"]
# A noisy, transitive-ish 4-policy game (row beats column), constant-sum.
UPPER = {(0, 1): 0.3, (0, 2): 0.2, (0, 3): 0.1, (1, 2): 0.4, (1, 3): 0.25, (2, 3): 0.35}
CHAIN = np.full((4, 4), 0.5)
for (i, j), v in UPPER.items():
    CHAIN[i, j], CHAIN[j, i] = v, 1 - v


def exact_matrix(payoff, n: int, names) -> E.PayoffMatrix:
    """A PayoffMatrix whose counts are exactly n * payoff (what infinitely lucky sampling gives)."""
    payoff = np.asarray(payoff, np.float64)
    wins = payoff * n
    count = np.full(payoff.shape, n)
    lo, hi = payoff_module._wilson(wins, count)
    return E.PayoffMatrix(win_rate=payoff, wins=wins, n_games=count, lo=lo, hi=hi, names=tuple(names))


def test_rps_matrix_recovered_within_intervals():
    game = MatrixGame(RPS, names=NAMES)
    m = E.payoff_matrix(game, None, 400, jax.random.PRNGKey(0))
    assert m.names == tuple(NAMES)
    assert m.win_rate.dtype == np.float64 and m.win_rate.shape == (3, 3)
    np.testing.assert_array_equal(m.n_games, 400)  # the diagonal is played too
    assert (m.lo <= RPS).all() and (RPS <= m.hi).all()
    np.testing.assert_allclose(m.win_rate, m.wins / 400)
    # Certain outcomes are measured exactly; the diagonal is a fair coin, measured, not set to ½.
    off = ~np.eye(3, dtype=bool)
    np.testing.assert_array_equal(m.win_rate[off], RPS[off])
    assert np.all(np.abs(np.diag(m.win_rate) - 0.5) < 0.08) and np.any(np.diag(m.win_rate) != 0.5)
    assert np.all(np.diag(m.hi) - np.diag(m.lo) < 0.11)  # Wilson half-width ~0.049 at n = 400


def test_chain_matrix_recovered_within_intervals():
    game = MatrixGame(CHAIN)
    m = E.payoff_matrix(game, None, 300, jax.random.PRNGKey(1))
    inside = (m.lo <= CHAIN) & (CHAIN <= m.hi)
    assert inside.sum() >= 15  # 16 cells at 95 % each; this key gives all 16
    assert np.abs(m.win_rate - CHAIN).max() < 0.1


def test_only_earlier_fills_by_symmetry():
    game = MatrixGame(CHAIN)
    m = E.payoff_matrix(game, None, 200, jax.random.PRNGKey(2), only_earlier=True)
    lower, upper = np.tril_indices(4, -1), np.triu_indices(4, 1)
    np.testing.assert_array_equal(m.n_games[lower], 200)
    np.testing.assert_array_equal(m.n_games[upper], 0)
    np.testing.assert_array_equal(np.diag(m.n_games), 0)
    np.testing.assert_allclose(m.win_rate + m.win_rate.T, 1.0)
    np.testing.assert_array_equal(np.diag(m.win_rate), 0.5)
    np.testing.assert_allclose(m.lo[upper], 1 - m.hi.T[upper])
    np.testing.assert_allclose(m.hi[upper], 1 - m.lo.T[upper])
    assert np.abs(m.win_rate - CHAIN).max() < 0.12
    # Same pairs, same keys as the full matrix: the played cells agree with it exactly.
    full = E.payoff_matrix(game, None, 200, jax.random.PRNGKey(2))
    np.testing.assert_array_equal(m.wins[lower], full.wins[lower])
    # Pooling does not double-count the mirrored cells: each pair met 200 times.
    _, games = m.pooled()
    np.testing.assert_array_equal(games[lower], 200)


def test_payoff_matrix_subset_population_and_names():
    game = MatrixGame(CHAIN, names=list("abcd"))
    m = E.payoff_matrix(game, jnp.array([3, 0]), 50, jax.random.PRNGKey(3))
    assert m.names == ("d", "a")
    assert m.win_rate[0, 1] > 0.75  # d beats a with probability 0.9


def test_payoff_matrix_errors():
    game = MatrixGame(RPS)
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="n_games must be an int >= 1"):
        E.payoff_matrix(game, None, 0, key)
    with pytest.raises(ValueError, match="empty population"):
        E.payoff_matrix(game, jnp.zeros(0, jnp.int32), 4, key)
    with pytest.raises(ValueError, match="names: expected 3 names"):
        E.payoff_matrix(game, None, 4, key, names=["a", "b"])
    with pytest.raises(ValueError, match="mismatched population"):
        E.payoff_matrix(object(), {"w": jnp.zeros((3, 2)), "b": jnp.zeros(2)}, 4, key)
    with pytest.raises(ValueError, match="only a MatrixGame"):
        E.payoff_matrix(object(), None, 4, key)
    with pytest.raises(ValueError, match=r"wins must have shape \(3, 3\).*got \(2, 2\)"):
        E.PayoffMatrix(win_rate=np.zeros((3, 3)), wins=np.zeros((2, 2)), n_games=np.zeros((3, 3)),
                       lo=np.zeros((3, 3)), hi=np.zeros((3, 3)), names=("a", "b", "c"))


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


def _is_png(path, min_bytes=5000) -> bool:
    data = open(path, "rb").read()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= min_bytes


def test_plots_write_pngs(tmp_path):
    import matplotlib.image

    m = exact_matrix(CHAIN, 50, ["ckpt_0", "ckpt_1", "ckpt_2", "ckpt_3"])
    report = E.evaluation_report(m)
    paths = [
        plots.plot_payoff_heatmap(m, tmp_path / "heatmap.png"),
        plots.plot_winrate_vs_earlier(m, tmp_path / "earlier.png"),
        plots.plot_ratings(m.names, report["bradley_terry"], report["bradley_terry_interval"], tmp_path / "bt.png"),
        plots.plot_nash_mixture(m.names, report["nash_strategy"], tmp_path / "sub" / "nash.png"),
    ]
    for path in paths:
        assert _is_png(path), path
        image = matplotlib.image.imread(path)
        assert image.shape[0] > 200 and image.shape[1] > 200
        assert image[..., :3].std() > 0.05  # not a blank canvas
    # One policy: nothing earlier, still a figure.
    single = exact_matrix([[0.5]], 10, ["only"])
    assert _is_png(plots.plot_winrate_vs_earlier(single, tmp_path / "single.png"), 2000)
