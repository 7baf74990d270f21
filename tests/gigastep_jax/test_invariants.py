"""Invariants of random play: health bounds, death is final, agents stay in the arena, the winner
agrees with who is alive, episodes end at the time limit, finished episodes are absorbing."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gigastep_jax as gj
from tests.conftest import f32, random_rollout

MOTION = ("x", "y", "z", "v", "heading")


def to_numpy(tree):
    return jax.tree_util.tree_map(np.asarray, tree)


def expected_outcome(env, alive, t, score):
    """(terminated, truncated, winner) from who is alive, written from the rules (not the code):
    alive bool[..., N], t int[...], score int[..., 2]."""
    s = env.scenario
    team = np.asarray(s.team)
    wiped_a = ~(alive & (team == 0)).any(-1)
    wiped_b = ~(alive & (team == 1)).any(-1)
    terminated = (wiped_a | wiped_b) if s.episode_ends_one_team_dead else (wiped_a & wiped_b)
    truncated = (t >= s.max_steps) & ~terminated
    by_wipe = np.where(wiped_b & ~wiped_a, 0, np.where(wiped_a & ~wiped_b, 1, -1))
    on_timeout = {
        "none": np.full_like(t, -1),
        "team_a": np.zeros_like(t),
        "team_b": np.ones_like(t),
        "waypoints": np.where(score[..., 0] > score[..., 1], 0, np.where(score[..., 1] > score[..., 0], 1, -1)),
    }[s.timeout_winner]
    winner = np.where(terminated, by_wipe, np.where(truncated, on_timeout, -1))
    return terminated, truncated, winner


def check_invariants(env, first, states, reward, done, info):
    """first: state of B envs; states etc.: stacked [B, T, ...] after each step (numpy)."""
    s = env.scenario
    w, h = s.arena
    max_health = np.asarray(env.params.max_health)
    # previous state of every step: the reset state, then the states after steps 0..T-2
    prev = jax.tree_util.tree_map(lambda a, b: np.concatenate([a[:, None], b[:, :-1]], axis=1), first, states)
    alive, prev_alive = states.alive, prev.alive
    over = info["terminated"] | info["truncated"]
    over_before = np.concatenate([np.zeros_like(over[:, :1]), over[:, :-1]], axis=1)  # [B, T]

    # health within [0, max]; alive iff health > 0
    assert (states.health >= 0).all() and (states.health <= max_health + 1e-6).all()
    np.testing.assert_array_equal(alive, states.health > 0)
    # death is final, and dead agents are frozen where they died
    assert not (alive & ~prev_alive).any(), "an agent came back to life"
    dead_before = ~prev_alive
    for f in MOTION:
        np.testing.assert_array_equal(getattr(states, f)[dead_before], getattr(prev, f)[dead_before], err_msg=f)
    # newly dead agents have a cause; nobody else has one (checked here for running episodes only:
    # finished ones are test_finished_episode_reports_no_deaths)
    newly_dead = prev_alive & ~alive
    assert (info["death_cause"][newly_dead] > 0).all()
    assert (info["death_cause"][~newly_dead & ~over_before[..., None]] == 0).all()
    # alive agents are in the arena, at a legal altitude, at least at the minimum speed
    for arr, lo, hi in ((states.x, 0, w), (states.y, 0, h), (states.z, 0, 10)):
        assert ((arr[alive] >= lo) & (arr[alive] <= hi)).all()
    assert (states.v[alive] >= 1.3 - 1e-5).all()
    assert (np.abs(states.heading) <= np.pi + 1e-6).all()
    # ... and never inside an obstacle
    bx = states.boxes[..., None, :, :]  # [B, T, 1, M, 4]
    x, y = states.x[..., None], states.y[..., None]
    inside = ((x > bx[..., 0]) & (x < bx[..., 2]) & (y > bx[..., 1]) & (y < bx[..., 3])).any(-1)
    assert not (inside & alive).any()
    # the outcome agrees with who is alive
    terminated, truncated, winner = expected_outcome(env, alive, states.t, states.waypoint_score)
    np.testing.assert_array_equal(info["terminated"], terminated)
    np.testing.assert_array_equal(info["truncated"], truncated)
    np.testing.assert_array_equal(info["winner"], winner)
    assert not (info["terminated"] & info["truncated"]).any()
    np.testing.assert_array_equal(done, ~alive | over[..., None])
    # finished episodes are absorbing: once over, nothing changes and nothing is paid
    for leaf_now, leaf_prev in zip(jax.tree_util.tree_leaves(states), jax.tree_util.tree_leaves(prev)):
        np.testing.assert_array_equal(leaf_now[over_before], leaf_prev[over_before])
    assert (reward[over_before] == 0).all()
    for k in ("terminated", "truncated", "winner"):
        np.testing.assert_array_equal(info[k][over_before], np.roll(info[k], 1, axis=1)[over_before])
    assert over[over_before].all()
    # the step counter counts the steps of the episode
    t_expected = np.minimum(np.arange(1, states.t.shape[1] + 1)[None, :], np.where(over.any(1), over.argmax(1) + 1, 10**9)[:, None])
    np.testing.assert_array_equal(states.t, t_expected)
    assert np.isfinite(reward).all()
    return over


@pytest.fixture(scope="module")
def random_play():
    """64 battles of uniformly random play, 150 steps, time limit 60 (obstacle maps)."""
    env = gj.make("identical_5_vs_5_fobs_vec_maps_disc", max_steps=60)
    first, (states, reward, done, info) = random_rollout(env, 150)(jax.random.split(jax.random.PRNGKey(0), 64))
    return env, to_numpy(first), to_numpy(states), np.asarray(reward), np.asarray(done), to_numpy(info)


def test_random_play_invariants(random_play):
    env, first, states, reward, done, info = random_play
    over = check_invariants(env, first, states, reward, done, info)
    # every episode ends by the time limit, and a time-out is flagged at exactly step 60
    assert over[:, 59].all()
    first_over = over.argmax(1) + 1
    assert (first_over <= 60).all()
    truncated_any = info["truncated"].any(1)
    np.testing.assert_array_equal(first_over[truncated_any], 60)
    np.testing.assert_array_equal(states.t[truncated_any, -1], 60)
    # the sample is not degenerate: some episodes end by a wipe-out, some by time, both teams win some
    assert truncated_any.sum() >= 3 and (~truncated_any).sum() >= 3
    final_winner = info["winner"][:, -1]
    assert (final_winner == 0).any() and (final_winner == 1).any()


def test_winner_only_from_wipeouts(random_play):
    """winner 0 iff team B is wiped and A is not; 1 iff the reverse; -1 otherwise (no time-out winner)."""
    env, _, states, _, _, info = random_play
    team = np.asarray(env.scenario.team)
    a_alive = (states.alive & (team == 0)).any(-1)
    b_alive = (states.alive & (team == 1)).any(-1)
    winner = info["winner"]
    np.testing.assert_array_equal(winner == 0, a_alive & ~b_alive)
    np.testing.assert_array_equal(winner == 1, b_alive & ~a_alive)
    np.testing.assert_array_equal(winner == -1, a_alive == b_alive)


def test_default_time_limit_is_500():
    for name in ("identical_5_vs_5_fobs_vec_void_disc", "waypoint_5_vs_3_pobs_rgb_maps_cont", "hide_and_seek_10_vs_5_fobs_vec_void_disc"):
        assert gj.make(name).scenario.max_steps == 500


_ROLLOUTS: dict[str, tuple] = {}


def rollout_for(name: str):
    """One compiled rollout per scenario (8 envs, 40 steps, time limit 30), reused across examples."""
    if name not in _ROLLOUTS:
        env = gj.make(name, max_steps=30)
        _ROLLOUTS[name] = (env, random_rollout(env, 40))
    return _ROLLOUTS[name]


@pytest.mark.parametrize(
    "name",
    [
        "identical_2_vs_2_pobs_vec_maps_cont",
        "hide_and_seek_5_vs_5_pobs_vec_void_disc",
        "waypoint_5_vs_3_fobs_vec_maps_cont",
    ],
)
@settings(max_examples=4, deadline=None, database=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_invariants_hold_for_any_seed(name, seed):
    env, run = rollout_for(name)
    first, (states, reward, done, info) = run(jax.random.split(jax.random.PRNGKey(seed), 8))
    over = check_invariants(env, to_numpy(first), to_numpy(states), np.asarray(reward), np.asarray(done), to_numpy(info))
    assert over[:, 29].all()  # all over by the time limit


def test_finished_episode_reports_no_deaths():
    """Stepping a finished episode changes nothing, so info["death_cause"] must be 0 for everyone
    ("0 alive or dead before"). Here the episode is over by time (t = max_steps) with agent 0 at the
    border, flying out: the discarded move must not be reported as a death."""
    env = gj.make("identical_1_vs_1_fobs_vec_void_cont", max_steps=1)
    key = jax.random.PRNGKey(0)
    state = env.reset_state(key)
    state = state.replace(
        t=jnp.int32(1), x=f32(9.99, 5.0), y=f32(5.0, 2.0), heading=f32(0.0, 0.0)
    )
    assert bool(env.episode_over(state))
    new, reward, done, info = jax.jit(env.transition)(key, state, jnp.zeros((2, 3), jnp.float32))
    np.testing.assert_array_equal(np.asarray(new.alive), [True, True])
    np.testing.assert_array_equal(np.asarray(new.x), np.asarray(state.x))
    np.testing.assert_array_equal(np.asarray(reward), 0.0)
    np.testing.assert_array_equal(np.asarray(info["death_cause"]), [0, 0])
