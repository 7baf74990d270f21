"""The native RGB composer (gigastep_jax.native): the same pixels as the pure-XLA path, bit for
bit, however it is batched, and a clear account of when it is or is not used."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gigastep_jax as gj
from tests.conftest import place, random_rollout
from gigastep_jax import native, observe

# On a machine with a C++ compiler the native path must work: a silent fallback would hide a
# broken build behind slower observations.
needs_native = pytest.mark.skipif(native.library_path() is None, reason="no C++ compiler, or jax without jax.ffi")


def both_composers(env, state, key):
    """(native, xla) uint8[N, R, R, 3] frames of one state."""
    s = env.scenario
    seen = observe.visibility(key, state, env.teams, env.params, s.observability == "pobs")
    args = (state, seen, s, jnp.asarray(env._sprite), env.teams, env.params.max_health, jnp.asarray(env._background))
    shared = s.observability == "fobs"
    return tuple(observe.rgb_obs(*args, shared_view=shared, composer=c) for c in ("native", "xla"))


@needs_native
def test_native_is_available_here():
    assert native.available()


@needs_native
@pytest.mark.parametrize(
    "name",
    [
        "identical_5_vs_5_fobs_rgb_maps_disc",  # shared views, obstacles
        "identical_5_vs_5_pobs_rgb_void_disc",  # a view per ego
        "waypoint_5_vs_3_fobs_rgb_maps_disc",  # unequal teams, the waypoint in the map
        "hide_and_seek_10_vs_5_pobs_rgb_maps_cont",
    ],
)
def test_native_equals_xla_on_random_battles(name):
    """States of 8 random battles at 5 moments, drawn under vmap(vmap(.)) by both composers.
    Hide-and-seek plays chasers: on the obstacle maps the teams spawn 4 apart, and random seekers
    rarely reach a hider within 40 steps (no damage, so no red border, to compare)."""
    env = gj.make(name)
    keys = jax.random.split(jax.random.PRNGKey(7), 8)
    rollout = random_rollout(env, 40, gj.policies.chaser if name.startswith("hide_and_seek") else None)

    @jax.jit
    def frames(keys):
        states = jax.tree_util.tree_map(lambda a: a[:, ::8], rollout(keys)[1][0])  # [8 battles, 5 moments]
        pair = jax.vmap(jax.vmap(lambda s: both_composers(env, s, keys[1])))(states)
        return pair, states.alive.sum(), (states.damage_taken > 0).sum()

    (ours, reference), alive, hurt = frames(keys)
    assert int(alive) > 0  # the comparison covers live agents
    assert int(hurt) > 0 or name.startswith("waypoint")  # and red borders (waypoint battles rarely fight)
    assert ours.shape == (8, 5, env.n_agents, 84, 84, 3) and ours.dtype == jnp.uint8
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(reference))


@needs_native
def test_native_equals_xla_when_operands_are_batched_differently():
    """vmap over states, then over keys with the state unbatched: the kernel gets operands
    batched along the outer axis only (positions), the inner only (who sees whom) or neither
    (the maps), and must broadcast each by its own strides."""
    env = gj.make("identical_5_vs_5_pobs_rgb_maps_disc")
    states = jax.vmap(env.reset_state)(jax.random.split(jax.random.PRNGKey(5), 3))
    keys = jax.random.split(jax.random.PRNGKey(6), 4)

    @jax.jit
    def frames(states, keys):
        return jax.vmap(lambda s: jax.vmap(lambda k: both_composers(env, s, k))(keys))(states)

    ours, reference = frames(states, keys)
    assert ours.shape == (3, 4, 10, 84, 84, 3)
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(reference))
    assert not np.array_equal(np.asarray(ours[0, 0]), np.asarray(ours[0, 1]))  # the keys did matter


@needs_native
@pytest.mark.parametrize("observability", ["fobs", "pobs"])
def test_native_equals_xla_at_the_edges_and_unbatched(observability):
    """Hand-placed agents whose sprites and trails cross the border rows, the border column and
    the health bar, overlap each other and leave the image; one ego dead, one hurt. Drawn
    unbatched, both jitted and eagerly."""
    env = gj.make(f"identical_2_vs_2_{observability}_rgb_void_disc")
    state = env.reset_state(jax.random.PRNGKey(0))
    eps = 0.01
    state = place(
        state,
        x=[eps, 5.0, 10.0 - eps, 5.0 + 1.0 / 8.4],
        y=[5.0, 10.0 - eps, 3.0, 10.0 - eps],
        z=[2.0, 5.0, 0.0, 9.0],
        heading=[0.0, np.pi / 2, 0.0, -np.pi / 2],
        health=[1.0, 0.37, 0.5, 1.0],
    )
    state = state.replace(
        damage_taken=jnp.asarray([0.1, 0.0, 0.0, 0.2], jnp.float32),
        alive=jnp.asarray([True, True, False, True]),
        detected=jnp.ones((4, 4), bool),
    )
    key = jax.random.PRNGKey(1)
    for ours, reference in (jax.jit(lambda s: both_composers(env, s, key))(state), both_composers(env, state, key)):
        ours, reference = np.asarray(ours), np.asarray(reference)
        assert ours.shape == (4, 84, 84, 3)
        np.testing.assert_array_equal(ours, reference)
    # The case is the one meant: ego 0 is hurt (red border) and drawn on it at row x = 0; ego 1's
    # bar is floor(84 * 0.37) = 31 pixels green, and its own sprite, off the top of the image
    # but for its lower arm, lies on the bar, as in its teammate's view.
    red, green, white = (255, 0, 0), (0, 255, 0), (255, 255, 255)
    assert tuple(ours[0, 0, 1]) == red and tuple(ours[0, 0, 42]) not in (red, (0, 0, 0))
    assert tuple(ours[1, 30, 83]) == green and tuple(ours[1, 31, 83]) == white
    assert tuple(ours[1, 42, 83]) not in (green, white) and tuple(ours[0, 42, 83]) not in (green, white)


@needs_native
def test_env_uses_native_on_cpu_and_a_batched_step_matches():
    """env.step (composer "auto") on the CPU gives the XLA composer's frames, under BatchedEnv."""
    env = gj.make("special_5_vs_1_fobs_rgb_void_disc")
    batched = gj.BatchedEnv(env, 4)
    obs, state = jax.jit(batched.reset)(jax.random.PRNGKey(2))
    act = jax.random.randint(jax.random.PRNGKey(3), (4, env.n_agents), 0, env.n_actions)
    obs, state, *_ = jax.jit(batched.step)(jax.random.PRNGKey(4), state, act)
    ours, reference = jax.jit(jax.vmap(lambda s: both_composers(env, s, jax.random.PRNGKey(0))))(state)
    np.testing.assert_array_equal(np.asarray(obs), np.asarray(reference))
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(reference))
    assert jax.default_backend() == "cpu"
    hlo = jax.jit(env.observe).lower(jax.random.PRNGKey(0), state_of(state, 0)).as_text()
    assert native.TARGET in hlo  # "auto" picked the custom call


def state_of(batch, i):
    return jax.tree_util.tree_map(lambda a: a[i], batch)


def observe_1v1(composer):
    env = gj.make("identical_1_vs_1_fobs_rgb_void_disc")
    state = env.reset_state(jax.random.PRNGKey(0))
    seen = observe.visibility(None, state, env.teams, env.params, False)
    args = (state, seen, env.scenario, jnp.asarray(env._sprite), env.teams, 1.0, jnp.asarray(env._background))
    return observe.rgb_obs(*args, composer=composer)


def test_bad_composer_is_rejected():
    with pytest.raises(ValueError, match="composer='pixels'.*'auto', 'native' or 'xla'"):
        observe_1v1("pixels")


def test_native_composer_asked_for_where_it_is_not_built(monkeypatch):
    monkeypatch.setattr(native, "available", lambda: False)
    with pytest.raises(RuntimeError, match="composer='native': the native RGB composer could not be built"):
        observe_1v1("native")
    assert observe_1v1("auto").shape == (2, 84, 84, 3)  # "auto" falls back to the XLA path


def test_switched_off_by_the_environment_variable():
    """GIGASTEP_JAX_NATIVE=0: no custom call in the observation, the XLA path instead."""
    code = (
        "import jax, gigastep_jax as gj\n"
        "from gigastep_jax import native\n"
        "env = gj.make('identical_1_vs_1_fobs_rgb_void_disc')\n"
        "s = env.reset_state(jax.random.PRNGKey(0))\n"
        "print(native.available(), native.TARGET in jax.jit(env.observe).lower(jax.random.PRNGKey(0), s).as_text())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "GIGASTEP_JAX_NATIVE": "0"}, capture_output=True, text=True,
        check=True,
    )
    assert out.stdout.split() == ["False", "False"]


@needs_native
def test_build_is_cached_by_source_and_a_broken_compiler_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("GIGASTEP_JAX_CACHE", str(tmp_path / "cache"))
    path = native.build()
    assert path.parent == tmp_path / "cache" and path.is_file() and path.stat().st_size > 0
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind
    mtime = path.stat().st_mtime_ns
    assert native.build() == path and path.stat().st_mtime_ns == mtime  # cached: not rebuilt

    monkeypatch.setenv("GIGASTEP_JAX_CACHE", str(tmp_path / "other"))
    monkeypatch.setenv("CXX", str(tmp_path / "cxx"))
    (tmp_path / "cxx").write_text("#!/bin/sh\necho 'cxx: no such compiler flag' >&2\nexit 1\n")
    (tmp_path / "cxx").chmod(0o755)
    assert native.library_path() != path  # the compiler is part of the key
    with pytest.raises(RuntimeError, match="(?s)building rgb_frames.cc failed.*no such compiler flag"):
        native.build()
    assert not any((tmp_path / "other").iterdir())  # the failed output was removed

    blocked = tmp_path / "file"
    blocked.write_text("")
    monkeypatch.delenv("CXX")
    monkeypatch.setenv("GIGASTEP_JAX_CACHE", str(blocked / "cache"))  # under a file: cannot be made
    with pytest.raises(RuntimeError, match="cannot write the library to .*set GIGASTEP_JAX_CACHE"):
        native.build()
