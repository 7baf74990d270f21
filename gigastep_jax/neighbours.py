"""Who is near whom without an N x N array: the large-battle ("local") path.

Every pairwise rule (collisions, detection, damage, sharing, the vector observation's rows) is
written once over pairs [observer, slot]. `Pairs` says what a slot is:

* all pairs (`Pairs.all(n)`): slot t is agent t, arrays are [N, N] (Gigastep's small battles);
* local pairs (`Pairs.local(...)`): slot c of observer o is one of o's candidates, the agents in
  the 3 x 3 grid cells around o's cell, arrays are [N, C] with C = 3 * window.

Candidates come from cell lists: agents are sorted by the cell they are in (row-major), so the
three cells of one grid row around any cell are a contiguous run of the sorted order, and each
agent reads three runs (the grid rows above, at and below its own) through a window of `window`
agents. Cells are at least `sight_radius` wide, so every agent within the radius is a candidate
unless a run holds more than `window` agents (counted as dropped: `info["pairs_dropped"]`).
Both paths apply the radius (no pair farther apart interacts), so on the same state they give
the same numbers whenever nothing is dropped (tests/gigastep_jax/test_local_pairs.py).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from gigastep_jax import rng


@dataclasses.dataclass(frozen=True)
class Grid:
    """Static cell-list geometry: nx x ny cells of cell_w x cell_h (each >= radius)."""

    radius: float
    nx: int
    ny: int
    cell_w: float
    cell_h: float
    window: int  # agents read per run of three cells

    @classmethod
    def for_arena(cls, arena: tuple[float, float], radius: float, window: int) -> "Grid":
        nx, ny = (max(1, int(math.floor(side / radius))) for side in arena)
        return cls(float(radius), nx, ny, arena[0] / nx, arena[1] / ny, int(window))

    @property
    def slots(self) -> int:
        """C, candidates per agent."""
        return 3 * self.window


def candidates(x, y, valid, grid: Grid) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Each agent's candidates: (target int32[N, C], ok bool[N, C], dropped int32[]).

    x, y float32[N]; valid bool[N]: the agents that can be candidates (every agent, dead ones
    included, gets its list: the all-pairs path shows a dead ego the agents around it too).
    target[o, c] is an agent index where ok[o, c] (never o itself), o where not. dropped counts
    candidates that did not fit a window.
    """
    n = x.shape[0]
    n_cells = grid.nx * grid.ny
    cx = jnp.clip(jnp.floor(x / grid.cell_w).astype(jnp.int32), 0, grid.nx - 1)
    cy = jnp.clip(jnp.floor(y / grid.cell_h).astype(jnp.int32), 0, grid.ny - 1)
    cell = jnp.where(valid, cy * grid.nx + cx, n_cells)  # the invalid sort last, in no run
    order = jnp.argsort(cell).astype(jnp.int32)
    counts = jnp.zeros(n_cells + 1, jnp.int32).at[cell].add(1)
    start = jnp.cumsum(counts) - counts
    left, right = jnp.maximum(cx - 1, 0), jnp.minimum(cx + 1, grid.nx - 1)
    ids = jnp.arange(n, dtype=jnp.int32)
    slot = jnp.arange(grid.window, dtype=jnp.int32)
    targets, oks, dropped = [], [], jnp.int32(0)
    for dy in (-1, 0, 1):
        row = cy + dy
        inside = (row >= 0) & (row < grid.ny)
        row = jnp.clip(row, 0, grid.ny - 1)
        lo = start[row * grid.nx + left]
        hi = start[row * grid.nx + right] + counts[row * grid.nx + right]
        length = jnp.where(inside, hi - lo, 0)
        t = order[jnp.minimum(lo[:, None] + slot[None, :], n - 1)]
        ok = (slot[None, :] < length[:, None]) & (t != ids[:, None])
        targets.append(jnp.where(ok, t, ids[:, None]))
        oks.append(ok)
        dropped = dropped + jnp.maximum(length - grid.window, 0).sum()
    return jnp.concatenate(targets, axis=1), jnp.concatenate(oks, axis=1), dropped


@dataclasses.dataclass(frozen=True)
class Pairs:
    """The pairs [observer, slot] one step works on (not a pytree: built inside a traced function).

    n: agents. target: None for all pairs (slot t is agent t), else int32[N, C] (the observer
    itself in empty slots). ok: None, or bool[N, C] for slots holding a candidate. radius: pairs
    farther apart than this do not interact (None: no limit, Gigastep's rule).
    """

    n: int
    target: jax.Array | None = None
    ok: jax.Array | None = None
    radius: float | None = None

    @classmethod
    def all(cls, n: int, radius: float | None = None) -> "Pairs":
        return cls(n, None, None, radius)

    @property
    def dense(self) -> bool:
        return self.target is None

    @property
    def width(self) -> int:
        return self.n if self.dense else self.target.shape[1]

    def of_target(self, a: jax.Array) -> jax.Array:
        """[N, ...] per-agent values -> [N, P, ...]: each slot's target's (a broadcast when dense)."""
        if self.dense:
            return jnp.broadcast_to(a[None], (self.n,) + a.shape)
        return a[self.target]

    def other(self) -> jax.Array:
        """bool[N, P]: the slot holds another agent."""
        return ~jnp.eye(self.n, dtype=bool) if self.dense else self.ok

    def near(self, d2: jax.Array) -> jax.Array | None:
        """bool[N, P] pairs within the radius (None: every pair, no mask needed)."""
        if self.radius is None:
            return None if self.dense else self.ok
        within = d2 <= np.float32(self.radius) ** 2
        return within if self.dense else within & self.ok

    def uniform(self, key: jax.Array, stream: int) -> jax.Array:
        """float32[N, P]: the uniform drawn for pair (observer, target), the same on both paths."""
        if self.dense:
            return rng.uniform(key, (self.n, self.n), stream)
        observer = jnp.arange(self.n, dtype=jnp.uint32)[:, None]
        return rng.uniform_at(key, observer * np.uint32(self.n) + self.target.astype(jnp.uint32), stream)

    def sum_per_target(self, v: jax.Array) -> jax.Array:
        """float32[N]: sum over observers of v float32[N, P] for each target agent."""
        if self.dense:
            return v.sum(axis=0)
        return jax.ops.segment_sum(v.reshape(-1), self.target.reshape(-1), num_segments=self.n)

    def to_dense(self, v: jax.Array, fill=0) -> jax.Array:
        """[N, N] from [N, P] values (for tests and inspection only: it is the N x N array)."""
        if self.dense:
            return v
        rows = jnp.broadcast_to(jnp.arange(self.n)[:, None], self.target.shape)
        cols = jnp.where(self.ok, self.target, self.n)
        return jnp.full((self.n, self.n), fill, v.dtype).at[rows, cols].set(v, mode="drop")


def compact(flags: jax.Array, values: jax.Array, slots: int) -> tuple[jax.Array, jax.Array]:
    """The first `slots` flagged entries of each row: (values [N, slots], present bool[N, slots]).

    flags bool[N, C], values [N, C]. A compare per (slot, entry) instead of a scatter (XLA's CPU
    scatter is a serial loop, 3x slower here at slots = 4).
    """
    rank = jnp.cumsum(flags.astype(jnp.int32), axis=1)  # 1-based rank of each flagged entry
    s = jnp.arange(1, slots + 1, dtype=jnp.int32)
    hit = flags[:, None, :] & (rank[:, None, :] == s[None, :, None])  # [N, slots, C]
    where = jnp.argmax(hit, axis=2)
    return jnp.take_along_axis(values, where, axis=1), hit.any(axis=2)
