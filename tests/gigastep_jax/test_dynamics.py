"""Flight, boundaries, collisions and obstacles, checked against steps computed by hand.

Gigastep's rules per step (dt = 0.1): heading += 0.4 u_h (wrapped to [-pi, pi));
v1 = v + 0.15 u_t thrust; v1 -= 0.04 v1^2; x += 0.1 v1 cos(heading'), y += 0.1 v1 sin(heading');
z' = clip(z + 0.5 u_dive, 0, 10); v' = sqrt(max(v1^2 + 0.5 * 9.81 (z - z'), 1.3^2)).

The 2-vs-2 battles here are in a 100 x 100 arena with the agents far apart, so nothing but the
case under test happens (no damage: that needs an enemy within 2.05 for more than 3 steps).
Agents 0, 1 are team A, agents 2, 3 team B.
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
DEATH_ARENA, DEATH_COLLISION, DEATH_OBSTACLE = 1, 2, 3
STILL = 13  # discrete index of (0, 0, 0)


@pytest.fixture(scope="module")
def cont():
    """(env, jitted transition) of a continuous 2-vs-2 in a 100 x 100 arena."""
    env = builder_env(2, 2, discrete=False)
    return with_transition(env)


@pytest.fixture(scope="module")
def disc():
    env = builder_env(2, 2, discrete=True)
    return with_transition(env)


def far_apart(env) -> gj.EnvState:
    """Agent 0 at (50, 50), the others 40+ away; all at z = 5, v = 1.3, heading 0."""
    state = env.reset_state(KEY)
    return place(state, x=[50, 20, 80, 20], y=[50, 20, 80, 80], z=[5, 5, 5, 5], v=[1.3] * 4, heading=[0] * 4)


def controls(first, rest=(0.0, 0.0, 0.0)) -> jax.Array:
    """float32[4, 3]: `first` for agent 0, `rest` for agents 1..3."""
    return jnp.asarray(np.asarray([first, rest, rest, rest], np.float32))


def test_one_step_by_hand(cont):
    env, step = cont
    state = place(far_apart(env), z=[5, 5, 5, 5], v=[2.0, 1.3, 1.3, 1.3], heading=[0.3, 0, 0, 0])
    new, reward, done, info = step(KEY, state, controls((0.5, -0.4, 1.0)))
    # heading: 0.3 + 0.4 * 0.5 = 0.5
    # v1 = 2 + 0.15 * 1 * 1 = 2.15;  v1 = 2.15 - 0.04 * 2.15^2 = 2.15 - 0.1849 = 1.9651
    # x = 50 + 0.1 * 1.9651 * cos(0.5) = 50 + 0.17245375;  y = 50 + 0.1 * 1.9651 * sin(0.5) = 50 + 0.09421191
    # z = 5 + 0.5 * -0.4 = 4.8
    # v = sqrt(1.9651^2 + 0.5 * 9.81 * (5 - 4.8)) = sqrt(3.86161801 + 0.981) = 2.20059492
    np.testing.assert_allclose(float(new.heading[0]), 0.5, atol=1e-6)
    np.testing.assert_allclose(float(new.x[0]), 50.17245375, atol=2e-5)
    np.testing.assert_allclose(float(new.y[0]), 50.09421191, atol=2e-5)
    np.testing.assert_allclose(float(new.z[0]), 4.8, atol=1e-6)
    np.testing.assert_allclose(float(new.v[0]), 2.20059492, atol=1e-5)
    # Agent 1, no controls at v = 1.3: v1 = 1.3 - 0.04 * 1.69 = 1.2324, x = 20 + 0.12324; the speed
    # floor lifts v back to 1.3 (x moves with v1, before the floor).
    np.testing.assert_allclose(float(new.x[1]), 20.12324, atol=2e-5)
    np.testing.assert_allclose(float(new.y[1]), 20.0, atol=1e-6)
    np.testing.assert_allclose(float(new.v[1]), 1.3, atol=1e-6)
    assert bool(new.alive.all()) and int(new.t) == 1
    np.testing.assert_array_equal(np.asarray(info["death_cause"]), 0)
    assert not bool(done.any())
    np.testing.assert_allclose(np.asarray(reward), 0.0)


def test_thrust_scales_throttle(cont):
    """A unit with thrust 2 (`faster`): v1 = 2 + 0.15 * 1 * 2 = 2.3; 2.3 - 0.04 * 2.3^2 = 2.0884."""
    env, step = cont
    params = env.params.replace(thrust=f32(2, 1, 1, 1))
    state = place(far_apart(env), v=[2.0, 1.3, 1.3, 1.3])
    new, *_ = step(KEY, state, controls((0.0, 0.0, 1.0)), params)
    np.testing.assert_allclose(float(new.v[0]), 2.0884, atol=1e-5)
    np.testing.assert_allclose(float(new.x[0]), 50 + 0.20884, atol=2e-5)


@pytest.mark.parametrize(
    "heading, turn, expected",
    [
        (3.0, 1.0, 3.4 - 2 * math.pi),  # 3.0 + 0.4 = 3.4 > pi: wraps to -2.88318531
        (-3.0, -1.0, -3.4 + 2 * math.pi),  # -3.4 < -pi: wraps to 2.88318531
        (1.0, -1.0, 0.6),
        (0.0, 0.25, 0.1),
    ],
)
def test_heading_turns_and_wraps(cont, heading, turn, expected):
    env, step = cont
    state = place(far_apart(env), heading=[heading, 0, 0, 0])
    new, *_ = step(KEY, state, controls((turn, 0.0, 0.0)))
    h = float(new.heading[0])
    assert -math.pi <= h < math.pi
    np.testing.assert_allclose(h, expected, atol=1e-5)
    # The position moves along the new heading: v1 = 1.2324 (see test_one_step_by_hand)
    np.testing.assert_allclose(float(new.x[0]), 50 + 0.12324 * math.cos(expected), atol=2e-5)
    np.testing.assert_allclose(float(new.y[0]), 50 + 0.12324 * math.sin(expected), atol=2e-5)


@pytest.mark.parametrize("throttle", [-1.0, 0.0])
def test_speed_floor(cont, throttle):
    """At v = 1.3, braking gives v1 = 1.3 - 0.15 - 0.04 * 1.15^2 = 1.0971 (or 1.2324 without), both
    below the floor: the speed comes back to exactly 1.3."""
    env, step = cont
    new, *_ = step(KEY, far_apart(env), controls((0.0, 0.0, throttle)))
    np.testing.assert_allclose(float(new.v[0]), 1.3, atol=1e-6)
    v1 = 1.3 + 0.15 * throttle
    v1 -= 0.04 * v1 * v1
    np.testing.assert_allclose(float(new.x[0]), 50 + 0.1 * v1, atol=2e-5)


def test_altitude_clipped_at_top(cont):
    env, step = cont
    state = place(far_apart(env), z=[9.8, 5, 5, 5], v=[3.0, 1.3, 1.3, 1.3])
    new, *_ = step(KEY, state, controls((0.0, 1.0, 0.0)))
    # z = clip(9.8 + 0.5, 0, 10) = 10; v1 = 3 - 0.04 * 9 = 2.64;
    # v = sqrt(2.64^2 + 0.5 * 9.81 * (9.8 - 10)) = sqrt(6.9696 - 0.981) = 2.44716162 (climbing costs speed)
    np.testing.assert_allclose(float(new.z[0]), 10.0, atol=1e-6)
    np.testing.assert_allclose(float(new.v[0]), 2.44716162, atol=1e-5)
    # Climbing again at the ceiling changes nothing but drag
    again, *_ = step(KEY, new, controls((0.0, 1.0, 0.0)))
    assert float(again.z[0]) == 10.0


def test_altitude_clipped_at_ground(cont):
    env, step = cont
    state = place(far_apart(env), z=[0.2, 5, 5, 5], v=[3.0, 1.3, 1.3, 1.3])
    new, *_ = step(KEY, state, controls((0.0, -1.0, 0.0)))
    # z = clip(0.2 - 0.5, 0, 10) = 0; v = sqrt(2.64^2 + 0.5 * 9.81 * 0.2) = sqrt(7.9506) = 2.81968083
    np.testing.assert_allclose(float(new.z[0]), 0.0, atol=1e-6)
    np.testing.assert_allclose(float(new.v[0]), 2.81968083, atol=1e-5)


def test_action_table_layout():
    """index = 9 (t + 1) + 3 (h + 1) + (d + 1), columns (heading, dive, throttle); 13 is (0, 0, 0)."""
    table = np.asarray(dynamics.ACTION_TABLE)
    assert table.shape == (27, 3)
    np.testing.assert_array_equal(table[13], [0, 0, 0])
    for t in (-1, 0, 1):
        for h in (-1, 0, 1):
            for d in (-1, 0, 1):
                np.testing.assert_array_equal(table[9 * (t + 1) + 3 * (h + 1) + (d + 1)], [h, d, t])
    assert len({tuple(row) for row in table}) == 27


def test_discrete_actions_move_like_their_controls(cont, disc):
    """Every discrete index steps exactly like the continuous action it stands for."""
    env_c, step_c = cont
    env_d, step_d = disc
    state = place(far_apart(env_c), z=[5, 5, 5, 5], v=[2.0, 1.3, 1.3, 1.3], heading=[0.3, 0, 0, 0])
    finals = []
    for index in range(27):
        t, rem = divmod(index, 9)
        h, d = divmod(rem, 3)
        action_d = jnp.asarray([index, STILL, STILL, STILL], jnp.int32)
        new_d, *_ = step_d(KEY, state, action_d)
        new_c, *_ = step_c(KEY, state, controls((h - 1.0, d - 1.0, t - 1.0)))
        for field in ("x", "y", "z", "v", "heading"):
            np.testing.assert_allclose(
                np.asarray(getattr(new_d, field)), np.asarray(getattr(new_c, field)), atol=1e-6, err_msg=f"{index} {field}"
            )
        finals.append((float(new_d.x[0]), float(new_d.y[0]), float(new_d.z[0]), float(new_d.v[0])))
    assert len(set(finals)) == 27  # all 27 actions differ
    # 13 is (0, 0, 0): heading and altitude kept, speed only drags: 2 - 0.04 * 4 = 1.84
    new, *_ = step_d(KEY, state, jnp.full(4, STILL, jnp.int32))
    np.testing.assert_allclose(float(new.heading[0]), 0.3, atol=1e-6)
    np.testing.assert_allclose(float(new.z[0]), 5.0, atol=1e-6)
    np.testing.assert_allclose(float(new.v[0]), 1.84, atol=1e-5)


def test_continuous_actions_are_clipped(cont):
    env, step = cont
    state = place(far_apart(env), v=[2.0, 1.3, 1.3, 1.3])
    wild = jnp.asarray([[3.0, -7.0, 2.5], [-2.0, 5.0, -9.0], [0.5, 1e6, -1e6], [-1.5, 0.2, 1.2]], jnp.float32)
    clipped = jnp.clip(wild, -1.0, 1.0)
    out_wild, r_wild, *_ = step(KEY, state, wild)
    out_clip, r_clip, *_ = step(KEY, state, clipped)
    for a, b in zip(jax.tree_util.tree_leaves(out_wild), jax.tree_util.tree_leaves(out_clip)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(np.asarray(r_wild), np.asarray(r_clip))
    # and the clipped action is a full turn: heading 0 + 0.4
    np.testing.assert_allclose(float(out_wild.heading[0]), 0.4, atol=1e-6)


def test_out_of_range_discrete_actions_are_no_control_and_flagged(disc):
    """Inside jit an index outside 0..26 has defined behaviour: it acts as 13, (0, 0, 0), and
    info["invalid_action"] flags the agent; eagerly it is an error naming the agent."""
    env, step = disc
    state = place(far_apart(env), v=[2.0, 2.0, 2.0, 2.0])
    wild, _, _, info = step(KEY, state, jnp.asarray([30, -5, 26, 13], jnp.int32))
    tame, _, _, tame_info = step(KEY, state, jnp.asarray([13, 13, 26, 13], jnp.int32))
    for field in ("x", "y", "z", "v", "heading"):
        np.testing.assert_array_equal(np.asarray(getattr(wild, field)), np.asarray(getattr(tame, field)))
    np.testing.assert_array_equal(info["invalid_action"], [True, True, False, False])
    assert not bool(tame_info["invalid_action"].any())
    np.testing.assert_allclose(float(wild.heading[0]), float(state.heading[0]), atol=1e-6)  # no turn
    np.testing.assert_allclose(float(wild.heading[2]), float(state.heading[2]) + 0.4, atol=1e-6)  # 26: full turn
    with pytest.raises(ValueError, match=r"agent 0's action 30 is invalid \(2 agents in all\); allowed: an index in 0..26"):
        env.transition(KEY, state, jnp.asarray([30, -5, 26, 13], jnp.int32))


def test_non_finite_controls_are_zero_and_flagged(cont):
    """A NaN or infinite control acts as 0 under jit (the state stays finite) and is flagged; eagerly
    it is an error naming the agent."""
    env, step = cont
    state = place(far_apart(env), v=[2.0, 2.0, 2.0, 2.0])
    bad = jnp.asarray([[np.nan, 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, np.inf, 0.0], [1.0, 0.0, 0.0]], jnp.float32)
    zeroed = jnp.asarray([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]], jnp.float32)
    new, reward, _, info = step(KEY, state, bad)
    same, _, _, _ = step(KEY, state, zeroed)
    np.testing.assert_array_equal(info["invalid_action"], [True, False, True, False])
    for leaf_new, leaf_same in zip(jax.tree_util.tree_leaves(new), jax.tree_util.tree_leaves(same)):
        np.testing.assert_array_equal(np.asarray(leaf_new), np.asarray(leaf_same))
    assert all(bool(jnp.isfinite(getattr(new, f)).all()) for f in ("x", "y", "z", "v", "heading"))
    assert bool(jnp.isfinite(reward).all())
    with pytest.raises(ValueError, match="agent 0's action .* is invalid .*allowed: finite controls"):
        env.transition(KEY, state, bad)


@pytest.mark.parametrize(
    "x, y, heading",
    [(99.95, 50.0, 0.0), (0.05, 50.0, math.pi - 1e-6), (50.0, 99.95, math.pi / 2), (50.0, 0.05, -math.pi / 2)],
)
def test_leaving_the_arena_kills(cont, x, y, heading):
    """v = 2, no controls: the agent moves 0.1 * 1.84 = 0.184 and crosses the border."""
    env, step = cont
    state = place(far_apart(env), x=[x, 20, 80, 20], y=[y, 20, 80, 80], v=[2.0, 1.3, 1.3, 1.3], heading=[heading, 0, 0, 0])
    new, reward, done, info = step(KEY, state, controls((0.0, 0.0, 0.0)))
    assert not bool(new.alive[0])
    assert float(new.health[0]) == 0.0
    np.testing.assert_array_equal(np.asarray(info["death_cause"]), [DEATH_ARENA, 0, 0, 0])
    np.testing.assert_array_equal(np.asarray(done), [True, False, False, False])
    assert bool(new.alive[1:].all())
    assert not bool(info["terminated"])  # agent 1 still holds team A


def test_inside_the_border_survives(cont):
    env, step = cont
    state = place(far_apart(env), x=[99.7, 20, 80, 20], v=[2.0, 1.3, 1.3, 1.3])
    new, _, _, info = step(KEY, state, controls((0.0, 0.0, 0.0)))
    np.testing.assert_allclose(float(new.x[0]), 99.884, atol=2e-5)  # 99.7 + 0.184 <= 100
    assert bool(new.alive.all())
    assert int(info["death_cause"][0]) == 0


@pytest.mark.parametrize(
    "gap, dz, collide",
    [
        (0.35, 0.0, True),  # 0.35 < 0.4 horizontally, same altitude
        (0.45, 0.0, False),  # 0.45 >= 0.4
        (0.3, 0.4, True),  # |dz| 0.4 < 0.5
        (0.3, 0.6, False),  # |dz| 0.6 >= 0.5: they pass above one another
        (0.0, 0.0, True),  # same spot
    ],
)
def test_collisions(cont, gap, dz, collide):
    """Agents 0 (team A) and 2 (team B) fly side by side, same heading and speed, so their gap is
    the same after the move; the others are far away."""
    env, step = cont
    state = place(
        far_apart(env), x=[50, 20, 50, 20], y=[50, 20, 50 + gap, 80], z=[5, 5, 5 + dz, 5], v=[2.0, 1.3, 2.0, 1.3],
        heading=[0, 0, 0, 0],
    )
    new, _, done, info = step(KEY, state, controls((0.0, 0.0, 0.0)))
    cause = np.asarray(info["death_cause"])
    if collide:
        np.testing.assert_array_equal(np.asarray(new.alive), [False, True, False, True])
        np.testing.assert_array_equal(cause, [DEATH_COLLISION, 0, DEATH_COLLISION, 0])
        np.testing.assert_array_equal(np.asarray(new.health), [0.0, 1.0, 0.0, 1.0])
        np.testing.assert_array_equal(np.asarray(done), [True, False, True, False])
    else:
        assert bool(new.alive.all())
        np.testing.assert_array_equal(cause, 0)


def test_teammates_collide_too(cont):
    """Agents 0 and 1 (both team A) collide: team A is wiped, the episode ends, B wins."""
    env, step = cont
    state = place(far_apart(env), x=[50, 50, 80, 20], y=[50, 50.2, 80, 80], v=[1.3] * 4)
    new, _, done, info = step(KEY, state, controls((0.0, 0.0, 0.0)))
    np.testing.assert_array_equal(np.asarray(info["death_cause"]), [DEATH_COLLISION, DEATH_COLLISION, 0, 0])
    assert bool(info["terminated"]) and int(info["winner"]) == 1
    assert bool(done.all())


@pytest.fixture(scope="module")
def maps_env():
    env = gj.make("identical_1_vs_1_fobs_vec_maps_disc")
    return with_transition(env)


def one_box_state(env, x0: float) -> gj.EnvState:
    """1v1 with a single box [4.8, 5.2]^2 (the other slots padding); agent 0 at (x0, 5) flying +x at
    v = 2 (moves 0.184), agent 1 at (8, 8) flying -x."""
    state = env.reset_state(KEY)
    boxes = np.full(state.boxes.shape, -1.0, np.float32)
    boxes[0] = (4.8, 4.8, 5.2, 5.2)
    return place(
        state, x=[x0, 8.0], y=[5.0, 8.0], z=[0, 0], v=[2.0, 1.3], heading=[0.0, math.pi - 1e-6],
        boxes=jnp.asarray(boxes),
    )


def test_obstacle_kills(maps_env):
    env, step = maps_env
    assert env.maps.max_boxes >= 1
    state = one_box_state(env, 4.7)
    new, _, done, info = step(KEY, state, jnp.full(2, STILL, jnp.int32))
    # x = 4.7 + 0.184 = 4.884, inside (4.8, 5.2) x (4.8, 5.2)
    np.testing.assert_allclose(float(new.x[0]), 4.884, atol=2e-5)
    np.testing.assert_array_equal(np.asarray(new.alive), [False, True])
    np.testing.assert_array_equal(np.asarray(info["death_cause"]), [DEATH_OBSTACLE, 0])
    assert bool(info["terminated"]) and int(info["winner"]) == 1


def test_obstacle_edge_is_safe(maps_env):
    env, step = maps_env
    new, _, _, info = step(KEY, one_box_state(env, 4.5), jnp.full(2, STILL, jnp.int32))
    # x = 4.5 + 0.184 = 4.684 < 4.8: outside the box
    assert bool(new.alive.all())
    np.testing.assert_array_equal(np.asarray(info["death_cause"]), [0, 0])


def test_dead_agents_stay_frozen(cont):
    env, step = cont
    state = place(far_apart(env), x=[99.95, 20, 80, 20], v=[2.0, 1.3, 1.3, 1.3])
    state, _, _, info = step(KEY, state, controls((0.0, 0.0, 0.0)))
    assert int(info["death_cause"][0]) == DEATH_ARENA
    frozen = {f: float(getattr(state, f)[0]) for f in ("x", "y", "z", "v", "heading")}
    for i in range(5):
        k = jax.random.PRNGKey(i + 1)
        action = jax.random.uniform(k, (4, 3), minval=-1.0, maxval=1.0)
        before_x1 = float(state.x[1])
        state, reward, done, info = step(k, state, action)
        assert {f: float(getattr(state, f)[0]) for f in frozen} == frozen
        assert not bool(state.alive[0]) and float(state.health[0]) == 0.0
        assert bool(done[0]) and int(info["death_cause"][0]) == 0  # died before: no new cause
        assert float(reward[0]) == 0.0
        assert float(state.x[1]) != before_x1  # the living keep flying
