"""Spaces in gymnax's style: what an observation or an action may be, with `sample` and `contains`.

    env.action_space()          # Discrete(27) per agent, or Box(-1, 1, (3,), float32)
    env.action_space(team=True) # the same over the agent axis: Box(0, 26, (N,), int32) / Box(-1, 1, (N, 3))
    env.observation_space()     # Box(-inf, inf, (F,), float32) or Box(0, 255, (R, R, 3), uint8)

Both are plain frozen dataclasses (hashable, usable as static arguments); `sample(key)` is jittable.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np


@dataclass(frozen=True)
class Discrete:
    """The integers 0..n-1 (one agent's discrete action)."""

    n: int
    shape: tuple[int, ...] = ()
    dtype: type = jnp.int32

    def sample(self, key: jax.Array) -> jax.Array:
        return jax.random.randint(key, self.shape, 0, self.n, dtype=self.dtype)

    def contains(self, x) -> bool:
        x = np.asarray(x)
        return x.shape == self.shape and np.issubdtype(x.dtype, np.integer) and bool(((x >= 0) & (x < self.n)).all())


@dataclass(frozen=True)
class Box:
    """Arrays of `shape` and `dtype` with every entry in [low, high]."""

    low: float
    high: float
    shape: tuple[int, ...]
    dtype: type = jnp.float32

    def sample(self, key: jax.Array) -> jax.Array:
        if jnp.issubdtype(self.dtype, jnp.integer):
            return jax.random.randint(key, self.shape, int(self.low), int(self.high) + 1, dtype=self.dtype)
        low, high = (np.clip(v, -1e6, 1e6) for v in (self.low, self.high))  # an unbounded side samples wide
        return jax.random.uniform(key, self.shape, self.dtype, low, high)

    def contains(self, x) -> bool:
        x = np.asarray(x)
        return (x.shape == self.shape and np.dtype(x.dtype) == np.dtype(self.dtype)
                and bool(((x >= self.low) & (x <= self.high)).all()))
