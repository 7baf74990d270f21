"""Wrappers: auto-reset, episode statistics and a batched (vmapped) environment.

Every wrapper keeps the `Env` API (reset, step) and passes other attributes through.
"""

from __future__ import annotations

from typing import Any

import chex
import jax
import jax.numpy as jnp
from flax import struct

from gigastep_jax.env import Env
from gigastep_jax.state import EnvParams, EnvState


def select_tree(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
    """Per-leaf `where(pred, a, b)` for a scalar predicate (one environment)."""
    return jax.tree_util.tree_map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


def _where_batch(pred: jax.Array, a: jax.Array, b: jax.Array) -> jax.Array:
    return jnp.where(pred.reshape(pred.shape + (1,) * (a.ndim - pred.ndim)), a, b)


class _Wrapper:
    def __init__(self, env):
        self.env = env

    def __getattr__(self, name: str) -> Any:
        return getattr(self.env, name)


class AutoReset(_Wrapper):
    """Each finished episode restarts by itself, in the same call, from a freshly drawn state.

    The returned observation is the new episode's first; `info["final_obs"]` holds the last
    observation of the finished episode (equal to `obs` where no episode ended), for bootstrapping
    on truncation. `final_obs=False` skips it (one observation per step instead of two).
    Works under `vmap`: each environment of a batch resets on its own, never the whole batch.
    """

    def __init__(self, env: Env, final_obs: bool = True):
        super().__init__(env)
        self.final_obs = final_obs

    def reset(self, key: chex.PRNGKey, params: EnvParams | None = None):
        return self.env.reset(key, params)

    def step(self, key: chex.PRNGKey, state: EnvState, action: jax.Array, params: EnvParams | None = None):
        # Each key feeds draws of distinct `rng` streams (transition / observe, reset / observe).
        k_step, k_reset = jax.random.split(key)
        end_state, reward, done, info = self.env.transition(k_step, state, action, params)
        episode_done = info["terminated"] | info["truncated"]
        state = select_tree(episode_done, self.env.reset_state(k_reset, params), end_state)
        obs = self.env.observe(k_reset, state, params)
        if self.final_obs:
            final = self.env.observe(k_step, end_state, params)
            info = dict(info, final_obs=jnp.where(episode_done, final, obs))
        return obs, state, reward, done, info


@struct.dataclass
class EpisodeStatsState:
    env_state: Any
    episode_return: jax.Array  # float32[N] return so far in the running episode
    episode_length: jax.Array  # int32[]
    returned_episode_return: jax.Array  # float32[N] of the last finished episode
    returned_episode_length: jax.Array  # int32[]
    returned_winner: jax.Array  # int32[] winner of the last finished episode (-2 before any)
    episodes: jax.Array  # int32[] finished episodes so far


class EpisodeStats(_Wrapper):
    """Adds episode return, length and winner to `info` (wrap an `AutoReset` env).

    info["returned_episode"] bool[] marks steps that finished an episode; "episode_return" float32[N],
    "episode_length" int32[] and "episode_winner" int32[] hold the last finished episode's values.
    """

    def reset(self, key: chex.PRNGKey, params: EnvParams | None = None):
        obs, env_state = self.env.reset(key, params)
        n = self.env.n_agents
        state = EpisodeStatsState(
            env_state=env_state,
            episode_return=jnp.zeros(n, jnp.float32),
            episode_length=jnp.int32(0),
            returned_episode_return=jnp.zeros(n, jnp.float32),
            returned_episode_length=jnp.int32(0),
            returned_winner=jnp.int32(-2),
            episodes=jnp.int32(0),
        )
        return obs, state

    def step(self, key: chex.PRNGKey, state: EpisodeStatsState, action: jax.Array, params: EnvParams | None = None):
        obs, env_state, reward, done, info = self.env.step(key, state.env_state, action, params)
        ended = info["terminated"] | info["truncated"]
        ret = state.episode_return + reward
        length = state.episode_length + 1
        state = EpisodeStatsState(
            env_state=env_state,
            episode_return=jnp.where(ended, 0.0, ret),
            episode_length=jnp.where(ended, 0, length),
            returned_episode_return=jnp.where(ended, ret, state.returned_episode_return),
            returned_episode_length=jnp.where(ended, length, state.returned_episode_length),
            returned_winner=jnp.where(ended, info["winner"], state.returned_winner),
            episodes=state.episodes + ended.astype(jnp.int32),
        )
        info = dict(
            info,
            returned_episode=ended,
            episode_return=state.returned_episode_return,
            episode_length=state.returned_episode_length,
            episode_winner=state.returned_winner,
        )
        return obs, state, reward, done, info


class BatchedEnv(_Wrapper):
    """`batch_size` auto-resetting environments stepped as one: obs [B, N, ...], reward [B, N].

    Unlike `vmap(AutoReset(env).step)`, which resets and observes every finished-or-not environment
    twice, this draws fresh states and final observations only for the environments that finished:
    up to `final_obs_capacity` of them are gathered (all B when more finish in one step).
    """

    def __init__(self, env: Env, batch_size: int, final_obs: bool = True, final_obs_capacity: int | None = None):
        super().__init__(env)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.batch_size = batch_size
        self.final_obs = final_obs
        cap = final_obs_capacity if final_obs_capacity is not None else max(1, batch_size // 16)
        if not isinstance(cap, int) or not 1 <= cap <= batch_size:
            raise ValueError(f"final_obs_capacity must be an int in 1..{batch_size}, got {cap!r}")
        self.final_obs_capacity = cap

    def reset(self, key: chex.PRNGKey, params: EnvParams | None = None):
        keys = jax.random.split(key, self.batch_size)
        return jax.vmap(self.env.reset, in_axes=(0, None))(keys, params)

    def step(self, key: chex.PRNGKey, state: EnvState, action: jax.Array, params: EnvParams | None = None):
        b = self.batch_size
        chex.assert_shape(action, (b,) + tuple(self.env.action_shape))
        # As in AutoReset: each key feeds distinct `rng` streams, so two keys per env suffice.
        keys = jax.random.split(key, 2 * b).reshape(2, b, -1)
        end_state, reward, done, info = jax.vmap(self.env.transition, in_axes=(0, 0, 0, None))(
            keys[0], state, action, params
        )
        episode_done = info["terminated"] | info["truncated"]
        state = self._restart(keys[1], end_state, episode_done, params)
        observe = jax.vmap(self.env.observe, in_axes=(0, 0, None))
        obs = observe(keys[1], state, params)
        if self.final_obs:
            info = dict(info, final_obs=self._final_obs(keys[0], end_state, episode_done, obs, params))
        return obs, state, reward, done, info

    def _restart(self, keys, end_state, episode_done, params):
        """end_state with each finished env replaced by reset_state(keys[i]): fresh states are
        drawn for the finished envs only (up to `final_obs_capacity` of them gathered; all B when
        more finish in one step), the same states a full vmapped reset would select."""
        b, cap = self.batch_size, self.final_obs_capacity
        reset = jax.vmap(self.env.reset_state, in_axes=(0, None))

        def compact(_):
            (idx,) = jnp.nonzero(episode_done, size=cap, fill_value=b)
            fresh = reset(keys[jnp.minimum(idx, b - 1)], params)
            return jax.tree_util.tree_map(lambda a, f: a.at[idx].set(f, mode="drop"), end_state, fresh)

        def full(_):
            fresh = reset(keys, params)
            return jax.tree_util.tree_map(lambda a, f: _where_batch(episode_done, f, a), end_state, fresh)

        return jax.lax.cond(episode_done.sum() <= cap, compact, full, None)

    def _final_obs(self, keys, end_state, episode_done, obs, params):
        b, cap = self.batch_size, self.final_obs_capacity
        observe = jax.vmap(self.env.observe, in_axes=(0, 0, None))

        def compact(_):
            (idx,) = jnp.nonzero(episode_done, size=cap, fill_value=b)
            safe = jnp.minimum(idx, b - 1)
            sub = jax.tree_util.tree_map(lambda a: a[safe], end_state)
            final = observe(keys[safe], sub, params)
            return obs.at[idx].set(final, mode="drop")  # fill entries (index b) are dropped

        def full(_):
            return _where_batch(episode_done, observe(keys, end_state, params), obs)

        return jax.lax.cond(episode_done.sum() <= cap, compact, full, None)
