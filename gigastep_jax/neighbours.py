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
    order, sorted_cell = _sort_by_cell(cell, n_cells)
    # start[c]: where cell c's agents begin in the sorted order (a binary search per cell; a
    # cumsum of counts is a reduce-window on CPU, O(cells^2)).
    start = jnp.searchsorted(sorted_cell, jnp.arange(n_cells + 2, dtype=jnp.int32)).astype(jnp.int32)
    left, right = jnp.maximum(cx - 1, 0), jnp.minimum(cx + 1, grid.nx - 1)
    ids = jnp.arange(n, dtype=jnp.int32)
    slot = jnp.arange(grid.window, dtype=jnp.int32)
    targets, oks, dropped = [], [], jnp.int32(0)
    for dy in (-1, 0, 1):
        row = cy + dy
        inside = (row >= 0) & (row < grid.ny)
        row = jnp.clip(row, 0, grid.ny - 1)
        lo = start[row * grid.nx + left]
        hi = start[row * grid.nx + right + 1]
        length = jnp.where(inside, hi - lo, 0)
        t = order[jnp.minimum(lo[:, None] + slot[None, :], n - 1)]
        ok = (slot[None, :] < length[:, None]) & (t != ids[:, None])
        targets.append(jnp.where(ok, t, ids[:, None]))
        oks.append(ok)
        dropped = dropped + jnp.maximum(length - grid.window, 0).sum()
    return jnp.concatenate(targets, axis=1), jnp.concatenate(oks, axis=1), dropped


def _sort_by_cell(cell: jax.Array, n_cells: int) -> tuple[jax.Array, jax.Array]:
    """(int32[N] agent indices ordered by cell, then by index; int32[N] their cells). One int32
    key per agent, the cell above the index bits, sorted alone: cheaper than argsort's (key,
    iota) pair sort on CPU."""
    n = cell.shape[0]
    bits = max(1, (n - 1).bit_length())
    if (n_cells + 1) << bits < 2**31:
        key = jnp.sort((cell << bits) | jnp.arange(n, dtype=jnp.int32))
        return key & np.int32((1 << bits) - 1), key >> bits
    order = jnp.argsort(cell, stable=True).astype(jnp.int32)
    return order, cell[order]


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

    def of_targets(self, *arrays: jax.Array) -> tuple[jax.Array, ...]:
        """`of_target` of several float32[N] arrays, gathered as one [N, P, k] array on the local
        path (one gather of k-float rows costs about what one of single floats does)."""
        if self.dense:
            return tuple(self.of_target(a) for a in arrays)
        rows = jnp.stack(arrays, axis=1)[self.target]
        return tuple(rows[..., i] for i in range(len(arrays)))

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

    flags bool[N, C], values [N, C]. One min over positions per slot, each past the last one
    found: O(slots * C). (No cumsum: XLA's CPU cumsum is a reduce-window, O(C^2) per row; no
    scatter: a serial loop on CPU.)
    """
    c = flags.shape[1]
    position = jnp.arange(c, dtype=jnp.int32)
    where, last = [], jnp.full(flags.shape[:1] + (1,), -1, jnp.int32)
    for _ in range(slots):
        last = jnp.where(flags & (position > last), position, c).min(axis=1, keepdims=True)
        where.append(last)
    where = jnp.concatenate(where, axis=1)  # [N, slots]; c where there was none
    return jnp.take_along_axis(values, jnp.minimum(where, c - 1), axis=1), where < c
