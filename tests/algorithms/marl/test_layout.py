"""`AgentLayout` (agents to padded team slots and back) and `TrainedTeams` (the rows an update trains
on)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from algorithms.marl import networks
from tests.algorithms.marl.conftest import TINY


def test_layout_gathers_and_scatters_agents_in_order():
    import gigastep_jax as gj

    env = gj.make("identical_5_vs_1_fobs_vec_void_disc")  # teams of different sizes
    layout = networks.AgentLayout.of(env)
    x = jnp.arange(env.n_agents, dtype=jnp.float32)[None, :, None] + jnp.zeros((3, 1, 1))
    teams = layout.gather_teams(x)  # [3, 2, 5, 1]
    assert teams.shape == (3, 2, layout.max_team, 1)
    np.testing.assert_array_equal(layout.scatter_agents(teams[..., 0]), x[..., 0])
    assert float(teams[0, 1, 1:, 0].sum()) == 0.0  # padding slots of the one-agent team are zero


def test_trained_teams_keep_agent_order_and_leave_out_the_opponents(tiny):
    """`to_teams` rows [T, H, S]: both teams of each self-play environment, then the learner's team
    of each environment against a drawn opponent, slot by slot in the layout's agent order."""
    t, b, n = 3, TINY.num_envs, tiny.env.n_agents
    x = jnp.arange(t * b * n, dtype=jnp.float32).reshape(t, b, n)  # entry = its own (t, env, agent)
    rows = np.asarray(tiny.teams.gather(x))
    index = np.asarray(tiny.ac.layout.index)
    b_self = b // 2
    assert rows.shape == (t, 2 * b_self + (b - b_self), tiny.ac.layout.max_team)
    expected = []
    for e in range(b):
        for team in ((0, 1) if e < b_self else (e % 2,)):  # the learner's side alternates by environment
            expected.append(np.asarray(x)[:, e, index[team]])
    np.testing.assert_array_equal(rows, np.stack(expected, axis=1))
