"""AutoReset (under vmap), BatchedEnv (its final observations, both gathering paths) and EpisodeStats.

Full-observability scenarios without waypoints are deterministic given state and action, so the
terminal state and its observation can be recomputed with `env.transition` and `env.observe`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gigastep_jax as gj

B = 4
STILL = 13


@pytest.fixture(scope="module")
def env():
    """2v2, time limit 5: an episode ends when its counter t reaches 5."""
    return gj.make("identical_2_vs_2_fobs_vec_void_disc", max_steps=5)


@pytest.fixture(scope="module")
def reference(env):
    """Jitted (state, action, new_state) -> terminal state, its reward, its observation and the
    observation of new_state, all batched: what the wrappers should have produced."""

    @jax.jit
    def run(state, action, new_state):
        ks = keys(9)
        end_state, end_reward, _, _ = jax.vmap(env.transition)(ks, state, action)
        observe = jax.vmap(env.observe)
        return end_state, end_reward, observe(ks, end_state), observe(ks, new_state)

    return run


def keys(seed: int, n: int = B):
    return jax.random.split(jax.random.PRNGKey(seed), n)


def with_t(state, t):
    return state.replace(t=jnp.asarray(t, jnp.int32))


ACTIONS = jnp.full((B, 4), STILL, jnp.int32)


def test_auto_reset_restarts_only_finished_envs(env, reference):
    wrapped = gj.AutoReset(env)
    reset, step = jax.jit(jax.vmap(wrapped.reset)), jax.jit(jax.vmap(wrapped.step))
    _, start = reset(keys(0))
    state = with_t(start, [0, 2, 4, 4])  # envs 2 and 3 reach the time limit with this step
    obs, new, reward, done, info = step(keys(1), state, ACTIONS)
    ended = np.array([False, False, True, True])
    np.testing.assert_array_equal(np.asarray(info["truncated"]), ended)
    np.testing.assert_array_equal(np.asarray(new.t), [1, 3, 0, 0])
    np.testing.assert_array_equal(np.asarray(done), np.repeat(ended[:, None], 4, axis=1))
    end_state, end_reward, terminal_obs, new_obs = reference(state, ACTIONS, new)
    np.testing.assert_array_equal(np.asarray(reward), np.asarray(end_reward))
    x, end_x, start_x = np.asarray(new.x), np.asarray(end_state.x), np.asarray(start.x)
    # running envs went on from where they were
    np.testing.assert_array_equal(x[:2], end_x[:2])
    # finished envs start afresh: new draws, different from each other and from their first episode
    assert not np.allclose(x[2], x[3])
    assert not np.allclose(x[2], start_x[2]) and not np.allclose(x[3], start_x[3])
    assert not np.allclose(x[2:], end_x[2:])
    assert np.asarray(new.alive)[2:].all() and (np.asarray(new.health)[2:] == 1.0).all()
    # the observation is the new episode's first; final_obs the terminal state's
    np.testing.assert_array_equal(np.asarray(obs), np.asarray(new_obs))
    final = np.asarray(info["final_obs"])
    np.testing.assert_array_equal(final[:2], np.asarray(obs)[:2])
    np.testing.assert_array_equal(final[2:], np.asarray(terminal_obs)[2:])
    assert not np.allclose(final[2:], np.asarray(obs)[2:])

    # The same envs finishing again (other keys) restart somewhere new each time: no cached first state
    state = with_t(start, [4, 4, 4, 4])
    starts = [np.asarray(step(keys(seed), state, ACTIONS)[1].x) for seed in (1, 2, 3)]
    for a, b in ((0, 1), (0, 2), (1, 2)):
        assert not np.allclose(starts[a], starts[b])


def test_auto_reset_keeps_counting_over_many_steps(env):
    """Random play, 12 steps of time limit 5: t never passes 5 and restarts at 0 after each end."""
    wrapped = gj.AutoReset(env, final_obs=False)

    @jax.jit
    def run(key):
        _, state = jax.vmap(wrapped.reset)(keys(0))

        def body(state, k):
            k_act, k_step = jax.random.split(k)
            action = jax.random.randint(k_act, (B, 4), 0, 27, dtype=jnp.int32)
            obs, state, reward, done, info = jax.vmap(wrapped.step)(jax.random.split(k_step, B), state, action)
            assert "final_obs" not in info
            return state, (state.t, info["terminated"] | info["truncated"])

        return jax.lax.scan(body, state, jax.random.split(key, 12))[1]

    t, ended = (np.asarray(a) for a in run(jax.random.PRNGKey(5)))
    assert t.max() <= 4
    np.testing.assert_array_equal(t[ended], 0)
    assert ended.sum(0).min() >= 2  # every env finished at least twice in 12 steps
    prev = np.concatenate([np.zeros((1, B), t.dtype), t[:-1]])
    np.testing.assert_array_equal(t[~ended], prev[~ended] + 1)


def test_batched_final_obs(env, reference):
    """BatchedEnv observes only the finished envs' terminal states, gathering up to
    final_obs_capacity (1) of them and observing every env when more finish at once."""
    wrapped = gj.BatchedEnv(env, B, final_obs_capacity=1)
    reset, step = jax.jit(wrapped.reset), jax.jit(wrapped.step)
    _, start = reset(jax.random.PRNGKey(0))
    assert start.x.shape == (B, 4)
    for t0 in (
        [0, 0, 0, 0],  # nobody finishes
        [0, 1, 4, 2],  # one finishes: gathered (capacity 1)
        [4, 0, 0, 4],  # two finish: more than the capacity, every env observed
        [4, 4, 4, 4],  # all finish
    ):
        state = with_t(start, t0)
        obs, new, reward, done, info = step(jax.random.PRNGKey(1), state, ACTIONS)
        ended = np.asarray(t0) == 4
        assert obs.shape == (B, 4, env.obs_shape[0]) and reward.shape == (B, 4)
        np.testing.assert_array_equal(np.asarray(info["truncated"]), ended)
        np.testing.assert_array_equal(np.asarray(new.t), np.where(ended, 0, np.asarray(t0) + 1))
        end_state, end_reward, terminal_obs, new_obs = reference(state, ACTIONS, new)
        np.testing.assert_array_equal(np.asarray(reward), np.asarray(end_reward))
        final = np.asarray(info["final_obs"])
        np.testing.assert_array_equal(final[ended], np.asarray(terminal_obs)[ended], err_msg=str(t0))
        np.testing.assert_array_equal(final[~ended], np.asarray(obs)[~ended], err_msg=str(t0))
        np.testing.assert_array_equal(np.asarray(obs), np.asarray(new_obs))
        if ended.any():
            assert not np.allclose(final[ended], np.asarray(obs)[ended])
    assert step._cache_size() == 1


def test_batched_rejects_wrong_action_shape(env):
    wrapped = gj.BatchedEnv(env, B)
    start = jax.eval_shape(wrapped.reset, jax.random.PRNGKey(0))[1]
    with pytest.raises(AssertionError, match=r"\(4, 4\)"):
        jax.eval_shape(wrapped.step, jax.random.PRNGKey(1), start, jnp.full((3, 4), STILL, jnp.int32))


def test_episode_stats():
    """Hide-and-seek (hiders earn 0.1 per step), time limit 8, 4 envs x 20 random steps: each
    finished episode's return, length and winner are what the steps add up to."""
    env = gj.make("hide_and_seek_5_vs_5_fobs_vec_void_disc", max_steps=8)
    stats = gj.EpisodeStats(gj.AutoReset(env))

    @jax.jit
    def run(key):
        k_reset, k_run = jax.random.split(key)
        _, state = jax.vmap(stats.reset)(jax.random.split(k_reset, B))

        def body(state, k):
            k_act, k_step = jax.random.split(k)
            action = jax.random.randint(k_act, (B, env.n_agents), 0, 27, dtype=jnp.int32)
            _, state, reward, _, info = jax.vmap(stats.step)(jax.random.split(k_step, B), state, action)
            return state, (reward, info)

        return jax.lax.scan(body, state, jax.random.split(k_run, 20))[1]

    reward, info = jax.tree_util.tree_map(np.asarray, run(jax.random.PRNGKey(3)))
    ended = info["terminated"] | info["truncated"]
    np.testing.assert_array_equal(info["returned_episode"], ended)
    finished = 0
    for b in range(B):
        ret, length = np.zeros(env.n_agents), 0
        last = (np.zeros(env.n_agents), 0, -2)
        for t in range(20):
            ret, length = ret + reward[t, b], length + 1
            if ended[t, b]:
                last = (ret, length, info["winner"][t, b])
                ret, length = np.zeros(env.n_agents), 0
                finished += 1
            np.testing.assert_allclose(info["episode_return"][t, b], last[0], rtol=1e-5, atol=1e-5)
            assert info["episode_length"][t, b] == last[1]
            assert info["episode_winner"][t, b] == last[2]
    assert finished >= 2 * B
    # episodes that ran to the time limit last 8 steps and go to the hiders (team B)
    timed_out = info["truncated"]
    np.testing.assert_array_equal(info["episode_length"][timed_out], 8)
    np.testing.assert_array_equal(info["episode_winner"][timed_out], 1)
    assert (info["episode_return"][ended][:, 5:] > 0).any()  # hiders earned something
