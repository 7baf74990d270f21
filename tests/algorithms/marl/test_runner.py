"""The runner's evaluator: battles of the learner's policies against the scripted ones."""

from __future__ import annotations

import jax

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
