"""The scripted policies as parameterised game members (`algorithms.evaluation.scripted`)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gigastep_jax as gj
from algorithms.evaluation import scripted as S


def test_scripted_population_parses_specs():
    params, names = S.scripted_population(["random", "chaser:eps=0.3", "circler:gain=0.5:eps=1", " chaser "])
    assert names == ["random", "chaser:eps=0.3", "circler:gain=0.5:eps=1", "chaser"]
    np.testing.assert_array_equal(params["kind"], [0, 1, 2, 1])
    np.testing.assert_allclose(params["epsilon"], [0, 0.3, 1, 0])
    np.testing.assert_allclose(params["turn_gain"], [1, 1, 0.5, 1])
    assert params["kind"].dtype == jnp.int32 and params["epsilon"].dtype == jnp.float32


@pytest.mark.parametrize(
    "spec, match",
    [
        ("sniper", r"unknown scripted policy 'sniper'.*allowed kinds: random, chaser, circler"),
        ("chaser:speed=2", r"unknown option 'speed=2'.*allowed options: eps=VALUE, gain=VALUE"),
        ("chaser:eps", r"unknown option 'eps'"),
        ("chaser:eps=x", "needs a number"),
        ("chaser:eps=1.5", r"epsilon \(eps\) must be in \[0, 1\]"),
        ("", "empty policy spec"),
    ],
)
def test_scripted_spec_errors(spec, match):
    with pytest.raises(ValueError, match=match):
        S.scripted_population([spec])


def test_scripted_apply_matches_the_yardsticks(env):
    _, state = jax.jit(env.reset)(jax.random.PRNGKey(5))
    params, _ = S.scripted_population(["random", "chaser", "circler", "chaser:eps=1", "circler:gain=0"])
    key = jax.random.PRNGKey(6)
    acts = np.asarray(jax.jit(jax.vmap(lambda p: S.scripted_apply(p, key, env, state)))(params))
    assert acts.shape == (5, env.n_agents) and acts.dtype == np.int32
    k_rand = jax.random.split(key, 3)[0]
    np.testing.assert_array_equal(acts[0], gj.policies.random(k_rand, env, state))
    np.testing.assert_array_equal(acts[1], gj.policies.chaser(key, env, state))
    np.testing.assert_array_equal(acts[2], gj.policies.circler(key, env, state))
    np.testing.assert_array_equal(acts[3], gj.policies.random(k_rand, env, state))  # eps=1: all random
    # gain 0: circler no longer turns; heading control is (a // 3) % 3 - 1.
    np.testing.assert_array_equal((acts[4] // 3) % 3 - 1, 0)


def test_scripted_gain_and_epsilon_rates(env):
    """gain 0.5 on the circler turns in half of the steps (dithered); eps 0.5 on the circler acts
    randomly for half of the agents."""
    _, state = jax.jit(env.reset)(jax.random.PRNGKey(5))
    params, _ = S.scripted_population(["circler:gain=0.5", "circler:eps=0.5"])
    keys = jax.random.split(jax.random.PRNGKey(7), 400)
    acts = np.asarray(jax.jit(jax.vmap(jax.vmap(lambda p, k: S.scripted_apply(p, k, env, state),
                                                 in_axes=(None, 0)), in_axes=(0, None)))(params, keys))
    turning = ((acts[0] // 3) % 3 - 1) == 1
    assert set(np.unique((acts[0] // 3) % 3 - 1)) == {0, 1}
    assert abs(turning.mean() - 0.5) < 0.03
    circler = int(gj.policies.circler(keys[0], env, state)[0])
    deviating = acts[1] != circler  # a random action equals the circler's 1/27 of the time
    assert abs(deviating.mean() - 0.5 * 26 / 27) < 0.03
