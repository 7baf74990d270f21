"""The API contract over every registered scenario: builds, traces with the right shapes and dtypes,
runs jitted with finite values, is deterministic, jit == no-jit, vmap == loop, no recompiles;
and what the scenario names promise (arena size, maps, waypoints, hiders' reward)."""

from __future__ import annotations

import contextlib
import itertools
import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gigastep_jax as gj
from tests.conftest import f32

KEY = jax.random.PRNGKey(0)
NAMES = gj.list_scenarios()
BASES = [
    "identical_1_vs_1", "identical_2_vs_2", "identical_5_vs_5", "identical_10_vs_10", "identical_20_vs_20",
    "identical_5_vs_1", "identical_10_vs_3", "identical_20_vs_5", "special_5_vs_5", "special_10_vs_10",
    "special_20_vs_20", "special_5_vs_1", "special_10_vs_3", "special_20_vs_5", "waypoint_5_vs_5",
    "waypoint_5_vs_3", "hide_and_seek_5_vs_5", "hide_and_seek_10_vs_5",
]


def variants(bases):
    return {f"{b}_{o}_{k}_{m}_{a}" for b, o, k, m, a in
            itertools.product(bases, ("fobs", "pobs"), ("vec", "rgb"), ("void", "maps"), ("disc", "cont"))}


def test_registry_has_every_gigastep_name_and_the_large_bases():
    expected = variants(BASES)
    assert len(expected) == 288
    large = variants(["identical_100_vs_100", "identical_500_vs_500", "identical_1000_vs_1000", "special_100_vs_100"])
    assert len(NAMES) == len(set(NAMES)) == 352
    assert set(NAMES) == expected | large
    special = gj.make("special_100_vs_100_fobs_vec_void_disc").scenario.unit_type
    assert {u: special[:100].count(u) for u in set(special)} == {"more_health": 25, "more_range": 25, "faster": 25,
                                                                   "default": 25}


def team_sizes(name: str) -> tuple[int, int]:
    base = name.rsplit("_", 4)[0]
    a, b = base.split("_vs_")
    return int(a.rsplit("_", 1)[1]), int(b)


def action_spec(env):
    return jax.ShapeDtypeStruct(env.action_shape, jnp.int32 if env.discrete else jnp.float32)


@pytest.mark.parametrize("name", NAMES)
def test_every_scenario_traces(name):
    env = gj.make(name)
    n_a, n_b = team_sizes(name)
    n = n_a + n_b
    assert env.n_agents == n
    np.testing.assert_array_equal(np.asarray(env.teams), [0] * n_a + [1] * n_b)
    discrete = name.endswith("_disc")
    assert env.discrete == discrete
    assert env.n_actions == (27 if discrete else 3)
    assert env.action_shape == ((n,) if discrete else (n, 3))
    rgb = "_rgb_" in name
    obs, state = jax.eval_shape(env.reset, KEY)
    # vector: 9 features x min(N, 15) rows, + 5 for the waypoint, + 4 per obstacle box
    width = 9 * min(n, 15) + (5 if name.startswith("waypoint") else 0) + 4 * state.boxes.shape[0]
    assert env.obs_shape == ((84, 84, 3) if rgb else (width,))
    obs_dtype = jnp.uint8 if rgb else jnp.float32
    assert obs.shape == (n, *env.obs_shape) and obs.dtype == obs_dtype
    obs2, state2, reward, done, info = jax.eval_shape(env.step, KEY, state, action_spec(env))
    assert obs2.shape == obs.shape and obs2.dtype == obs_dtype
    assert reward.shape == (n,) and reward.dtype == jnp.float32
    assert done.shape == (n,) and done.dtype == jnp.bool_
    for k, dtype in (("terminated", jnp.bool_), ("truncated", jnp.bool_), ("winner", jnp.int32)):
        assert info[k].shape == () and info[k].dtype == dtype, k
    assert info["death_cause"].shape == (n,) and info["death_cause"].dtype == jnp.int32
    # a state made by step traces exactly like one made by reset (no weak types: no recompiles)
    leaves, leaves2 = jax.tree_util.tree_leaves(state), jax.tree_util.tree_leaves(state2)
    assert jax.tree_util.tree_structure(state) == jax.tree_util.tree_structure(state2)
    for a, b in zip(leaves, leaves2):
        assert (a.shape, a.dtype, a.weak_type) == (b.shape, b.dtype, b.weak_type)
        assert not a.weak_type
    pair_width = (3 * env.scenario.window, env.scenario.max_targets) if env.scenario.local_pairs else (n, n)
    assert state.x.shape == (n,) and state.detected.dtype == jnp.bool_
    assert state.detected.shape == (n, pair_width[0]) and state.tracked.shape == (n, pair_width[1])
    # `_void` has no obstacles at all; `_maps` has room for the built-in maps' boxes
    if "_void_" in name:
        assert state.boxes.shape == (0, 4)
    else:
        assert state.boxes.shape[0] >= 1 and state.boxes.shape[1] == 4
    # the arena: 20 x 20 for 20-vs-20, 10 x 10 for Gigastep's other bases; a large base keeps
    # Gigastep's density, 0.1 agents per unit² (to the 0.1 its side is rounded to)
    width, height = env.scenario.arena
    if n > 40:
        assert width == height and abs(width - (n / 0.1) ** 0.5) <= 0.05
    else:
        assert (width, height) == ((20.0, 20.0) if "_20_vs_20_" in name else (10.0, 10.0))


SAMPLE = [
    "identical_1_vs_1_pobs_vec_maps_cont",
    "identical_2_vs_2_fobs_rgb_void_disc",
    "special_5_vs_5_pobs_vec_maps_disc",
    "waypoint_5_vs_3_fobs_vec_void_cont",
    "hide_and_seek_10_vs_5_pobs_rgb_maps_cont",
    "special_20_vs_20_fobs_vec_maps_disc",
]
STEPS = 5


def jitted_rollout(env):
    """key -> first obs and per-step (obs, reward, done, info, state) of STEPS random steps."""

    @jax.jit
    def run(key):
        k_reset, k_run = jax.random.split(key)
        obs, state = env.reset(k_reset)

        def body(state, k):
            k_act, k_step = jax.random.split(k)
            obs, new, reward, done, info = env.step(k_step, state, gj.policies.random(k_act, env, state))
            return new, (obs, reward, done, info, new)

        _, out = jax.lax.scan(body, state, jax.random.split(k_run, STEPS))
        return obs, out

    return run


@pytest.mark.parametrize("name", SAMPLE)
def test_sample_runs_jitted_and_deterministic(name):
    env = gj.make(name)
    run = jitted_rollout(env)
    first, (obs, reward, done, info, states) = run(KEY)
    n = env.n_agents
    assert obs.shape == (STEPS, n, *env.obs_shape) and obs.dtype == env.obs_dtype
    assert first.shape == (n, *env.obs_shape)
    assert reward.shape == (STEPS, n) and reward.dtype == jnp.float32
    assert done.shape == (STEPS, n) and done.dtype == jnp.bool_
    if env.obs_dtype == jnp.float32:
        assert np.isfinite(np.asarray(obs)).all()
    else:
        assert np.asarray(obs).max() > 0  # something is drawn
    assert np.isfinite(np.asarray(reward)).all()
    assert np.isfinite(np.asarray(states.x)).all() and np.isfinite(np.asarray(states.v)).all()
    health = np.asarray(states.health)
    assert (health >= 0).all() and (health <= np.asarray(env.params.max_health) + 1e-6).all()
    # the step counter counts up to the end of the episode (if it ends this early) and stays there
    over = np.asarray(info["terminated"] | info["truncated"])
    end = over.argmax() + 1 if over.any() else STEPS
    np.testing.assert_array_equal(np.asarray(states.t), np.minimum(np.arange(1, STEPS + 1), end))
    # determinism: the same key gives the identical trajectory; another key another one
    again = run(KEY)
    for a, b in zip(jax.tree_util.tree_leaves((first, obs, reward, done, info, states)), jax.tree_util.tree_leaves(again)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    other_first, (_, _, _, _, other_states) = run(jax.random.PRNGKey(1))
    assert not np.array_equal(np.asarray(other_states.x), np.asarray(states.x))
    assert run._cache_size() == 1


@pytest.fixture(scope="module")
def small():
    """A stochastic (pobs) continuous 1v1 with obstacles, a few states to step from and actions.
    (Small, because running a step without jit compiles every primitive on its own.)"""
    env = gj.make("identical_1_vs_1_pobs_vec_maps_cont")
    keys = jax.random.split(KEY, 4)
    reset = jax.jit(env.reset)
    states = [reset(k)[1] for k in keys]
    actions = jax.random.uniform(jax.random.PRNGKey(7), (4, 2, 3), minval=-1.0, maxval=1.0)
    return env, keys, states, actions


def test_jit_equals_no_jit(small):
    env, keys, states, actions = small
    jitted = jax.jit(env.step)(keys[1], states[0], actions[0])
    eager = env.step(keys[1], states[0], actions[0])
    for a, b in zip(jax.tree_util.tree_leaves(jitted), jax.tree_util.tree_leaves(eager)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)


def test_vmap_equals_loop(small):
    env, keys, states, actions = small
    batch = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *states)
    vmapped = jax.jit(jax.vmap(env.step))(keys, batch, actions)
    step = jax.jit(env.step)
    for i in range(4):
        looped = step(keys[i], states[i], actions[i])
        for a, b in zip(jax.tree_util.tree_leaves(vmapped), jax.tree_util.tree_leaves(looped)):
            np.testing.assert_allclose(np.asarray(a)[i], np.asarray(b), rtol=1e-5, atol=1e-5)
    # and the batch is not four copies of one environment
    assert len({float(x) for x in np.asarray(vmapped[1].x[:, 0])}) == 4


def test_no_recompilation(small):
    env, keys, states, actions = small
    step = jax.jit(env.step)
    reset = jax.jit(env.reset)
    _, s0 = reset(keys[0])
    _, s1 = reset(keys[1])
    assert reset._cache_size() == 1
    out = step(keys[0], s0, actions[0])
    assert step._cache_size() == 1
    state = out[1]
    for i in range(1, 4):  # states made by step, a hand-edited state, another reset state
        state = step(keys[i], state, actions[i])[1]
    step(keys[0], state.replace(x=f32(5.0, 5.5), t=jnp.int32(3)), actions[0])
    step(keys[0], s1, actions[1])
    assert step._cache_size() == 1
    # and with compile logging on, a further call logs no compilation (while a new function does)
    with compile_log() as log:
        jax.block_until_ready(step(keys[2], state, actions[2]))
    assert log == []
    with compile_log() as log:
        jax.jit(lambda a: a * 2 + 1)(jnp.ones(3))
    assert log


@contextlib.contextmanager
def compile_log():
    """Collect the messages `jax.log_compiles` emits about compilations."""
    records: list[str] = []

    class Grab(logging.Handler):
        def emit(self, record):
            msg = record.getMessage()
            if "ompil" in msg:
                records.append(msg)

    handler, logger = Grab(), logging.getLogger("jax")
    logger.addHandler(handler)
    try:
        with jax.log_compiles(True):
            yield records
    finally:
        logger.removeHandler(handler)


def test_20v20_uses_a_20x20_arena():
    env = gj.make("identical_20_vs_20_fobs_vec_void_disc")
    assert env.scenario.arena == (20.0, 20.0)
    states = jax.jit(jax.vmap(env.reset_state))(jax.random.split(KEY, 8))
    x, y = np.asarray(states.x), np.asarray(states.y)
    assert (x >= 0).all() and (x <= 20).all() and (y >= 0).all() and (y <= 20).all()
    assert x.max() > 14 and y.max() > 10  # spawn boxes scaled to the arena: team B at x in [14, 20]
    assert gj.make("identical_20_vs_5_fobs_vec_void_disc").scenario.arena == (10.0, 10.0)


@pytest.mark.parametrize("maps", ["void", "maps"])
def test_maps_drawn_per_episode(maps):
    env = gj.make(f"identical_5_vs_5_fobs_vec_{maps}_disc")
    states = jax.jit(jax.vmap(env.reset_state))(jax.random.split(KEY, 128))
    idx = np.asarray(states.map_idx)
    boxes = np.asarray(states.boxes)  # [128, M, 4]
    if maps == "void":
        assert boxes.shape == (128, 0, 4)
        assert set(idx) == {0, 1}  # the empty map and its mirror
    else:
        assert len(set(idx)) == 8  # all eight built-in maps drawn
        real = boxes[..., 2] > boxes[..., 0]  # [128, M] real boxes (padding has zero width)
        assert real.any(1).sum() > 32  # most maps have obstacles
        assert (~real.any(1)).any()  # and the empty ones are drawn too
        # the same map index always holds the same boxes
        for m in set(idx):
            sel = boxes[idx == m]
            np.testing.assert_array_equal(sel, np.broadcast_to(sel[0], sel.shape))
        # Hardly anybody spawns inside a box: as in Gigastep, 3 re-draws and the last one unchecked
        # (measured 3.7e-4 of agents, where walls cross the spawn boxes; 1 of 1280 here would pass).
        states = jax.jit(jax.vmap(env.reset_state))(jax.random.split(KEY, 2048))
        boxes = np.asarray(states.boxes)
        x, y = np.asarray(states.x)[..., None], np.asarray(states.y)[..., None]
        inside = (x > boxes[:, None, :, 0]) & (x < boxes[:, None, :, 2]) & (y > boxes[:, None, :, 1]) & (y < boxes[:, None, :, 3])
        assert inside.any(-1).mean() < 1.5e-3


def test_waypoint_in_observation():
    env = gj.make("waypoint_5_vs_5_fobs_vec_void_disc")
    assert env.obs_shape == (9 * 10 + 5,)

    @jax.jit
    def observe(key, waypoint, timer):
        state = env.reset_state(key)
        fresh = env.observe(key, state)
        state = state.replace(waypoint=waypoint, waypoint_timer=timer)
        return fresh, env.observe(key, state), state

    fresh, obs, state = observe(KEY, f32(4.0, 4.0, 4.6, 4.6), jnp.float32(7.0))
    np.testing.assert_array_equal(np.asarray(fresh)[:, 90:95], 0.0)  # no waypoint active at the start
    obs = np.asarray(obs)
    x, y = np.asarray(state.x)[:, None], np.asarray(state.y)[:, None]
    expected = (np.asarray([4.0, 4.0, 4.6, 4.6])[None, :] - np.concatenate([x, y, x, y], 1)) / 10.0
    np.testing.assert_allclose(obs[:, 90:94], expected, atol=1e-6)
    np.testing.assert_allclose(obs[:, 94], 0.7, atol=1e-6)  # seconds left / 10


@pytest.mark.parametrize(
    "name, hiders", [("hide_and_seek_5_vs_5_fobs_vec_void_disc", slice(5, 10)), ("hide_and_seek_10_vs_5_fobs_vec_void_disc", slice(0, 10))]
)
def test_hiders_earn_idle_reward(name, hiders):
    """One step from the spawn (no kills possible): each hider earns idle reward 1 / N, seekers 0."""
    env = gj.make(name)
    n = env.n_agents
    first_step = jax.jit(lambda k: env.transition(k, env.reset_state(k), jnp.full(n, 13, jnp.int32)))
    new, reward, _, info = first_step(KEY)
    assert bool(new.alive.all()) and not bool(info["terminated"])
    reward = np.asarray(reward)
    is_hider = np.zeros(n, bool)
    is_hider[hiders] = True
    assert (reward[is_hider] > 0).all()
    np.testing.assert_allclose(reward[is_hider], 1.0 / n, rtol=1e-6)
    np.testing.assert_array_equal(reward[~is_hider], 0.0)
