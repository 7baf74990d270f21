"""The opponent pool: a ring buffer of snapshots with per-opponent results, drawn inside jit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from algorithms.marl import opponent_pool


def params(v):
    return {"w": jnp.full((2, 3), v, jnp.float32), "b": jnp.full((3,), v, jnp.float32)}


def test_ring_buffer_overwrites_the_oldest():
    pool = opponent_pool.init(params(0.0), size=3, n_scripted=2)
    assert pool.score.shape == (5,) and not bool(pool.valid.any())
    for u in range(1, 5):
        pool = opponent_pool.add(pool, params(float(u)), jnp.int32(u))
    # slots hold snapshots 4, 2, 3 (4 overwrote 1)
    np.testing.assert_array_equal(pool.params["b"][:, 0], [4.0, 2.0, 3.0])
    np.testing.assert_array_equal(pool.added, [4, 2, 3])
    assert bool(pool.valid.all()) and int(pool.next_slot) == 1


def test_record_and_pfsp_prefer_what_the_learner_loses_to():
    pool = opponent_pool.init(params(0.0), size=2, n_scripted=1)
    pool = opponent_pool.add(opponent_pool.add(pool, params(1.0), jnp.int32(1)), params(2.0), jnp.int32(2))
    # groups: SELF (ignored), slot 0 won 9 of 10, slot 1 won 1 of 10, fixed (index 2) 5 of 10
    opp = jnp.array([opponent_pool.SELF, 0, 1, 2])
    pool = opponent_pool.record(pool, opp, jnp.array([7.0, 9.0, 1.0, 5.0]), jnp.array([10.0, 10.0, 10.0, 10.0]), decay=1.0)
    np.testing.assert_allclose(opponent_pool.win_rate(pool), [10 / 12, 2 / 12, 6 / 12])
    w = np.asarray(opponent_pool.weights(pool, "pfsp", 1))
    assert w[1] > w[2] > w[0] > 0
    np.testing.assert_allclose(w[:3] / w[1], [(2 / 12) ** 2 / (10 / 12) ** 2, 1.0, (6 / 12) ** 2 / (10 / 12) ** 2], rtol=1e-4)
    draws = opponent_pool.draw(jax.random.PRNGKey(0), pool, 4000, "pfsp", 1)
    freq = np.bincount(np.asarray(draws), minlength=3) / 4000
    np.testing.assert_allclose(freq, w / w.sum(), atol=0.03)


def test_latest_and_uniform():
    pool = opponent_pool.init(params(0.0), size=3, n_scripted=1)
    pool = opponent_pool.add(opponent_pool.add(pool, params(1.0), jnp.int32(5)), params(2.0), jnp.int32(9))
    assert set(np.asarray(opponent_pool.draw(jax.random.PRNGKey(1), pool, 200, "latest", 1)).tolist()) == {1}
    uni = np.asarray(opponent_pool.draw(jax.random.PRNGKey(2), pool, 3000, "uniform", 1))
    assert set(uni.tolist()) == {0, 1, 3}  # slot 2 is empty; index 3 is the scripted opponent
    np.testing.assert_allclose(np.bincount(uni, minlength=4)[[0, 1, 3]] / 3000, 1 / 3, atol=0.04)


def test_empty_pool_without_scripted_opponents_plays_self():
    pool = opponent_pool.init(params(0.0), size=2, n_scripted=0)
    assert set(np.asarray(opponent_pool.draw(jax.random.PRNGKey(0), pool, 16, "pfsp", 0)).tolist()) == {opponent_pool.SELF}


def test_opponent_params_pick_snapshots_and_fall_back_to_the_learner():
    pool = opponent_pool.init(params(0.0), size=2, n_scripted=1)
    pool = opponent_pool.add(opponent_pool.add(pool, params(1.0), jnp.int32(1)), params(2.0), jnp.int32(2))
    got = opponent_pool.opponent_params(pool, params(9.0), jnp.array([1, 0, opponent_pool.SELF, 2]))
    np.testing.assert_array_equal(got["b"][:, 0], [2.0, 1.0, 9.0, 9.0])


def test_draw_runs_inside_jit():
    pool = opponent_pool.init(params(0.0), size=2, n_scripted=2)
    f = jax.jit(lambda k, p: opponent_pool.draw(k, p, 3, "pfsp", 2))
    out = f(jax.random.PRNGKey(0), pool)
    assert out.shape == (3,) and out.dtype == jnp.int32 and bool(((out >= 2) & (out < 4)).all())


def test_scripted_only_draws_skip_the_snapshots():
    pool = opponent_pool.init(params(0.0), size=2, n_scripted=2)
    pool = opponent_pool.add(opponent_pool.add(pool, params(1.0), jnp.int32(1)), params(2.0), jnp.int32(2))
    # the learner loses every game to the snapshots and wins every one against scripted opponent 0
    pool = opponent_pool.record(pool, jnp.array([0, 1, 2]), jnp.array([0.0, 0.0, 10.0]), jnp.array([10.0, 10.0, 10.0]), 1.0)
    for sampling in opponent_pool.SAMPLING:
        w = np.asarray(opponent_pool.weights(pool, sampling, 2, snapshots=False))
        assert (w[:2] == 0).all() and (w[2:] > 0).all(), (sampling, w)
    draws = np.asarray(opponent_pool.draw(jax.random.PRNGKey(1), pool, 2000, "pfsp", 2, snapshots=False))
    assert set(draws.tolist()) <= {2, 3}
    assert (draws == 3).mean() > 0.9  # PFSP among the scripted ones: the one the learner does not beat


def test_a_frozen_pool_holds_its_opponents_in_every_slot():
    stacked = jax.tree_util.tree_map(lambda *a: jnp.stack(a), params(1.0), params(2.0), params(2.0))
    pool = opponent_pool.frozen(stacked)
    assert bool(pool.valid.all()) and pool.score.shape == (3,)
    np.testing.assert_array_equal(pool.params["b"][:, 0], [1.0, 2.0, 2.0])
    draws = opponent_pool.draw(jax.random.PRNGKey(0), pool, 300, "uniform", 0)
    assert set(np.asarray(draws).tolist()) == {0, 1, 2}  # every slot, never SELF
