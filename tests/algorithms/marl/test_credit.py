"""Credit assignment: team or agent rewards, episode ends and the critic's mask."""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np

from algorithms.marl import credit
from tests.algorithms.marl.conftest import ON_A, TINY


def test_team_credit_by_hand(tiny):
    """Two environments of 2 vs 2 (agents 0, 1 team A; 2, 3 team B). In the first, agent 1 dies and
    the episode goes on; in the second the episode is truncated."""
    reward = jnp.array([[1.0, 3.0, -2.0, 0.0], [0.5, 0.5, 4.0, 2.0]])
    done = jnp.array([[False, True, False, False], [True, True, True, True]])
    info = dict(terminated=jnp.array([False, False]), truncated=jnp.array([False, True]))
    alive_pre = jnp.ones((2, 4), bool)
    alive_end = jnp.array([[True, False, True, True], [True, True, True, True]])
    r, d, trunc, value_mask = credit.assign(TINY.credit, reward, done, info, alive_pre, alive_end, ON_A)
    np.testing.assert_allclose(r, [[2.0, 2.0, -1.0, -1.0], [0.5, 0.5, 3.0, 3.0]])  # team means
    # agent 1's trajectory goes on after its death (its team's return); all end with the episode
    np.testing.assert_array_equal(d, [[False] * 4, [True] * 4])
    np.testing.assert_array_equal(trunc, [[False] * 4, [True] * 4])
    assert bool(value_mask.all())

    r, d, trunc, value_mask = credit.assign("agent", reward, done, info, alive_pre, alive_end, ON_A)
    np.testing.assert_array_equal(r, reward)
    np.testing.assert_array_equal(d, done)
    np.testing.assert_array_equal(trunc, [[False] * 4, [True] * 4])
    np.testing.assert_array_equal(value_mask, alive_pre)


def test_team_credit_in_a_rollout_trains_the_critic_on_dead_agents(tiny, tiny_rollout):
    """In a rollout with deaths: teammates share one reward and one episode end; the policy trains
    only where the agent was alive, the critic on every learner-side agent of a running episode."""
    state = tiny.init(jax.random.PRNGKey(3))
    roll = tiny_rollout
    trajs = []
    for _ in range(8):  # 64 steps: long enough for deaths in running episodes
        state, traj, _ = roll(state, jnp.array([-1, 2], jnp.int32))
        trajs.append(traj)
    traj = jax.tree_util.tree_map(lambda *x: np.concatenate(x), *trajs)
    teams = np.asarray(tiny.env.teams)
    reward, done = np.asarray(traj.reward), np.asarray(traj.done)
    for t in (0, 1):
        members = reward[..., teams == t]
        np.testing.assert_array_equal(members, np.broadcast_to(members[..., :1], members.shape))
    np.testing.assert_array_equal(done, np.broadcast_to(done[..., :1], done.shape))
    mask, value_mask = np.asarray(traj.mask), np.asarray(traj.value_mask)
    assert (mask <= value_mask).all()  # the policy's steps are a subset of the critic's
    assert (value_mask & ~mask).any()  # some agent died and its slot is still valued
    b = TINY.num_envs
    assert value_mask[:, : b // 2].all()  # against itself both sides train
