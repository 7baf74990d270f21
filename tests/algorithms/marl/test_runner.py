"""The runner's evaluator: battles of the learner's policies against the scripted ones."""

from __future__ import annotations

import jax
import numpy as np

from algorithms.marl import runner
from algorithms.marl.learner import make_learner
from tests.algorithms.marl.conftest import TINY


def test_recurrent_policies_play_battles_with_their_memory():
    cfg = TINY.replace(scenario="identical_2_vs_2_pobs_vec_void_disc", recurrent=True)
    learner = make_learner(cfg)
    ev = runner.Evaluator(learner, games=6, max_steps=40)
    assert ev.game.initial_memory is not None
    params = learner.ac.init(jax.random.PRNGKey(0))["actor"]
    result = ev.vs_scripted(params, jax.random.PRNGKey(1))
    for r in result.values():
        assert r["games"] == 6 and r["wins"] + r["draws"] + r["losses"] == 6


def test_tally_counts_outcomes_and_scores_each_side():
    """Even games put the policy on team A, odd ones on team B (BattleGame's order)."""
    t = runner.tally(np.array([1.0, 0.0, 0.5, 0.0, 1.0, 0.0]))
    assert (t["wins"], t["draws"], t["losses"], t["games"]) == (2, 1, 3, 6)
    assert t["win_rate"] == 2.5 / 6 and t["score_as_a"] == 2.5 / 3 and t["score_as_b"] == 0.0
    assert runner.tally(np.array([0.5]))["score_as_b"] is None
