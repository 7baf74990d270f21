"""notebooks/02_selfplay_winrate.ipynb runs top to bottom with a tiny budget in a real kernel, and
what it draws is consistent: the run folder, the curves' numbers, the P x P cross-play matrix, the
ratings and the Nash mixture."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import numpy as np

from algorithms.marl.config import TrainConfig
from tests.algorithms.marl.conftest import CHUNKED
from tests.conftest import REPO
from tests.notebooks.conftest import execute, inject, stdout_of

NOTEBOOK = REPO / "notebooks" / "02_selfplay_winrate.ipynb"
PNG = b"\x89PNG\r\n\x1a\n"
# Compilation is most of the time. The run is the MARL tests' CHUNKED (2 vs 2, 16 envs x 8 steps, 4
# checkpoints of one update) with the games of their runs on disk (4 battles against each scripted policy,
# 4 per pair of checkpoints), so the kernel loads the learner, the evaluation and the cross-play those
# tests compiled from the suite's compilation cache instead of compiling them again (it compiles them if
# it runs first).
EXTRA = ("epochs", "minibatches", "opponent_groups", "pool_size", "snapshot_every", "self_play_fraction",
         "scripted_fraction", "scripted_opponents")
TINY = f"""
SCENARIO = {CHUNKED.scenario!r}
NUM_ENVS, ROLLOUT_STEPS, HIDDEN = {CHUNKED.num_envs}, {CHUNKED.rollout_steps}, {CHUNKED.hidden}
CHECKPOINTS, TOTAL_STEPS = {CHUNKED.checkpoints}, {CHUNKED.total_steps}
EVAL_GAMES, CROSSPLAY_GAMES = 4, 4
EXTRA = {dict((k, getattr(CHUNKED, k)) for k in EXTRA)!r}
"""


def test_selfplay_notebook_runs(tmp_path):
    out = tmp_path / "sp"
    nb = execute(inject(nbformat.read(NOTEBOOK, as_version=4), TINY + f"OUT = {str(out)!r}\n"), tmp_path)
    for i, cell in enumerate(nb.cells):
        errors = [o for o in cell.get("outputs", []) if o["output_type"] == "error"]
        assert not errors, f"cell {i} raised {errors[0]['ename']}: {errors[0]['evalue']}"
    s = json.loads(stdout_of(nb.cells[-1]))

    # the run folder the runner wrote
    run = out / "run"
    assert Path(s["run_dir"]) == run and s["scenario"] == "identical_2_vs_2_fobs_vec_void_disc"
    assert TrainConfig.from_dict(json.loads((run / "config.json").read_text())) == CHUNKED
    assert sorted(int(p.name) for p in (run / "checkpoints").iterdir() if p.name.isdigit()) == [1, 2, 3, 4]
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["chunk"] for r in rows] == [1, 2, 3, 4]
    assert [r["env_steps"] for r in rows] == [128, 256, 384, 512] == s["env_steps"]
    for name in ("config.json", "summary.json", "final_eval.json", "crossplay/matrix.json", "crossplay/report.json"):
        assert (run / name).is_file(), name

    # curves: rates and Wilson intervals in [0, 1], the interval around the rate, wall-clock rising
    p = len(s["names"])
    assert s["names"] == ["ckpt1", "ckpt2", "ckpt3", "ckpt4"] and p == 4
    assert s["vs_first"][0] == 0.5  # the first checkpoint against itself, pooled
    for r, (lo, hi) in zip(s["vs_first"], s["vs_first_interval"]):
        assert 0.0 <= lo <= r <= hi <= 1.0
    assert all(0.0 <= v <= 1.0 for v in s["eval_vs_random"] + s["eval_vs_chaser"])
    assert s["wall_s"] == sorted(s["wall_s"]) and s["wall_s"][0] > 0
    assert set(s["final_eval"]) == {"random", "chaser", "circler"}
    assert all(0.0 <= v <= 1.0 for v in s["final_eval"].values())

    # the pooled cross-play matrix: P x P, diagonal 1/2, constant-sum; the same as the run's file
    rate = np.asarray(s["pooled_win_rate"])
    assert rate.shape == (p, p)
    np.testing.assert_allclose(np.diag(rate), 0.5)
    np.testing.assert_allclose(rate + rate.T, 1.0, atol=1e-12)
    assert ((rate >= 0) & (rate <= 1)).all()
    saved = json.loads((run / "crossplay" / "matrix.json").read_text())
    assert saved["names"] == s["names"] and np.asarray(saved["n_games"]).tolist() == [[4] * p] * p
    np.testing.assert_allclose(rate[1:, 0], s["vs_first"][1:])

    # ratings and the Nash mixture
    bt, bt_iv = np.asarray(s["bradley_terry"]), np.asarray(s["bradley_terry_interval"])
    elo, elo_iv = np.asarray(s["elo"]), np.asarray(s["elo_interval"])
    assert bt.shape == elo.shape == (p,) and bt_iv.shape == elo_iv.shape == (p, 2)
    assert bt[0] == elo[0] == 1000.0 and bt_iv[0].tolist() == elo_iv[0].tolist() == [1000.0, 1000.0]  # anchors
    assert np.isfinite(bt_iv).all() and (bt_iv[:, 0] <= bt_iv[:, 1]).all()
    assert np.isfinite(elo_iv).all() and (elo_iv[:, 0] <= elo_iv[:, 1]).all()
    nash = np.asarray(s["nash_strategy"])
    assert nash.shape == (p,) and (nash >= -1e-9).all() and abs(nash.sum() - 1.0) < 1e-6
    assert abs(s["nash_value"] - 0.5) < 1e-6 and 0.0 <= s["nash_exploitability"] < 1e-3
    # against the Nash mixture no checkpoint wins more than the game's value (1/2)
    assert (rate @ nash <= 0.5 + 1e-3).all()

    # figures: written as PNGs and shown in the notebook
    assert len(s["figures"]) == 6
    for figure in s["figures"]:
        path = Path(figure)
        assert path.parent == out / "figures" and path.read_bytes()[:8] == PNG, figure
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 6
