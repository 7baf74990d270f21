"""Who plays whom: the environments' opponent groups, the learner's side, opponent draws, and the
opponents' moves.

The B environments are cut into G groups of B / G; each group plays one opponent for
`opponent_period` updates: the first `self_play_groups` play the current policy (both sides are the
learner), the last `scripted_groups` a scripted opponent drawn on its own, the others an opponent
drawn from the whole pool (snapshots and scripted). The learner's team alternates with the
environment's index, so it plays both sides of asymmetric scenarios. All of this is static; only
the draws happen inside `jit` (`opponent_pool`).

    match = make_matchmaking(config, env)        # options checked here
    pool, opponent = match.init(actor_params)    # the (init, update) pair over the pool
    opponent = match.draw(key, pool)             # int32[G] at the start of an update
    pool = match.update(pool, opponent, group_score, group_games, actor_params, update)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import gigastep_jax as gj
from algorithms import validate
from algorithms.marl import networks, opponent_pool
from algorithms.marl.networks import ActorCritic

SELF = opponent_pool.SELF
# Opponent categories of the metrics: the current policy, a pool snapshot, then each scripted policy.
CATEGORIES = ("self", "pool") + gj.policies.SCRIPTED


@dataclass(frozen=True, eq=False)
class Matchmaking:
    """The static plan of who plays whom, and the pure functions over the opponent pool."""

    env: gj.Env
    num_envs: int
    groups: int
    self_play_groups: int
    scripted_groups: int
    scripted: tuple[str, ...]  # the scripted opponents, names of gj.policies.SCRIPTED
    sampling: str
    pool_size: int
    period: int  # updates between draws
    snapshot_every: int  # updates between snapshots joining the pool
    decay: float  # of the pool's per-opponent statistics, per update

    @property
    def self_play_envs(self) -> int:
        """The environments against the current policy (the first ones)."""
        return self.num_envs // self.groups * self.self_play_groups

    @property
    def opponent_envs(self) -> int:
        return self.num_envs - self.self_play_envs

    @property
    def group(self) -> np.ndarray:
        """int32[B]: each environment's group (static)."""
        return np.arange(self.num_envs, dtype=np.int32) // (self.num_envs // self.groups)

    @property
    def side(self) -> np.ndarray:
        """int32[B]: the learner's team in each environment (static)."""
        return np.arange(self.num_envs, dtype=np.int32) % 2

    def init(self, actor_params: Any) -> tuple[opponent_pool.PoolState, jax.Array]:
        """An empty pool, and every group playing the current policy until the first draw."""
        pool = opponent_pool.init(actor_params, self.pool_size, len(self.scripted))
        return pool, jnp.full(self.groups, SELF, jnp.int32)

    def draw(self, key: jax.Array, pool: opponent_pool.PoolState) -> jax.Array:
        """int32[G] every group's opponent: SELF in the self-play groups, then a draw from the whole
        pool, then (the last `scripted_groups`) a draw from the scripted opponents alone."""
        k_pool, k_scripted = jax.random.split(key)
        mixed = self.groups - self.self_play_groups - self.scripted_groups
        drawn = opponent_pool.draw(k_pool, pool, mixed, self.sampling, len(self.scripted))
        scripted = opponent_pool.draw(k_scripted, pool, self.scripted_groups, self.sampling, len(self.scripted),
                                      snapshots=False)
        return jnp.concatenate([jnp.full(self.self_play_groups, SELF, jnp.int32), drawn, scripted])

    def update(self, pool: opponent_pool.PoolState, opponent: jax.Array, group_score: jax.Array,
               group_games: jax.Array, actor_params: Any, update: jax.Array) -> opponent_pool.PoolState:
        """After update number `update` (counted from 1): fold in its results (score and games
        float32[G] per group) and, every `snapshot_every` updates, add the learner to the pool (never
        with `snapshot_every` 0: a frozen pool, e.g. an exploiter's targets)."""
        pool = opponent_pool.record(pool, opponent, group_score, group_games, self.decay)
        if not self.snapshot_every:
            return pool
        return jax.lax.cond(update % self.snapshot_every == 0,
                            lambda p: opponent_pool.add(p, actor_params, update), lambda p: p, pool)

    def learner_mask(self, opponent: jax.Array) -> jax.Array:
        """bool[B, N]: the agent acts with the learner's policy (its side, or both against SELF)."""
        mine = jnp.asarray(self.env.teams)[None, :] == self.side[:, None]
        return mine | (opponent[self.group] == SELF)[:, None]

    def category(self, opponent: jax.Array, n_pool: int) -> jax.Array:
        """int32[B]: each environment's opponent as an index of `CATEGORIES`."""
        opp = opponent[self.group]
        index = jnp.asarray([CATEGORIES.index(s) for s in self.scripted] or [0], jnp.int32)
        scripted = index[jnp.clip(opp - n_pool, 0, max(len(self.scripted) - 1, 0))]
        return jnp.where(opp == SELF, 0, jnp.where(opp < n_pool, 1, scripted))

    def opponent_actions(self, keys: tuple[jax.Array, jax.Array], ac: ActorCritic, pool: opponent_pool.PoolState,
                         actor_params: Any, opponent: jax.Array, obs: jax.Array, env_state: gj.EnvState,
                         memory: jax.Array) -> tuple[jax.Array, jax.Array]:
        """The drawn opponents' actions in their B' = B - self_play_envs environments.

        keys: (network sampling, scripted policies); obs [B, N, ...], env_state leaves [B, ...] of
        every environment; memory [B', N, H] the opponents' own. Returns (action [B', N, ...], memory).
        Every opponent network is evaluated per group with its snapshot's params, and every scripted
        policy on all B' environments; each environment keeps its own opponent's action.
        """
        b_self, b_opp, g_opp = self.self_play_envs, self.opponent_envs, self.groups - self.self_play_groups
        per_group = lambda x: x.reshape((g_opp, b_opp // g_opp) + x.shape[1:])  # noqa: E731
        params = opponent_pool.opponent_params(pool, actor_params, opponent[self.self_play_groups:])
        memory, out = jax.vmap(ac.step)(params, per_group(memory), per_group(obs[b_self:]))
        memory = memory.reshape((b_opp,) + memory.shape[2:])
        action, _ = networks.sample(keys[0], out.reshape((b_opp,) + out.shape[2:]), ac.discrete)
        if not self.scripted:
            return action, memory
        sub = jax.tree_util.tree_map(lambda a: a[b_self:], env_state)
        k_envs = jax.random.split(keys[1], b_opp)
        scripted = jnp.stack([jax.vmap(gj.policies.get(s), in_axes=(0, None, 0))(k_envs, self.env, sub)
                              for s in self.scripted])  # [F, B', N, ...]
        opp = opponent[self.group][b_self:]
        n_pool = opponent_pool.size(pool)
        pick = scripted[jnp.clip(opp - n_pool, 0, len(self.scripted) - 1), jnp.arange(b_opp)]
        is_scripted = (opp >= n_pool).reshape((b_opp,) + (1,) * (action.ndim - 1))
        return jnp.where(is_scripted, pick, action), memory


def make_matchmaking(config, env: gj.Env) -> Matchmaking:
    """The plan of `config` (a `TrainConfig`) for `env`; ValueError for a bad option, before compiling."""
    validate.choice("opponent_sampling", config.opponent_sampling, opponent_pool.SAMPLING)
    for name in config.scripted_opponents:
        validate.choice("scripted opponent", name, gj.policies.SCRIPTED)
    if len(set(config.scripted_opponents)) != len(config.scripted_opponents):
        raise ValueError(f"scripted_opponents has duplicates: {config.scripted_opponents}")
    if config.self_play_groups + config.scripted_groups > config.opponent_groups:
        raise ValueError(f"self_play_fraction ({config.self_play_fraction}) and scripted_fraction "
                         f"({config.scripted_fraction}) take {config.self_play_groups} + {config.scripted_groups} of "
                         f"the {config.opponent_groups} opponent_groups; they must add up to at most 1")
    if config.scripted_groups and not config.scripted_opponents:
        raise ValueError(f"scripted_fraction ({config.scripted_fraction}) needs scripted_opponents, got none")
    b, g = config.num_envs, config.opponent_groups
    if b % g:
        raise ValueError(f"num_envs ({b}) must be divisible by opponent_groups ({g})")
    if (b // g) % 2:
        raise ValueError(f"each opponent group needs an even number of environments (the learner plays both "
                         f"sides): num_envs / opponent_groups = {b // g}")
    return Matchmaking(env, b, g, config.self_play_groups, config.scripted_groups, tuple(config.scripted_opponents),
                       config.opponent_sampling, config.pool_size, config.opponent_period, config.snapshot_every,
                       config.stats_decay)

