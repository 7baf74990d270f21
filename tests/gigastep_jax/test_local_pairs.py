"""The large-battle (local, cell-list) path gives the all-pairs path's numbers.

Both paths apply the scenario's sight radius, so on the same states they must agree exactly
(health within float summation order) whenever no window overflows. The states are built to
stress the grid: a crowd in one cell, agents exactly on cell borders, enemies facing each other
at damage range so that tracking, damage, deaths and collisions all happen.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gigastep_jax as gj
from gigastep_jax import rng
from gigastep_jax.neighbours import Grid, Pairs, candidates, compact

K = 50  # 50 v 50
SIDE = 22.4
R = 4.5
STEPS = 12


def _env(pairs: str, observability: str, discrete: bool = True, **options):
    b = gj.ScenarioBuilder("local_50_vs_50")
    b.add(0, "default", K - 10).add(0, "more_range", 10).add(1, "default", K - 10).add(1, "faster", 10)
    options = dict(dict(window=64, max_targets=16, max_detectors=16), **options)
    return b.make(arena=(SIDE, SIDE), sight_radius=R, pairs=pairs, observability=observability, discrete=discrete,
                  **options)


def _crowded_state(env, seed: int):
    """A reset state moved to crafted positions: 30 agents inside one grid cell (both teams), 20
    exactly on cell borders and corners, the rest spread out; headings face the crowd's centre."""
    state = jax.jit(env.reset_state)(jax.random.PRNGKey(seed))  # compiled: eager dispatch costs more
    grid = Grid.for_arena(env.scenario.arena, R, 64)
    r = np.random.default_rng(seed)
    n = env.n_agents
    x, y = r.uniform(0.5, SIDE - 0.5, n), r.uniform(0.5, SIDE - 0.5, n)
    crowd = r.permutation(n)[:30]  # both teams, interleaved
    cx, cy = 2 * grid.cell_w, 2 * grid.cell_h
    x[crowd], y[crowd] = cx + r.uniform(0.05, grid.cell_w - 0.05, 30), cy + r.uniform(0.05, grid.cell_h - 0.05, 30)
    border = np.setdiff1d(np.arange(n), crowd)[:20]
    x[border[:10]] = grid.cell_w * r.integers(1, grid.nx, 10)  # on vertical cell borders
    y[border[10:]] = grid.cell_h * r.integers(1, grid.ny, 10)  # on horizontal ones
    x[border[:3]], y[border[:3]] = grid.cell_w * 2, grid.cell_h * 3  # a corner, three times over
    x[border[:3]] += np.array([0.0, 0.45, 0.0]); y[border[:3]] += np.array([0.0, 0.0, 0.45])  # noqa: E702
    heading = np.arctan2(cy + grid.cell_h / 2 - y, cx + grid.cell_w / 2 - x) + r.normal(0, 0.3, n)
    z = r.uniform(0, 1.0, n)
    f32 = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
    return state.replace(x=f32(x), y=f32(y), z=f32(z), heading=f32(np.mod(heading + np.pi, 2 * np.pi) - np.pi))


def _dense_tracked(env, state):
    n = env.n_agents
    return Pairs(n, state.tracked_target, state.tracked > 0).to_dense(state.tracked)


@functools.lru_cache(maxsize=None)
def _rollout(pairs: str, observability: str, discrete: bool, seed: int):
    env = _env(pairs, observability, discrete)
    policy = gj.policies.chaser

    @jax.jit
    def run(state, key):
        def body(state, k):
            action = policy(jax.random.fold_in(k, 1), env, state)
            obs, new, reward, done, info = env.step(k, state, action)
            p = env.pairs(new)
            record = dict(obs=obs, reward=reward, done=done, action=action, x=new.x, y=new.y, z=new.z, v=new.v,
                          heading=new.heading, health=new.health, alive=new.alive, damage_taken=new.damage_taken,
                          detected=p.to_dense(new.detected), tracked=_dense_tracked(env, new) if not p.dense else new.tracked,
                          cause=info["death_cause"], winner=info["winner"],
                          dropped=info.get("pairs_dropped", jnp.int32(0)))
            return new, record

        return jax.lax.scan(body, state, jax.random.split(key, STEPS))[1]

    out = run(_crowded_state(env, seed), jax.random.PRNGKey(100 + seed))
    return {k: np.asarray(v) for k, v in out.items()}


# Partial observability in the default suite: it runs every rule full observability does, and sharing.
@pytest.mark.parametrize("observability,discrete", [pytest.param("fobs", True, marks=pytest.mark.slow), ("pobs", True),
                                                    pytest.param("pobs", False, marks=pytest.mark.slow)])
def test_local_path_gives_the_all_pairs_numbers(observability, discrete):
    dense = _rollout("all", observability, discrete, 0)
    local = _rollout("local", observability, discrete, 0)
    assert local["dropped"].max() == 0  # the windows held every candidate: the paths must agree
    for name in ("action", "x", "y", "z", "v", "heading", "alive", "detected", "tracked", "cause", "winner", "done"):
        np.testing.assert_array_equal(local[name], dense[name], err_msg=name)
    for name in ("obs", "reward", "health", "damage_taken"):  # summed in another order: float tolerance
        np.testing.assert_allclose(local[name], dense[name], rtol=1e-5, atol=1e-6, err_msg=name)
    # The crafted states exercise every rule: collisions, damage deaths after tracking, detection.
    assert (dense["cause"] == gj.env.DEATH_COLLISION).any()
    assert (dense["cause"] == gj.env.DEATH_DAMAGE).any() and dense["tracked"].max() >= 5
    assert dense["detected"].any(axis=(1, 2)).all()


@pytest.mark.parametrize("observability,option", [("fobs", dict(window=4)), ("fobs", dict(max_targets=1)),
                                                  ("pobs", dict(max_detectors=1))])
def test_a_full_window_is_reported_not_hidden(observability, option):
    """Slots too few for the crowd (candidates, tracked targets, detectors) drop pairs:
    info["pairs_dropped"] says how many."""
    env = _env("local", observability, **option)
    state = _crowded_state(env, 1)
    *_, info = jax.jit(env.step)(jax.random.PRNGKey(0), state, jnp.full(env.n_agents, 13))
    assert int(info["pairs_dropped"]) > 0
    roomy = _env("local", observability)
    *_, info = jax.jit(roomy.step)(jax.random.PRNGKey(0), _crowded_state(roomy, 1), jnp.full(env.n_agents, 13))
    assert int(info["pairs_dropped"]) == 0


def test_window_candidates_overflow_is_counted():
    env = _env("local", "fobs", window=4)
    state = _crowded_state(env, 1)
    grid = Grid.for_arena(env.scenario.arena, R, 4)
    _, ok, dropped = candidates(state.x, state.y, state.alive, grid)
    assert int(dropped) > 0 and ok.sum(axis=1).max() <= grid.slots


def test_candidates_hold_every_agent_within_the_radius():
    """Agents at random and on cell borders: each one's candidates hold every other agent within
    the radius (checked against all pairs) and nothing twice."""
    r = np.random.default_rng(3)
    n, side = 400, 30.0
    x = r.uniform(0, side, n).astype(np.float32)
    y = r.uniform(0, side, n).astype(np.float32)
    grid = Grid.for_arena((side, side), 4.0, 64)
    x[:40] = grid.cell_w * r.integers(0, grid.nx + 1, 40)
    valid = r.uniform(size=n) > 0.1
    target, ok, dropped = jax.jit(candidates, static_argnums=3)(jnp.asarray(x), jnp.asarray(y), jnp.asarray(valid), grid)
    target, ok = np.asarray(target), np.asarray(ok)
    assert int(dropped) == 0
    d2 = (x[None] - x[:, None]) ** 2 + (y[None] - y[:, None]) ** 2
    for o in range(n):
        found = target[o][ok[o]]
        assert len(set(found.tolist())) == len(found) and o not in found and valid[found].all()
        within = np.flatnonzero((d2[o] <= 16.0) & valid & (np.arange(n) != o))
        assert set(within.tolist()) <= set(found.tolist()), o


def test_compact_keeps_the_first_flagged_in_order():
    flags = jnp.asarray([[0, 1, 0, 1, 1, 1], [0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 1]], bool)
    values = jnp.arange(18).reshape(3, 6)
    got, present = compact(flags, values, 3)
    np.testing.assert_array_equal(np.asarray(present), [[1, 1, 1], [0, 0, 0], [1, 1, 0]])
    np.testing.assert_array_equal(np.asarray(got)[np.asarray(present)], [1, 3, 4, 12, 17])


def test_uniform_at_draws_the_dense_numbers():
    key = jax.random.PRNGKey(5)
    dense = np.asarray(rng.uniform(key, (7, 9), rng.STREAM_DETECT))
    i = jnp.asarray([[0, 8], [62, 13]], jnp.uint32)
    np.testing.assert_array_equal(np.asarray(rng.uniform_at(key, i, rng.STREAM_DETECT)), dense.reshape(-1)[np.asarray(i)])


def test_auto_picks_the_path_and_bad_options_are_named():
    assert gj.make("identical_1000_vs_1000_fobs_vec_void_disc").scenario.local_pairs
    assert gj.make("identical_1000_vs_1000_fobs_rgb_void_disc").scenario.local_pairs  # shared view
    assert not gj.make("identical_1000_vs_1000_pobs_rgb_void_disc").scenario.local_pairs  # per-ego images
    assert not gj.make("identical_20_vs_20_fobs_vec_void_disc").scenario.local_pairs  # no sight radius
    assert not gj.make("identical_1000_vs_1000_fobs_vec_void_disc", pairs="all").scenario.local_pairs
    with pytest.raises(ValueError, match="needs a sight_radius"):
        gj.make("identical_20_vs_20_fobs_vec_void_disc", pairs="local")
    with pytest.raises(ValueError, match="pairs must be one of"):
        gj.make("identical_20_vs_20_fobs_vec_void_disc", pairs="sparse")
    with pytest.raises(ValueError, match="sight_radius must be a number > 0"):
        gj.make("identical_20_vs_20_fobs_vec_void_disc", sight_radius=-1.0)
    with pytest.raises(ValueError, match="window must be an int >= 1"):
        gj.make("identical_100_vs_100_fobs_vec_void_disc", window=0)


def _shapes(jaxpr, out):
    for eqn in jaxpr.eqns:
        for v in list(eqn.invars) + list(eqn.outvars):
            if hasattr(v, "aval") and hasattr(v.aval, "shape"):
                out.add(tuple(v.aval.shape))
        for sub in jax.core.jaxprs_in_params(eqn.params) if hasattr(jax.core, "jaxprs_in_params") else ():
            _shapes(sub, out)
        for p in eqn.params.values():
            inner = getattr(p, "jaxpr", p)
            if hasattr(inner, "eqns"):
                _shapes(inner, out)
    return out


@pytest.mark.parametrize("observability", ["fobs", "pobs"])
def test_no_n_by_n_array_on_the_large_path(observability):
    """Every array a 1000 v 1000 step (and the chaser) builds, traced: none has two axes of N (the
    largest, partial observability's sharing, is [N, C, C]: linear in N)."""
    env = gj.make(f"identical_1000_vs_1000_{observability}_vec_void_disc")
    n = env.n_agents

    def step(key, state):
        action = gj.policies.chaser(key, env, state)
        return env.step(key, state, action)

    key = jax.random.PRNGKey(0)
    state = jax.eval_shape(env.reset_state, key)
    shapes = set()
    for f, args in ((env.reset, (key,)), (step, (key, state))):
        _shapes(jax.make_jaxpr(f)(*args).jaxpr, shapes)
    big = [s for s in shapes if sum(d >= n for d in s) >= 2]
    assert not big, big
