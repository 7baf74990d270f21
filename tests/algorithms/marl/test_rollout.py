"""The rollout: its named transitions keep the agents' order and mark what the learner trains on."""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np

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
