"""gymnax-style spaces: per agent and over the agent axis, matching what reset and step use."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gigastep_jax as gj
from gigastep_jax.spaces import Box, Discrete

KEY = jax.random.PRNGKey(0)


@pytest.mark.parametrize("name", ["identical_5_vs_5_fobs_vec_void_disc", "identical_2_vs_2_fobs_vec_void_cont",
                                  "identical_2_vs_2_fobs_rgb_void_disc"])
def test_spaces_describe_what_reset_and_step_use(name):
    env = gj.make(name)
    assert env.default_params is env.params
    obs, state = env.reset(KEY)
    team_obs, one_obs = env.observation_space(env.default_params, team=True), env.observation_space()
    assert team_obs.contains(obs) and one_obs.contains(obs[0]) and not one_obs.contains(obs)
    team_action, one_action = env.action_space(team=True), env.action_space(env.default_params)
    action = jax.jit(team_action.sample)(KEY)
    assert team_action.contains(action) and one_action.contains(action[0])
    _, _, reward, _, info = env.step(KEY, state, action)  # a sampled action is a valid action
    assert reward.shape == (env.n_agents,) and not bool(info["invalid_action"].any())


def test_the_action_spaces_by_hand():
    disc, cont = gj.make("identical_5_vs_5_fobs_vec_void_disc"), gj.make("identical_5_vs_5_fobs_vec_void_cont")
    assert disc.action_space() == Discrete(27)
    assert disc.action_space(team=True) == Box(0, 26, (10,), jnp.int32)
    assert cont.action_space() == Box(-1.0, 1.0, (3,), jnp.float32)
    assert cont.action_space(team=True) == Box(-1.0, 1.0, (10, 3), jnp.float32)
    assert disc.observation_space() == Box(-np.inf, np.inf, (90,), jnp.float32)
    assert not Discrete(27).contains(27) and not Discrete(27).contains(np.int32(-1)) and Discrete(27).contains(26)
    samples = np.asarray(jax.vmap(Discrete(27).sample)(jax.random.split(KEY, 2000)))
    assert samples.min() == 0 and samples.max() == 26
    assert not Box(-1.0, 1.0, (3,)).contains(np.array([0.0, 2.0, 0.0], np.float32))
