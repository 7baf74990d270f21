"""Self-play MAPPO / IPPO trained end to end inside `jit`, wired from small pieces.

    learner = make_learner(config)         # config: a TrainConfig, checked here, before compiling
    state = learner.init(key)              # TrainState
    state, sums = learner.chunk(state)     # `config.updates_per_chunk` updates, one compiled call
    state = jax.jit(learner.run)(state)    # every chunk of the run, jittable
    states = jax.jit(jax.vmap(learner.run))(learner.init_many(keys))   # replicates over seeds

One update: maybe draw new opponents (`matchmaking`), a rollout of `rollout_steps` steps of
`num_envs` auto-resetting environments (`rollout`, with `credit`), GAE and PPO epochs over
minibatches of whole trained teams (`loss`, `ppo`), then the pool's bookkeeping. The pieces:

    networks.ActorCritic    the actor and critic of the scenario
    layout.TrainedTeams     which teams an update trains on, as static gathers
    matchmaking.Matchmaking who plays whom, and the opponent pool's (init, update)
    rollout / credit / loss the stages of an update, each a pure function

Metrics are sums reduced inside `jit` (bounded memory over any run).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from jax.sharding import Mesh, NamedSharding, PartitionSpec

import gigastep_jax as gj
from algorithms import ppo
from algorithms.marl import loss, opponent_pool, rollout
from algorithms.marl.config import TrainConfig, check
from algorithms.marl.layout import TrainedTeams
from algorithms.marl.matchmaking import CATEGORIES, Matchmaking, make_matchmaking
from algorithms.marl.networks import ActorCritic, make_actor_critic

__all__ = ["CATEGORIES", "Learner", "TrainState", "make_learner", "shard", "sharded_chunk", "summarize"]


@struct.dataclass
class TrainState:
    params: Any  # {"actor": ..., "critic": ...}
    opt_state: Any
    env_state: gj.EnvState  # leaves [B, ...]
    obs: jax.Array  # [B, N, *obs_shape]
    episode_return: jax.Array  # float32[B, N], return so far of each running episode
    memory: jax.Array  # float32[B, N, H] the learner's GRU memory (H = 0 without `recurrent`)
    opp_memory: jax.Array  # float32[B', N, H] the drawn opponents' memory (B' their environments)
    pool: opponent_pool.PoolState
    opponent: jax.Array  # int32[G] each group's opponent (SELF, a pool slot, or P + a scripted one)
    key: jax.Array
    update: jax.Array  # int32[], updates done


@dataclass(frozen=True, eq=False)
class Learner:
    """The static pieces of a run and the pure functions that wire them."""

    config: TrainConfig
    env: gj.Env
    batched: gj.BatchedEnv
    ac: ActorCritic
    teams: TrainedTeams
    match: Matchmaking
    tx: optax.GradientTransformation

    def init(self, key: jax.Array) -> TrainState:
        """A fresh run's state: parameters, optimiser, environments, an empty pool (compiled once)."""
        return self._compiled_init(key)

    @functools.cached_property
    def _compiled_init(self):
        return jax.jit(self._init)

    def _init(self, key: jax.Array) -> TrainState:
        k_params, k_env, k_run = jax.random.split(key, 3)
        params = self.ac.init(k_params)
        obs, env_state = self.batched.reset(k_env)
        pool, opponent = self.match.init(params["actor"])
        return TrainState(params=params, opt_state=self.tx.init(params), env_state=env_state, obs=obs,
                          episode_return=jnp.zeros((self.config.num_envs, self.env.n_agents), jnp.float32),
                          memory=self.ac.initial_memory((self.config.num_envs,)),
                          opp_memory=self.ac.initial_memory((self.match.opponent_envs,)),
                          pool=pool, opponent=opponent, key=k_run, update=jnp.int32(0))

    def init_many(self, keys: jax.Array) -> TrainState:
        """States of several seeds stacked along a leading axis [S, ...] (for `jax.vmap(run)`). The
        seeds are initialised one by one: a vmapped orthogonal initialisation (a batched LAPACK QR)
        can deadlock XLA's CPU thread pool in jaxlib 0.10.2."""
        states = [self.init(k) for k in keys]
        return jax.tree_util.tree_map(lambda *x: jnp.stack(x), *states)

    def restart_opponent_envs(self, state: TrainState, key: jax.Array) -> TrainState:
        """Fresh episodes in the environments of the drawn-opponent groups (a new opponent must not take
        over a running episode). The cut-off episodes end like truncations: the last rollout's GAE
        already bootstrapped them from V(the state left behind)."""
        fresh_obs, fresh = self.batched.reset(key)
        new = jnp.arange(self.config.num_envs) >= self.match.self_play_envs
        pick = lambda a, c: jnp.where(new.reshape((-1,) + (1,) * (a.ndim - 1)), a, c)  # noqa: E731
        return state.replace(env_state=jax.tree_util.tree_map(pick, fresh, state.env_state),
                             obs=pick(fresh_obs, state.obs),
                             episode_return=pick(jnp.zeros_like(state.episode_return), state.episode_return),
                             memory=pick(jnp.zeros_like(state.memory), state.memory),
                             opp_memory=jnp.zeros_like(state.opp_memory))

    def draw_opponents(self, state: TrainState, key: jax.Array) -> TrainState:
        """Every `opponent_period` updates: new opponents for the drawn groups, in fresh episodes."""
        if self.match.self_play_groups == self.match.groups:
            return state
        k_draw, k_reset = jax.random.split(key)
        opponent = self.match.draw(k_draw, state.pool)
        return jax.lax.cond(state.update % self.match.period == 0,
                            lambda s: self.restart_opponent_envs(s, k_reset).replace(opponent=opponent),
                            lambda s: s, state)

    def update(self, state: TrainState) -> tuple[TrainState, dict]:
        """One update: maybe draw opponents, roll out, then `learn`. Returns (state, {"sums": episode
        tallies, "metrics": the loss's, averaged})."""
        key, k_opp, k_ppo = jax.random.split(state.key, 3)
        state = self.draw_opponents(state, k_opp)
        memory = state.memory
        state, traj, sums = rollout.rollout(self, state.replace(key=key), state.opponent)
        return self.learn(state, traj, sums, memory, k_ppo)

    def learn(self, state: TrainState, traj: rollout.Transition, sums: dict, memory: jax.Array,
              key: jax.Array) -> tuple[TrainState, dict]:
        """What an update does after its rollout traj [T, B, N]: GAE, PPO epochs over minibatches of
        trained teams, the pool's bookkeeping. memory [B, N, H]: the actor's memory before the rollout."""
        cfg = self.config
        last_value = self.ac.values(state.params["critic"], state.obs)
        batch = loss.make_batch(self.teams, traj, memory, last_value, cfg.gamma, cfg.gae_lambda)
        loss_fn = functools.partial(loss.ppo_loss, self.ac, cfg)
        params, opt_state, metrics = ppo.ppo_update(key, state.params, state.opt_state, batch, loss_fn, self.tx,
                                                    cfg.epochs, cfg.minibatches)
        update = state.update + 1
        pool = self.match.update(state.pool, state.opponent, sums["group_score"], sums["group_games"],
                                 params["actor"], update)
        state = state.replace(params=params, opt_state=opt_state, pool=pool, update=update)
        metrics = dict(metrics, trained_agent_steps=traj.mask.sum().astype(jnp.float32))
        return state, dict(sums=sums, metrics=metrics)

    def updates(self, state: TrainState) -> tuple[TrainState, dict]:
        """`updates_per_chunk` updates; returns (state, sums over the chunk of every metric)."""

        def body(carry, _):
            state, acc = carry
            state, m = self.update(state)
            return (state, jax.tree_util.tree_map(jnp.add, acc, m)), None

        zeros = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(self.update, state)[1])
        (state, acc), _ = jax.lax.scan(body, (state, zeros), None, length=self.config.updates_per_chunk)
        return state, acc

    @functools.cached_property
    def chunk(self):
        """`updates` compiled once; the state's buffers are donated (updated in place)."""
        return jax.jit(self.updates, donate_argnums=0)

    def run(self, state: TrainState) -> TrainState:
        """Every chunk of the run in one jittable function (no checkpoints); vmappable over states."""
        return jax.lax.fori_loop(0, self.config.checkpoints, lambda _, s: self.updates(s)[0], state)


def make_optimiser(config: TrainConfig) -> optax.GradientTransformation:
    """Adam after global-norm clipping; the learning rate falls linearly to 0 with `anneal_lr`."""
    lr = config.learning_rate
    if config.anneal_lr:
        lr = optax.linear_schedule(lr, 0.0, config.num_updates * config.epochs * config.minibatches)
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(lr, eps=1e-5))


def make_learner(config: TrainConfig) -> Learner:
    """The learner of `config`; ValueError naming the field for a bad value, before anything compiles.

    Learners are immutable and cached by their (hashable) config, so every caller of one config in
    a process shares one learner and its compiled functions (`chunk`)."""
    if not isinstance(config, TrainConfig):
        raise TypeError(f"make_learner takes a TrainConfig, got {type(config).__name__}")
    try:
        hash(config)
    except TypeError:
        raise ValueError(f"TrainConfig fields must be hashable (tuples, not lists): {config}") from None
    return _make_learner(config)


@functools.lru_cache(maxsize=16)
def _make_learner(config: TrainConfig) -> Learner:
    env = check(config)
    match = make_matchmaking(config, env)
    ac = make_actor_critic(env, encoder=config.encoder, hidden=config.hidden, centralised=config.critic == "mappo",
                           recurrent=config.recurrent, ego_frame=config.ego_frame)
    teams = TrainedTeams.of(ac.layout, config.num_envs, match.self_play_envs)
    return Learner(config, env, gj.BatchedEnv(env, config.num_envs), ac, teams, match, make_optimiser(config))


def summarize(sums: dict, updates: int) -> dict[str, float]:
    """Chunk sums -> readable metrics: per opponent category (but the current policy) the games,
    wins, draws and losses of the learner's side and its score (wins + ½ draws, per game), mean
    losses, episode statistics."""
    s = jax.tree_util.tree_map(np.asarray, sums)
    out: dict[str, float] = {}
    games, wins, draws, score = (s["sums"][k] for k in ("games", "wins", "draws", "score"))
    for i, name in enumerate(CATEGORIES):
        if i > 0 and games[i] > 0:
            out[f"score_vs_{name}"] = float(score[i] / games[i])
            out[f"games_vs_{name}"] = float(games[i])
            out[f"wins_vs_{name}"], out[f"draws_vs_{name}"] = float(wins[i]), float(draws[i])
            out[f"losses_vs_{name}"] = float(games[i] - wins[i] - draws[i])
    episodes = float(games.sum())
    out["episodes"] = episodes
    if episodes:
        out["episode_return"] = float(s["sums"]["episode_return"] / episodes)
        out["episode_length"] = float(s["sums"]["episode_length"] / episodes)
    for k, v in s["metrics"].items():
        out[k] = float(v / updates) if k != "trained_agent_steps" else float(v)
    return out


def shard(state: TrainState, devices=None) -> TrainState:
    """Split the environment batch of a state across devices (the rest replicated).

    Under `jit` the compiled update then runs data-parallel (GSPMD): each device steps its share of
    the environments, and the loss, a mean over the global batch, averages gradients across devices.
    devices: default `jax.devices()`, in a multi-process run those of every process
    (`algorithms.marl.distributed`); there every process passes the same state (the same seed, or
    the same checkpoint) and keeps the shards on its own devices.
    """
    devices = jax.devices() if devices is None else devices
    mesh = Mesh(np.asarray(devices), ("batch",))
    batch, replicated = NamedSharding(mesh, PartitionSpec("batch")), NamedSharding(mesh, PartitionSpec())
    b = state.obs.shape[0]
    if b % len(devices):
        raise ValueError(f"num_envs ({b}) must be divisible by the number of devices ({len(devices)})")
    put = jax.device_put if jax.process_count() == 1 else _put_global
    per_env = state.replace(env_state=put(state.env_state, batch), obs=put(state.obs, batch),
                            episode_return=put(state.episode_return, batch), memory=put(state.memory, batch))
    rest = dict(params=state.params, opt_state=state.opt_state, pool=state.pool, key=state.key, update=state.update,
                opp_memory=state.opp_memory, opponent=state.opponent)
    return per_env.replace(**put(rest, replicated))


def _put_global(tree: Any, sharding: NamedSharding) -> Any:
    """`jax.device_put` for a sharding spanning processes: each process fills its own devices'
    shards from its copy of the whole (equal in every process)."""
    def one(x):
        host = np.asarray(x)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return jax.tree_util.tree_map(one, tree)


def sharded_chunk(learner: Learner, state: TrainState):
    """`learner.updates` compiled for a state laid out by `shard`: the state leaves with the layout
    it came in with and the sums come out replicated, readable by every process. (Left to itself,
    GSPMD returns some environment fields replicated, and the next chunk compiles again.)"""
    layout = jax.tree_util.tree_map(lambda x: x.sharding, state)
    replicated = NamedSharding(state.obs.sharding.mesh, PartitionSpec())
    return jax.jit(learner.updates, donate_argnums=0, out_shardings=(layout, replicated))
