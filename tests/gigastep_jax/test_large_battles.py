"""The large bases past Gigastep's 20 v 20: a 1000 v 1000 battle steps under jit and vmap within this
machine's memory, with vector and with RGB (shared-view) observations.

Large battles take the local (cell-list) path, O(N k) per step (`gigastep_jax.neighbours`; its
equality with the all-pairs path is tested in test_local_pairs.py); what a step costs from 5 v 5 to
1000 v 1000 is in benchmarks/RESULTS.md (team-size sweep).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gigastep_jax as gj

B, STEPS = 2, 3


@pytest.mark.parametrize("name", ["identical_1000_vs_1000_fobs_vec_void_disc",
                                  "identical_1000_vs_1000_fobs_rgb_void_disc"])
def test_a_thousand_a_side_steps_under_jit_and_vmap(name):
    env = gj.make(name)
    assert env.n_agents == 2000 and env.scenario.arena == (141.4, 141.4) and env.scenario.local_pairs

    @jax.jit
    def run(key):
        keys = jax.random.split(key, B)
        obs, state = jax.vmap(env.reset)(keys)

        def body(state, k):
            k_act, k_step = jax.random.split(k)
            action = jax.vmap(gj.policies.chaser, in_axes=(0, None, 0))(jax.random.split(k_act, B), env, state)
            obs, state, reward, done, info = jax.vmap(env.step)(jax.random.split(k_step, B), state, action)
            return state, (obs.sum(dtype=jnp.float32), reward, state.alive.sum(-1))

        return jax.lax.scan(body, state, jax.random.split(key, STEPS))

    state, (obs_sum, reward, alive) = run(jax.random.PRNGKey(0))
    assert np.isfinite(np.asarray(reward)).all() and np.asarray(obs_sum).min() > 0
    alive = np.asarray(alive)
    assert alive.shape == (STEPS, B) and (np.diff(alive, axis=0) <= 0).all() and alive[0].min() > 1900
    assert np.asarray(state.t).tolist() == [STEPS] * B
