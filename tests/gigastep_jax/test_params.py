"""`EnvParams` defaults: Gigastep's constants, on the fields, float32 and never weakly typed."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gigastep_jax as gj
from gigastep_jax.state import EnvParams, per_agent

# Gigastep's constants, written out here rather than read from the package.
GIGASTEP = dict(
    damage_per_second=1.0,
    healing_per_second=0.1,
    damage_cone_depth=2.05,
    damage_cone_angle=np.pi / 4,
    cone_depth=3.0,
    cone_angle=0.75 * np.pi,
    very_close=1.0,
    communication_range=8.0,
    collision_range=0.4,
    collision_altitude=0.5,
    min_tracking_steps=3.0,
    max_tracking_steps=10.0,
    reward_game_won=10.0,
    reward_defeat_one_opponent=100.0,
    reward_detection=0.0,
    reward_damage=0.0,
    reward_idle=0.0,
    reward_agent_disabled=0.0,
    reward_collision_agent=0.0,
    reward_collision_obstacle=0.0,
    reward_hit_waypoint=0.0,
    aux_rewards_factor=1.0,
)
PER_AGENT = ("max_health", "detection_range", "damage_range", "thrust", "idle_reward")


def test_field_defaults_are_gigastep_constants_in_float32():
    defaults = EnvParams.constant_defaults()
    assert list(defaults) == list(GIGASTEP)  # every scalar constant, in field order
    for name, want in GIGASTEP.items():
        value = defaults[name]
        assert isinstance(value, np.float32), (name, type(value))
        assert value == np.float32(want), (name, value, want)


def test_per_agent_fields_come_first_without_defaults():
    fields = dataclasses.fields(EnvParams)
    assert tuple(f.name for f in fields[: len(PER_AGENT)]) == PER_AGENT
    assert all(f.default is dataclasses.MISSING for f in fields[: len(PER_AGENT)])
    assert set(EnvParams.constant_defaults()).isdisjoint(PER_AGENT)


def test_env_params_are_float32_device_arrays_with_the_defaults():
    params = gj.make("identical_5_vs_5_fobs_vec_void_disc").params
    for name, want in GIGASTEP.items():
        leaf = getattr(params, name)
        assert isinstance(leaf, jax.Array) and leaf.shape == () and leaf.dtype == jnp.float32, name
        assert not leaf.weak_type, name
        assert float(leaf) == float(np.float32(want)), name


def test_params_built_from_field_defaults_trace_like_default_params():
    """Leaving the constants to the field defaults (numpy scalars) hits the same compiled function."""
    env = gj.make("identical_5_vs_5_pobs_vec_void_disc")
    s = env.scenario
    by_hand = EnvParams(
        max_health=per_agent(s.max_health),
        detection_range=per_agent(s.detection_range),
        damage_range=per_agent(s.damage_range),
        thrust=per_agent(s.thrust),
        idle_reward=per_agent(s.idle_reward),
    )
    traces = []

    @jax.jit
    def reset(key, params):
        traces.append(1)
        return env.reset(key, params)

    key = jax.random.PRNGKey(0)
    obs_default, _ = reset(key, env.params)
    obs_by_hand, _ = reset(key, by_hand)
    assert len(traces) == 1
    np.testing.assert_array_equal(np.asarray(obs_default), np.asarray(obs_by_hand))


def test_overridden_constant_keeps_the_others_and_float32():
    params = gj.make("identical_2_vs_2_fobs_vec_void_disc", damage_per_second=2.5).params
    assert float(params.damage_per_second) == 2.5 and params.damage_per_second.dtype == jnp.float32
    assert float(params.cone_depth) == 3.0


def test_unknown_constant_suggests_the_field():
    with pytest.raises(ValueError, match=r"unknown option 'damage_per_secnd'.*Did you mean: damage_per_second"):
        gj.make("identical_2_vs_2_fobs_vec_void_disc", damage_per_secnd=2.0)
