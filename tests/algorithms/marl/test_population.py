"""Trained policies as battle-game members: the game's fast path (one observation per step, each
side's network on its own team's rows) plays exactly the battles of the plain path, the policy
called on every agent and its actions selected by team, for greedy networks on fobs (where nothing
but the keys differs between the paths): a padded team (5 v 1) with recurrent policies."""

from __future__ import annotations

import jax
import numpy as np

from algorithms.evaluation.game import BattleGame
from algorithms.marl import population
from algorithms.marl.learner import make_learner
from tests.algorithms.marl.conftest import TINY


def plain(apply):
    """The same policy without `act_rows`: the game calls it on the whole environment."""
    if getattr(apply, "initial_memory", None) is None:
        return lambda params, key, env, state: apply(params, key, env, state)

    def with_memory(params, key, env, state, memory):
        return apply(params, key, env, state, memory)

    with_memory.initial_memory = apply.initial_memory
    return with_memory


def test_the_fast_path_plays_the_same_battles():
    """5 v 1 pads team B's rows; the GRU carries memory through the scatter back to all N rows."""
    learner = make_learner(TINY.replace(scenario="identical_5_vs_1_fobs_vec_void_disc", recurrent=True))
    actors = [learner.ac.init(jax.random.PRNGKey(s))["actor"] for s in (1, 2)]
    members = population.stack_members([population.network_member(a) for a in actors])
    apply = population.make_apply(learner.ac, greedy=True, scripted=False)
    assert hasattr(apply, "act_rows")
    fast, slow = (BattleGame(learner.env, f, max_steps=40) for f in (apply, plain(apply)))
    key = jax.random.PRNGKey(3)
    a = jax.tree_util.tree_map(lambda x: x[0], members)
    b = jax.tree_util.tree_map(lambda x: x[1], members)
    got, want = fast.rollout(key, a, b, 6), slow.rollout(key, a, b, 6)
    for k in ("outcome", "winner", "length"):
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)
