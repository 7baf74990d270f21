"""Damage, tracking and healing.

Rule (Gigastep): a detected enemy inside the shooter's +-45 deg cone and within 2.05 * sqrt(damage_range)
is tracked; a target tracked for k steps loses 0.1 * (min(k, 10) - 3) health per step when k > 3,
per shooter; every agent heals 0.01 per step, up to its max health. `dynamics.damage` returns the
counters and strength = min(k, 10) - 3 (0 below); `Env.transition` applies dt * strength.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gigastep_jax as gj
from gigastep_jax import dynamics
from tests.conftest import builder_env, f32, place, with_transition

KEY = jax.random.PRNGKey(0)
DEATH_DAMAGE = 4


# ------------------------------------------------------------------ the pure function
@pytest.fixture(scope="module")
def damage_fn():
    """Jitted `dynamics.damage` and the default params of a 1v1 (agent 0 team A, agent 1 team B)."""
    env = builder_env(1, 1)
    return jax.jit(dynamics.damage), env.params


def facing(d: float, bearing_deg: float = 0.0, detected: bool = True):
    """Pair matrices of two agents d apart, each seeing the other at `bearing_deg` off its heading."""
    d2 = f32(0.0, d * d, d * d, 0.0).reshape(2, 2)
    c = math.cos(math.radians(bearing_deg))
    cos_b = f32(0.0, c, c, 0.0).reshape(2, 2)
    det = jnp.asarray([[False, detected], [detected, False]])
    return det, d2, cos_b


def test_tracking_counts_and_strength(damage_fn):
    damage, params = damage_fn
    det, d2, cos_b = facing(1.5)
    tracked = jnp.zeros((2, 2), jnp.int32)
    strengths = []
    for k in range(1, 13):
        tracked, strength = damage(det, tracked, d2, cos_b, params)
        np.testing.assert_array_equal(np.asarray(tracked), [[0, k], [k, 0]])
        np.testing.assert_array_equal(np.asarray(strength)[[0, 1], [0, 1]], [0.0, 0.0])  # nobody shoots itself
        strengths.append(float(strength[0, 1]))
    # min(k, 10) - 3 for k > 3: nothing for the first 3 steps, then 1..7, capped at 7
    assert strengths == [0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 7, 7]


@pytest.mark.parametrize(
    "d, bearing, damage_range, shoots",
    [
        (2.04, 0.0, 1.0, True),  # inside 2.05
        (2.06, 0.0, 1.0, False),  # just beyond 2.05
        (2.5, 0.0, 2.0, True),  # 2.05 * sqrt(2) = 2.899
        (2.95, 0.0, 2.0, False),
        (1.0, 44.0, 1.0, True),  # inside the +-45 deg cone
        (1.0, 46.0, 1.0, False),
        (1.0, 180.0, 1.0, False),
        (1.0, 0.0, 0.0, False),  # damage_range 0 (a hider) never shoots
    ],
)
def test_damage_cone(damage_fn, d, bearing, damage_range, shoots):
    damage, params = damage_fn
    params = params.replace(damage_range=f32(damage_range, damage_range))
    det, d2, cos_b = facing(d, bearing)
    tracked = jnp.full((2, 2), 7, jnp.int32) * (1 - jnp.eye(2, dtype=jnp.int32))
    tracked, strength = damage(det, tracked, d2, cos_b, params)
    # a shooter keeps counting (7 -> 8, strength 5); anything else resets to 0
    assert int(tracked[0, 1]) == (8 if shoots else 0)
    assert float(strength[0, 1]) == (5.0 if shoots else 0.0)


def test_undetected_target_resets_counter(damage_fn):
    damage, params = damage_fn
    det, d2, cos_b = facing(1.5, detected=False)
    tracked = jnp.asarray([[0, 6], [6, 0]], jnp.int32)
    tracked, strength = damage(det, tracked, d2, cos_b, params)
    np.testing.assert_array_equal(np.asarray(tracked), 0)
    np.testing.assert_array_equal(np.asarray(strength), 0.0)


# ------------------------------------------------------------------ end to end through the env
@pytest.fixture(scope="module")
def tough():
    """1v1 of custom units with 10 health (they survive long enough to see the damage cap)."""
    env = (
        gj.ScenarioBuilder("tough").add_custom(0, max_health=10.0).add_custom(1, max_health=10.0)
        .make(arena=(100.0, 100.0), discrete=False)
    )
    return with_transition(env)


@pytest.fixture(scope="module")
def duel():
    env = builder_env(1, 1, discrete=False)
    return with_transition(env)


@pytest.fixture(scope="module")
def hider_duel():
    """Agent 0 a hider (team A), agent 1 a default unit (team B)."""
    env = builder_env(1, 1, unit_a="hider", discrete=False)
    return with_transition(env)


NO_CONTROL = jnp.zeros((2, 3), jnp.float32)


def hold(step, state, steps: int, heading_a: float = 0.0):
    """Re-place A at (50, 50) and B at (51.5, 50) facing A, before each of `steps` transitions
    (after the move they are 1.5 - 2 * 0.12324 = 1.2535 apart, so they never collide).
    Returns the last (state, info) and per step: health [2], damage_taken [2], tracked [2, 2]."""
    health, taken, tracked = [], [], []
    info = None
    for i in range(steps):
        state = place(state, x=[50.0, 51.5], y=[50.0, 50.0], z=[5.0, 5.0], v=[1.3, 1.3], heading=[heading_a, math.pi - 1e-6])
        state, _, _, info = step(jax.random.PRNGKey(i), state, NO_CONTROL)
        health.append(np.asarray(state.health))
        taken.append(np.asarray(state.damage_taken))
        tracked.append(np.asarray(state.tracked))
    return state, info, np.stack(health), np.stack(taken), np.stack(tracked)


def test_damage_schedule_and_cap(tough):
    env, step = tough
    _, _, health, taken, tracked = hold(step, env.reset_state(KEY), 13)
    np.testing.assert_array_equal(tracked[:, 0, 1], np.arange(1, 14))
    np.testing.assert_array_equal(tracked[:, 1, 0], np.arange(1, 14))
    # damage per step 0.1 * (min(k, 10) - 3) for k > 3:
    expected_taken = [0, 0, 0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.7, 0.7, 0.7]
    np.testing.assert_allclose(taken[:, 0], expected_taken, atol=1e-6)
    np.testing.assert_allclose(taken[:, 1], expected_taken, atol=1e-6)
    # health: 10 (heals into the cap) for 3 steps, then -damage + 0.01 each step:
    # 10 - 0.1 + 0.01 = 9.91; 9.91 - 0.2 + 0.01 = 9.72; 9.43; 9.04; 8.55; 7.96; 7.27; 6.58; 5.89; 5.20
    expected_health = [10, 10, 10, 9.91, 9.72, 9.43, 9.04, 8.55, 7.96, 7.27, 6.58, 5.89, 5.20]
    np.testing.assert_allclose(health[:, 0], expected_health, atol=1e-4)
    np.testing.assert_allclose(health[:, 1], expected_health, atol=1e-4)


def test_default_units_shoot_each_other_down(duel):
    """Health 1: 1, 1, 1, 0.91, 0.72, 0.43, 0.04, then 0.04 - 0.5 < 0: both die at step 8 (a draw)."""
    env, step = duel
    state, info, health, _, _ = hold(step, env.reset_state(KEY), 8)
    np.testing.assert_allclose(health[:7, 0], [1, 1, 1, 0.91, 0.72, 0.43, 0.04], atol=1e-5)
    np.testing.assert_array_equal(health[7], [0.0, 0.0])
    assert not bool(state.alive.any())
    np.testing.assert_array_equal(np.asarray(info["death_cause"]), [DEATH_DAMAGE, DEATH_DAMAGE])
    assert bool(info["terminated"]) and int(info["winner"]) == -1


def test_hider_deals_no_damage(hider_duel):
    env, step = hider_duel
    _, _, health, taken, tracked = hold(step, env.reset_state(KEY), 6)
    np.testing.assert_array_equal(tracked[:, 0, 1], 0)  # the hider never tracks
    np.testing.assert_array_equal(taken[:, 1], 0.0)
    np.testing.assert_array_equal(health[:, 1], 1.0)  # the default unit stays whole
    np.testing.assert_allclose(health[:, 0], [1, 1, 1, 0.91, 0.72, 0.43], atol=1e-5)  # the hider does not


def test_tracking_resets_when_target_leaves_cone(tough):
    env, step = tough
    state, _, health, _, tracked = hold(step, env.reset_state(KEY), 5)
    assert tracked[-1, 0, 1] == 5 and tracked[-1, 1, 0] == 5
    # A turns 90 deg away for one step: B is out of A's cone, A still in B's
    state, _, _, _, tracked = hold(step, state, 1, heading_a=math.pi / 2)
    assert tracked[-1, 0, 1] == 0 and tracked[-1, 1, 0] == 6
    # facing again, A starts over: B takes no damage for 3 steps, then 0.1
    health_b_before = float(state.health[1])
    _, _, health, taken, tracked = hold(step, state, 4)
    np.testing.assert_array_equal(tracked[:, 0, 1], [1, 2, 3, 4])
    np.testing.assert_allclose(taken[:, 1], [0, 0, 0, 0.1], atol=1e-6)
    # B kept tracking A: k = 7..10, 0.1 * (k - 3)
    np.testing.assert_allclose(taken[:, 0], [0.4, 0.5, 0.6, 0.7], atol=1e-6)
    np.testing.assert_array_equal(tracked[:, 1, 0], [7, 8, 9, 10])
    np.testing.assert_allclose(health[2, 1], min(health_b_before + 0.03, 10.0), atol=1e-4)


def test_healing_up_to_max(tough):
    """Far apart, 0.01 per step: 5 -> 5.01 -> ... ; and 9.95 reaches the cap 10 after 5 steps."""
    env, step = tough
    state = place(env.reset_state(KEY), x=[30.0, 70.0], y=[50.0, 50.0], heading=[0.0, math.pi - 1e-6], health=[5.0, 9.95])
    healths = []
    for i in range(10):
        state, *_ = step(jax.random.PRNGKey(i), state, NO_CONTROL)
        healths.append(np.asarray(state.health))
    healths = np.stack(healths)
    np.testing.assert_allclose(healths[:, 0], 5.0 + 0.01 * np.arange(1, 11), atol=1e-5)
    np.testing.assert_allclose(healths[:, 1], np.minimum(9.95 + 0.01 * np.arange(1, 11), 10.0), atol=1e-5)
    assert healths[:, 1].max() == 10.0  # clipped exactly at max health
    np.testing.assert_array_equal(np.asarray(state.tracked), 0)
