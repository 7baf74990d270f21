"""`benchmarks/selfplay_curves.py`'s summary of a run folder, on a folder written by hand: a
transitive 4-checkpoint cross-play whose curves are known."""

from __future__ import annotations

import importlib.util
import json

import jax
import numpy as np
import pytest

from algorithms import evaluation as E
from algorithms.evaluation.game import MatrixGame
from tests.conftest import REPO


@pytest.fixture(scope="module")
def curves():
    spec = importlib.util.spec_from_file_location("selfplay_curves", REPO / "benchmarks" / "selfplay_curves.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_run(out, payoff):
    """A run folder with the files a finished `gigastep-jax train` leaves: 4 checkpoints' metrics,
    their cross-play sampled from `payoff`, and the final evaluation."""
    names = [f"ckpt{i}" for i in range(1, 5)]
    matrix = E.payoff_matrix(MatrixGame(payoff, names=names), None, 400, jax.random.PRNGKey(0))
    E.save_report(matrix, E.evaluation_report(matrix), out / "crossplay")
    rows = [dict(chunk=c, env_steps=1000 * c, wall_s=10.0 * c, entropy=3.0 - c / 2, eval_vs_random=0.5 + c / 10,
                 eval_vs_chaser=0.1 * c, eval_vs_circler=0.2 * c, eval_wins_vs_random=10, eval_draws_vs_random=2,
                 eval_losses_vs_random=4) for c in range(1, 5)]
    (out / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (out / "config.json").write_text(json.dumps(dict(scenario="x", num_envs=8, scripted_opponents=[],
                                                     scripted_fraction=0.0)))
    final = {y: dict(wins=6, draws=2, losses=2, games=10, win_rate=0.7) for y in ("random", "chaser", "circler")}
    (out / "final_eval.json").write_text(json.dumps(final))
    return matrix


def test_summary_of_a_run_that_keeps_improving(curves, tmp_path):
    chain = np.array([[0.5, 0.3, 0.2, 0.1], [0.7, 0.5, 0.3, 0.2], [0.8, 0.7, 0.5, 0.3], [0.9, 0.8, 0.7, 0.5]])
    matrix = write_run(tmp_path, chain)
    s = curves.summarise(tmp_path, None)
    won, played = matrix.pooled()
    expected = [won[i, :i].sum() / played[i, :i].sum() for i in (1, 2, 3)]
    np.testing.assert_allclose(s["curves"]["vs_earlier"][1:], expected, atol=1e-3)
    assert abs(s["curves"]["vs_earlier"][3] - (0.9 + 0.8 + 0.7) / 3) < 0.05  # sampled from the chain
    assert s["min_vs_earlier"] == min(s["curves"]["vs_earlier"][1:])
    assert s["last_rating_is_best_or_within_interval"] and s["best_rated"] == "ckpt4"
    assert s["final"]["chaser"] == dict(wins=6, draws=2, losses=2, games=10, score=0.7)
    assert s["eval_games_per_checkpoint"] == 16 and s["crossplay_games_per_pair"] == 400
    assert s["scripted_in_training"] == [] and s["total_env_steps"] == 4000
    assert s["curves"]["eval_vs_chaser"] == [0.1, 0.2, 0.30000000000000004, 0.4]
    assert curves.plot(s, tmp_path / "c.png") and (tmp_path / "c.png").stat().st_size > 0


def test_summary_flags_a_last_checkpoint_that_fell_back(curves, tmp_path):
    # the last checkpoint loses to the third clearly: its rating is below the best's interval
    chain = np.array([[0.5, 0.3, 0.2, 0.3], [0.7, 0.5, 0.3, 0.4], [0.8, 0.7, 0.5, 0.9], [0.7, 0.6, 0.1, 0.5]])
    write_run(tmp_path, chain)
    s = curves.summarise(tmp_path, None)
    assert s["best_rated"] == "ckpt3" and not s["last_rating_is_best_or_within_interval"]
