"""The rollout: its named transitions keep the agents' order and mark what the learner trains on."""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algorithms.marl.learner import CATEGORIES
from tests.algorithms.marl.conftest import TINY


def test_rollout_keeps_agent_order_and_trains_the_learners_side(tiny, tiny_rollout):
    state = tiny.init(jax.random.PRNGKey(0))
    state = state.replace(pool=state.pool)
    opponent = jnp.array([-1, 2], jnp.int32)  # group 0 plays itself, group 1 the first scripted opponent
    state2, traj, sums = tiny_rollout(state, opponent)
    t, b, n = TINY.rollout_steps, TINY.num_envs, tiny.env.n_agents
    assert traj.obs.shape == (t, b, n) + tuple(tiny.env.obs_shape)
    assert traj.mask.shape == traj.reward.shape == traj.value.shape == (t, b, n)
    # the first observation of the rollout is the state's, agent by agent
    np.testing.assert_array_equal(traj.obs[0], state.obs)
    # values were computed per agent in place: recomputing on one environment gives the same rows
    v = tiny.ac.values(state.params["critic"], state.obs[3])
    np.testing.assert_allclose(traj.value[0, 3], v, rtol=1e-5, atol=1e-6)
    teams = np.asarray(tiny.env.teams)
    side = np.arange(b) % 2
    mask = np.asarray(traj.mask[0])
    for env_i in range(b // 2, b):  # against a scripted opponent only the learner's side trains
        assert not mask[env_i][teams != side[env_i]].any()
        assert mask[env_i][teams == side[env_i]].all()
    assert mask[: b // 2].all()  # against itself every (alive) agent trains
    assert sums["games"].shape == (len(CATEGORIES),)


def test_tallies_keep_wins_draws_and_losses_apart(tiny, tiny_rollout):
    """Over enough steps for finished episodes: per category the score is wins + ½ draws, and the
    summary reports wins, draws and losses that add up to the games (losses are what remains)."""
    from algorithms.marl.learner import summarize

    state = tiny.init(jax.random.PRNGKey(3))
    total = None
    for _ in range(10):  # 80 steps of 16 environments: many episodes end
        state, _, sums = tiny_rollout(state, jnp.array([-1, 2], jnp.int32))
        total = sums if total is None else jax.tree_util.tree_map(jnp.add, total, sums)
    games, wins, draws, score = (np.asarray(total[k]) for k in ("games", "wins", "draws", "score"))
    assert games.sum() > 0 and (wins + draws <= games).all()
    np.testing.assert_allclose(score, wins + 0.5 * draws, atol=1e-4)
    zeros = {k: jnp.zeros(()) for k in ("loss",)}
    row = summarize(dict(sums=total, metrics=zeros), 1)
    played = [name for i, name in enumerate(CATEGORIES) if i > 0 and games[i] > 0]
    assert played
    for name in played:
        w, d, lost = row[f"wins_vs_{name}"], row[f"draws_vs_{name}"], row[f"losses_vs_{name}"]
        assert w + d + lost == row[f"games_vs_{name}"] and lost >= 0
        assert row[f"score_vs_{name}"] == pytest.approx((w + d / 2) / row[f"games_vs_{name}"], abs=1e-6)
