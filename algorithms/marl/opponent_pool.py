"""The opponent pool: earlier snapshots of the learner, held on device, and how opponents are drawn.

An (init, update) pair of pure functions over a small state, like an optax optimiser: the pool is a
stacked pytree of actor parameters [P, ...] used as a ring buffer, with per-opponent statistics of
the learner's results. Opponent indices: 0..P-1 the pool's slots, P..P+F-1 the F scripted
opponents (`TrainConfig.scripted_opponents`, names of `gj.policies.SCRIPTED`), and `SELF` (-1) the
current policy. Drawing happens inside `jit`; which environments play whom is static and lives in
`algorithms.marl.matchmaking`, so no work is spent on opponents nobody plays.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

SELF = -1
SAMPLING = ("uniform", "latest", "pfsp")


@struct.dataclass
class PoolState:
    """P snapshot slots and F scripted opponents."""

    params: Any  # actor params stacked [P, ...]
    valid: jax.Array  # bool[P]: the slot holds a snapshot
    added: jax.Array  # int32[P]: the update at which each snapshot joined, -1 empty
    score: jax.Array  # float32[P + F]: the learner's decayed sum of outcomes (1 win, ½ draw, 0 loss)
    games: jax.Array  # float32[P + F]: the decayed number of games against each opponent
    next_slot: jax.Array  # int32[]: the ring slot the next snapshot takes


def init(actor_params: Any, size: int, n_scripted: int) -> PoolState:
    """An empty pool of `size` slots shaped like `actor_params` (size 0: scripted opponents only)."""
    params = jax.tree_util.tree_map(lambda a: jnp.zeros((size,) + a.shape, a.dtype), actor_params)
    return PoolState(
        params=params,
        valid=jnp.zeros(size, bool),
        added=jnp.full(size, -1, jnp.int32),
        score=jnp.zeros(size + n_scripted, jnp.float32),
        games=jnp.zeros(size + n_scripted, jnp.float32),
        next_slot=jnp.int32(0),
    )


def frozen(opponents: Any, n_scripted: int = 0) -> PoolState:
    """A full pool holding the given actor params stacked [P, ...] in its P slots: the fixed targets
    of an exploiter (`algorithms.marl.exploiter`), with `snapshot_every=0` so nothing joins it."""
    p = jax.tree_util.tree_leaves(opponents)[0].shape[0]
    pool = init(jax.tree_util.tree_map(lambda a: a[0], opponents), p, n_scripted)
    return pool.replace(params=opponents, valid=jnp.ones(p, bool), added=jnp.zeros(p, jnp.int32))


def size(pool: PoolState) -> int:
    return pool.valid.shape[0]


def add(pool: PoolState, actor_params: Any, update: jax.Array) -> PoolState:
    """Put a snapshot in the next ring slot (the oldest is overwritten), its statistics cleared."""
    p = size(pool)
    if p == 0:
        return pool
    slot = pool.next_slot
    params = jax.tree_util.tree_map(lambda s, a: s.at[slot].set(a), pool.params, actor_params)
    return pool.replace(
        params=params,
        valid=pool.valid.at[slot].set(True),
        added=pool.added.at[slot].set(update.astype(jnp.int32)),
        score=pool.score.at[slot].set(0.0),
        games=pool.games.at[slot].set(0.0),
        next_slot=(slot + 1) % p,
    )


def record(pool: PoolState, opponent: jax.Array, score: jax.Array, games: jax.Array, decay: float) -> PoolState:
    """Fold one update's results in: opponent int32[G], score and games float32[G] per group; older
    results decay by `decay` per update so PFSP follows the learner's current strength."""
    n = pool.score.shape[0]
    against = opponent >= 0
    idx = jnp.where(against, opponent, n)  # SELF games go to a dropped index
    new_score = jnp.zeros(n, jnp.float32).at[idx].add(score, mode="drop")
    new_games = jnp.zeros(n, jnp.float32).at[idx].add(games, mode="drop")
    return pool.replace(score=decay * pool.score + new_score, games=decay * pool.games + new_games)


def win_rate(pool: PoolState) -> jax.Array:
    """float32[P + F]: the learner's smoothed win rate against each opponent, (score + 1) / (games + 2)."""
    return (pool.score + 1.0) / (pool.games + 2.0)


def _uniform(pool: PoolState, available: jax.Array, snapshots: bool) -> jax.Array:
    return available.astype(jnp.float32)


def _latest(pool: PoolState, available: jax.Array, snapshots: bool) -> jax.Array:
    p, n_scripted = size(pool), pool.score.shape[0] - size(pool)
    newest = jnp.zeros(p, bool) if p == 0 else (pool.added == pool.added.max()) & pool.valid & snapshots
    latest = jnp.concatenate([newest, jnp.zeros(n_scripted, bool)])
    return jnp.where(latest.any(), latest, available).astype(jnp.float32)


def _pfsp(pool: PoolState, available: jax.Array, snapshots: bool) -> jax.Array:
    return jnp.where(available, jnp.square(1.0 - win_rate(pool)), 0.0) + 1e-6 * available


SAMPLERS = {"uniform": _uniform, "latest": _latest, "pfsp": _pfsp}


def weights(pool: PoolState, sampling: str, n_scripted_used: int, snapshots: bool = True) -> jax.Array:
    """float32[P + F] unnormalised drawing weights (0 for empty slots and unused scripted opponents,
    and for every snapshot when `snapshots` is False).

    uniform: every filled slot and scripted opponent alike; latest: the newest snapshot only
    (scripted opponents when the pool is empty); pfsp: (1 - win rate)², prioritising the opponents
    the learner loses to (AlphaStar's "hard" prioritised fictitious self-play).
    """
    if sampling not in SAMPLERS:
        raise ValueError(f"unknown opponent sampling {sampling!r}; allowed: {', '.join(SAMPLING)}")
    n_scripted = pool.score.shape[0] - size(pool)
    available = jnp.concatenate([pool.valid & snapshots, jnp.arange(n_scripted) < n_scripted_used])
    return SAMPLERS[sampling](pool, available, snapshots)


def draw(key: jax.Array, pool: PoolState, n_groups: int, sampling: str, n_scripted_used: int,
         snapshots: bool = True) -> jax.Array:
    """int32[G]: an opponent per group drawn by `weights`; SELF (the current policy) when the pool is
    empty and there is no scripted opponent."""
    w = weights(pool, sampling, n_scripted_used, snapshots)
    choice = jax.random.categorical(key, jnp.log(jnp.maximum(w, 1e-30)), shape=(n_groups,))
    return jnp.where(w.sum() > 0, choice, SELF).astype(jnp.int32)


def opponent_params(pool: PoolState, learner_params: Any, opponent: jax.Array) -> Any:
    """Actor params per group, leaves [G, ...]: the learner's for SELF and scripted opponents (whose
    network output is unused), the snapshot's for pool slots."""
    p = size(pool)

    def pick(stacked, current):
        if p == 0:
            return jnp.broadcast_to(current, opponent.shape + current.shape)
        from_pool = stacked[jnp.clip(opponent, 0, p - 1)]
        use_pool = ((opponent >= 0) & (opponent < p)).reshape(opponent.shape + (1,) * current.ndim)
        return jnp.where(use_pool, from_pool, current[None])

    return jax.tree_util.tree_map(pick, pool.params, learner_params)
