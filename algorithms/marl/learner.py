"""Self-play MAPPO / IPPO trained end to end inside `jit` (PureJaxRL's shape, in small pieces).

    learner = make_train(config)           # config: algorithms.marl.config.TrainConfig, checked here
    state = learner.init(key)              # TrainState
    state, sums = learner.chunk(state)     # `config.updates_per_chunk` updates, one compiled call
    state = learner.train(key)             # the whole run, jittable
    states = jax.vmap(learner.run)(learner.init_many(keys))   # replicates over seeds

One update: a rollout of `rollout_steps` steps of `num_envs` auto-resetting environments (each
opponent group plays its opponent: the current policy, a pool snapshot or a scripted policy), GAE,
then PPO epochs over minibatches of whole teams (the opponents' agents are left out). Trajectories are [T, B, N, ...] with agents
in the environment's order. Metrics are sums reduced inside `jit` (bounded memory over any run).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from jax.sharding import Mesh, NamedSharding, PartitionSpec

import gigastep_jax as gj
from algorithms import ppo
from algorithms.marl import networks, opponent_pool
from algorithms.marl.config import TrainConfig, check

# Opponent categories for the metrics: the current policy, a pool snapshot, then each fixed kind.
CATEGORIES = ("self", "pool") + opponent_pool.FIXED


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
    opponent: jax.Array  # int32[G] each group's opponent (SELF, a pool slot, or P + a fixed one)
    key: jax.Array
    update: jax.Array  # int32[], updates done


class Trajectory(NamedTuple):
    """One rollout, leaves [T, B, N, ...]."""

    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array  # float32[T, B, N]
    value: jax.Array  # float32[T, B, N]
    reward: jax.Array  # float32[T, B, N]
    done: jax.Array  # bool[T, B, N]: the agent's trajectory ended at this step (death or episode end)
    bootstrap: jax.Array  # float32[T, B, N]: value to continue with after a done step (truncation)
    mask: jax.Array  # bool[T, B, N]: the policy is trained on it (alive, on the learner's side)
    value_mask: jax.Array  # bool[T, B, N]: the critic is trained on it (`Learner.credit`)
    start: jax.Array  # bool[T, B]: obs[t] is an episode's first (the GRU memory was reset before it)


class Learner:
    """The static pieces of a run (environment, networks, optimiser) and its pure functions."""

    def __init__(self, config: TrainConfig):
        self.env = check(config)
        self.config = config
        env = self.env
        self.layout = networks.AgentLayout.of(env)
        self.feats = self.layout.features()
        rows = min(env.n_agents, 15)
        ego = config.ego_frame and config.encoder != "cnn"
        actor = networks.RecurrentActor if config.recurrent else networks.Actor
        self.actor = actor(env.discrete, env.n_actions if env.discrete else 3, config.encoder, config.hidden, rows, ego)
        self.memory_size = config.hidden if config.recurrent else 0
        self.critic = networks.Critic(self.layout, config.critic == "mappo", config.encoder, config.hidden, rows, ego)
        self.batched = gj.BatchedEnv(env, config.num_envs)
        b, g = config.num_envs, config.opponent_groups
        self.side = jnp.arange(b, dtype=jnp.int32) % 2  # the learner's team in each environment
        self.on_a = np.asarray(self.layout.teams) == 0  # bool[N], static
        self._trained_teams()
        self.group = jnp.arange(b, dtype=jnp.int32) // (b // g)
        self.fixed = tuple(config.fixed_opponents)
        self.category_of_fixed = jnp.asarray([CATEGORIES.index(f) for f in self.fixed] or [0], jnp.int32)
        n_minibatch_steps = config.epochs * config.minibatches
        lr = config.learning_rate
        if config.anneal_lr:
            lr = optax.linear_schedule(lr, 0.0, config.num_updates * n_minibatch_steps)
        self.tx = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(lr, eps=1e-5))
        self.chunk = jax.jit(self._chunk, donate_argnums=0)

    def _trained_teams(self) -> None:
        """The H = `config.trained_teams` teams an update trains on, static: both teams of each
        self-play environment, the learner's team of every other; the opponents' agents never reach
        the loss (7/16 of the agent rows with the default groups)."""
        n, layout = self.env.n_agents, self.layout
        b, b_self = self.config.num_envs, self.config.self_play_envs
        self.team_env = np.concatenate([np.repeat(np.arange(b_self), 2), np.arange(b_self, b)])  # int[H]
        self.team_id = np.concatenate([np.tile([0, 1], b_self), np.arange(b_self, b) % 2])  # int[H]
        index = np.asarray(layout.index)[self.team_id]  # [H, S] agent of each slot, n in padding
        self.team_valid = index < n
        self.team_rows = np.where(self.team_valid, self.team_env[:, None] * n + index, b * n)  # into [B * N + 1]
        feats = np.asarray(self.feats)
        self.team_feats = np.concatenate([feats, np.zeros_like(feats[:1])])[index]  # [H, S, E]

    def to_teams(self, x: jax.Array) -> jax.Array:
        """[L, B, N, ...] -> [L, H, S, ...]: the agents of the trained teams, zeros in padding slots."""
        lead, rest = x.shape[0], x.shape[3:]
        flat = x.reshape((lead, x.shape[1] * x.shape[2]) + rest)  # explicit: a trailing size may be 0 (no memory)
        flat = jnp.concatenate([flat, jnp.zeros((lead, 1) + rest, x.dtype)], axis=1)
        return jnp.take(flat, jnp.asarray(self.team_rows.reshape(-1)), axis=1).reshape(
            (lead,) + self.team_rows.shape + rest)

    def values(self, critic_params, obs: jax.Array) -> jax.Array:
        """float32[..., N]: the critic's value of every agent, obs [..., N, *obs_shape]."""
        return networks.team_values(self.critic, critic_params, obs, len(self.env.obs_shape))

    # ------------------------------------------------------------------ init
    def init_params(self, key: jax.Array) -> dict:
        env = self.env
        obs = jnp.zeros((env.n_agents,) + tuple(env.obs_shape), env.obs_dtype)
        k_a, k_c = jax.random.split(key)
        if self.config.recurrent:
            actor = self.actor.init(k_a, self.initial_memory(()), obs, self.feats)
        else:
            actor = self.actor.init(k_a, obs, self.feats)
        critic = self.critic.init(k_c, *networks.team_inputs(self.layout, obs, len(env.obs_shape)))
        return dict(actor=actor, critic=critic)

    def initial_memory(self, lead: tuple[int, ...]) -> jax.Array:
        """float32[*lead, N, H] zeros (H = 0 for feed-forward actors)."""
        return jnp.zeros(tuple(lead) + (self.env.n_agents, self.memory_size), jnp.float32)

    @property
    def opponent_envs(self) -> int:
        cfg = self.config
        return cfg.num_envs - cfg.self_play_envs

    def init(self, key: jax.Array) -> TrainState:
        k_params, k_env, k_run = jax.random.split(key, 3)
        params = self.init_params(k_params)
        obs, env_state = self.batched.reset(k_env)
        return TrainState(
            params=params,
            opt_state=self.tx.init(params),
            env_state=env_state,
            obs=obs,
            episode_return=jnp.zeros((self.config.num_envs, self.env.n_agents), jnp.float32),
            memory=self.initial_memory((self.config.num_envs,)),
            opp_memory=self.initial_memory((self.opponent_envs,)),
            pool=opponent_pool.init(params["actor"], self.config.pool_size, len(self.fixed)),
            opponent=jnp.full(self.config.opponent_groups, opponent_pool.SELF, jnp.int32),
            key=k_run,
            update=jnp.int32(0),
        )

    # ------------------------------------------------------------------ acting
    def policy_step(self, actor_params, memory: jax.Array, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        """One step of the actor: (memory [..., N, H], obs [..., N, *obs_shape]) -> (memory, out [..., N, A])."""
        if self.config.recurrent:
            return self.actor.apply(actor_params, memory, obs, self.feats)
        return memory, self.actor.apply(actor_params, obs, self.feats)

    def policy_sequence(self, actor_params, memory: jax.Array, obs: jax.Array, start: jax.Array,
                        feats: jax.Array | None = None) -> jax.Array:
        """Actor outputs over a trajectory: memory [B, N, H] before obs[0], obs [T, B, N, ...], start
        bool[T, B] (memory reset before that step), feats the agents' features ([N, E] by default, or
        [B, N, E]) -> out [T, B, N, A]. B, N may be any rows and slots (`to_teams`)."""
        feats = self.feats if feats is None else feats
        if not self.config.recurrent:
            return self.actor.apply(actor_params, obs, feats)

        def step(m, x):
            o, st = x
            m = jnp.where(st[:, None, None], 0.0, m)
            return self.actor.apply(actor_params, m, o, feats)

        return jax.lax.scan(step, memory, (obs, start))[1]

    def _scripted(self, key: jax.Array, env_state: gj.EnvState, b: int) -> jax.Array:
        """Actions of every fixed opponent kind in b environments: [F, b, N, ...]."""
        keys = jax.random.split(key, b)
        acts = [jax.vmap(gj.policies.get(f), in_axes=(0, None, 0))(keys, self.env, env_state) for f in self.fixed]
        return jnp.stack(acts)

    def act(self, key, params, pool, opponent, obs, env_state, memory, opp_memory):
        """All agents' actions in every environment; opponent int32[G] per group (SELF in the first
        `self_play_groups`, which need no opponent work).

        Returns (action [B, N, ...], log_prob float32[B, N], value float32[B, N], learner bool[B, N]:
        the agent acts with the learner's policy: on its side, or every agent against SELF; memory,
        opp_memory: the actors' next memories)."""
        cfg, n_pool = self.config, opponent_pool.size(pool)
        b, g, g_self = cfg.num_envs, cfg.opponent_groups, cfg.self_play_groups
        b_self = cfg.self_play_envs
        k_l, k_o, k_s = jax.random.split(key, 3)
        memory, out = self.policy_step(params["actor"], memory, obs)
        value = self.values(params["critic"], obs)
        action, log_prob = networks.sample(k_l, out, self.env.discrete)
        opp = opponent[self.group]  # [B]
        learner = (jnp.asarray(self.layout.teams)[None, :] == self.side[:, None]) | (opp == opponent_pool.SELF)[:, None]
        if g_self == g:
            return action, log_prob, value, learner, memory, opp_memory
        # Only the environments of the opponent groups: [B', ...] with B' = B - b_self.
        obs_o = obs[b_self:]
        opp_params = opponent_pool.opponent_params(pool, params["actor"], opponent[g_self:])
        per_group = lambda x: x.reshape((g - g_self, b // g) + x.shape[1:])  # noqa: E731
        opp_memory, opp_out = jax.vmap(self.policy_step)(opp_params, per_group(opp_memory), per_group(obs_o))
        opp_memory = opp_memory.reshape((b - b_self,) + opp_memory.shape[2:])
        opp_action, _ = networks.sample(k_o, opp_out.reshape(out[b_self:].shape), self.env.discrete)
        if self.fixed:
            sub = jax.tree_util.tree_map(lambda a: a[b_self:], env_state)
            scripted = self._scripted(k_s, sub, b - b_self)  # [F, B', N, ...]
            o = opp[b_self:]
            kind = jnp.clip(o - n_pool, 0, len(self.fixed) - 1)
            pick = scripted[kind, jnp.arange(b - b_self)]
            is_fixed = (o >= n_pool).reshape((b - b_self,) + (1,) * (opp_action.ndim - 1))
            opp_action = jnp.where(is_fixed, pick, opp_action)
        opp_action = jnp.concatenate([action[:b_self], opp_action])
        sel = learner.reshape(learner.shape + (1,) * (action.ndim - 2))
        return jnp.where(sel, action, opp_action), log_prob, value, learner, memory, opp_memory

    # ------------------------------------------------------------------ rollout
    def credit(self, reward: jax.Array, done: jax.Array, info: dict, alive_pre: jax.Array, alive_end: jax.Array):
        """What each agent learns from at one step, all [B, N]: (reward, done: its trajectory ends,
        truncated: it goes on from V(final observation), value_mask: the critic trains on it).

        "agent": the environment's own reward, and an agent's trajectory ends when it dies. Gigastep
        charges a team's losses to its survivors (`Env._reward`'s defeat term), so a dying agent
        escapes them: against a stronger team, dying early is what the survivors learn is cheap.
        "team": every agent gets its team's mean reward and its trajectory runs until the episode
        ends, dead or alive (the policy still trains only on the steps it was alive), so an agent's
        death costs it what it costs the team. MAPPO's critic sees the team, so it values a dead
        agent's slot as well as a living one's.
        """
        truncated = info["truncated"][:, None]
        if self.config.credit == "agent":
            return reward, done, truncated & alive_end, alive_pre
        on_a = self.on_a
        team_mean = lambda m: (reward * m).sum(-1, keepdims=True) / m.sum()  # noqa: E731
        team_reward = jnp.where(on_a, team_mean(on_a), team_mean(~on_a))
        ended = info["terminated"] | info["truncated"]
        every = lambda x: jnp.broadcast_to(x, reward.shape)  # noqa: E731
        return team_reward, every(ended[:, None]), every(truncated), every(True)

    def rollout(self, state: TrainState, opponent: jax.Array):
        """`rollout_steps` steps of the batch. Returns (state, Trajectory [T, B, N], metric sums)."""
        cfg, env = self.config, self.env
        n_cat = len(CATEGORIES)
        n_pool = opponent_pool.size(state.pool)
        opp = opponent[self.group]
        category = jnp.where(opp == opponent_pool.SELF, 0, jnp.where(opp < n_pool, 1,
                             self.category_of_fixed[jnp.clip(opp - n_pool, 0, max(len(self.fixed) - 1, 0))]))

        def step(carry, key):
            env_state, obs, ep_ret, memory, opp_memory, start, sums = carry
            k_act, k_env = jax.random.split(key)
            action, log_prob, value, learner, next_memory, next_opp_memory = self.act(
                k_act, state.params, state.pool, opponent, obs, env_state, memory, opp_memory)
            alive_pre, length = env_state.alive, env_state.t + 1
            obs_next, env_state, reward, done, info = self.batched.step(k_env, env_state, action)
            ended = info["terminated"] | info["truncated"]  # [B]
            alive_end = alive_pre & (info["death_cause"] == 0)
            train_reward, train_done, truncated, value_mask = self.credit(reward, done, info, alive_pre, alive_end)
            boot = jax.lax.cond(
                truncated.any(),
                lambda o: self.values(state.params["critic"], o),
                lambda o: jnp.zeros(o.shape[:2], jnp.float32),
                info["final_obs"],
            )
            traj = Trajectory(obs, action, log_prob, value, train_reward, train_done, jnp.where(truncated, boot, 0.0),
                              alive_pre & learner, value_mask & learner, start)
            # The next observation is a new episode's first where this one ended: memories restart.
            next_memory = jnp.where(ended[:, None, None], 0.0, next_memory)
            next_opp_memory = jnp.where(ended[-self.opponent_envs:, None, None] if self.opponent_envs else ended[:0, None, None],
                                        0.0, next_opp_memory)
            # Episode statistics of the learner's side (both sides against SELF).
            ep_ret = ep_ret + reward
            mine = jnp.asarray(self.layout.teams)[None, :] == self.side[:, None]
            score = jnp.where(info["winner"] == self.side, 1.0, jnp.where(info["winner"] == 1 - self.side, 0.0, 0.5))
            e = ended.astype(jnp.float32)
            team_ret = (ep_ret * mine).sum(-1)
            sums = dict(
                games=sums["games"].at[category].add(e),
                score=sums["score"].at[category].add(e * score),
                group_games=sums["group_games"].at[self.group].add(e),
                group_score=sums["group_score"].at[self.group].add(e * score),
                episode_return=sums["episode_return"] + (e * team_ret).sum(),
                episode_length=sums["episode_length"] + (e * length).sum(),
            )
            ep_ret = jnp.where(ended[:, None], 0.0, ep_ret)
            return (env_state, obs_next, ep_ret, next_memory, next_opp_memory, ended, sums), traj

        sums = dict(games=jnp.zeros(n_cat), score=jnp.zeros(n_cat), group_games=jnp.zeros(cfg.opponent_groups),
                    group_score=jnp.zeros(cfg.opponent_groups), episode_return=jnp.float32(0.0),
                    episode_length=jnp.float32(0.0))
        key, k_roll = jax.random.split(state.key)
        start0 = jnp.zeros(cfg.num_envs, bool)
        carry = (state.env_state, state.obs, state.episode_return, state.memory, state.opp_memory, start0, sums)
        (env_state, obs, ep_ret, memory, opp_memory, _, sums), traj = jax.lax.scan(
            step, carry, jax.random.split(k_roll, cfg.rollout_steps))
        state = state.replace(env_state=env_state, obs=obs, episode_return=ep_ret, memory=memory,
                              opp_memory=opp_memory, key=key)
        return state, traj, sums

    # ------------------------------------------------------------------ learning
    def loss(self, params, mb: ppo.Batch):
        """The PPO loss of a minibatch of h trained teams (`to_teams`; inputs: obs, action, old log_prob,
        old value [T, h, S, ...], start [T, h]; the memory before the rollout [1, h, S, H], the slots'
        features [1, h, S, E], team int32[1, h], valid bool[1, h, S])."""
        cfg = self.config
        obs, action, old_log_prob, old_value, start, memory0, feats, team, valid = mb.inputs
        out = self.policy_sequence(params["actor"], memory0[0], obs, start, feats[0])
        log_prob = networks.log_prob(out, action, self.env.discrete)
        entropy = networks.distribution(out, self.env.discrete).entropy()
        pi_loss, metrics = ppo.policy_loss(log_prob, old_log_prob, mb.advantages, cfg.clip_eps, mb.mask)
        value = self.critic.apply(params["critic"], obs, feats[0], team[0], valid[0])
        v_loss = ppo.value_loss(value, old_value, mb.returns, cfg.value_clip_eps,
                                mb.mask if mb.value_mask is None else mb.value_mask)
        w = mb.mask.astype(jnp.float32)
        entropy = (entropy * w).sum() / jnp.maximum(w.sum(), 1.0)
        total = pi_loss + cfg.value_coef * v_loss - cfg.entropy_coef * entropy
        return total, dict(metrics, policy_loss=pi_loss, value_loss=v_loss, entropy=entropy)

    def restart_opponent_envs(self, state: TrainState, key: jax.Array) -> TrainState:
        """Fresh episodes in the environments of the drawn-opponent groups (a new opponent must not take
        over a running episode). The cut-off episodes end like truncations: the last rollout's GAE
        already bootstrapped them from V(the state left behind)."""
        fresh_obs, fresh = self.batched.reset(key)
        new = jnp.arange(self.config.num_envs) >= self.config.self_play_envs
        pick = lambda a, c: jnp.where(new.reshape((-1,) + (1,) * (a.ndim - 1)), a, c)  # noqa: E731
        return state.replace(
            env_state=jax.tree_util.tree_map(pick, fresh, state.env_state),
            obs=pick(fresh_obs, state.obs),
            episode_return=pick(jnp.zeros_like(state.episode_return), state.episode_return),
            memory=pick(jnp.zeros_like(state.memory), state.memory),
            opp_memory=jnp.zeros_like(state.opp_memory),
        )

    def draw(self, key: jax.Array, pool: opponent_pool.PoolState) -> jax.Array:
        """int32[G] every group's opponent: SELF in the self-play groups, then a draw from the whole pool,
        then (the last `fixed_groups`) a draw from the fixed opponents alone."""
        cfg = self.config
        g_self, g_fixed = cfg.self_play_groups, cfg.fixed_groups
        k_pool, k_fixed = jax.random.split(key)
        drawn = opponent_pool.draw(k_pool, pool, cfg.opponent_groups - g_self - g_fixed, cfg.opponent_sampling, len(self.fixed))
        fixed = opponent_pool.draw(k_fixed, pool, g_fixed, cfg.opponent_sampling, len(self.fixed), snapshots=False)
        return jnp.concatenate([jnp.full(g_self, opponent_pool.SELF, jnp.int32), drawn, fixed])

    def draw_opponents(self, state: TrainState, key: jax.Array) -> TrainState:
        """Every `opponent_period` updates: new opponents for the drawn groups, in fresh episodes."""
        cfg = self.config
        if cfg.self_play_groups == cfg.opponent_groups:
            return state
        k_draw, k_reset = jax.random.split(key)
        opponent = self.draw(k_draw, state.pool)
        return jax.lax.cond(state.update % cfg.opponent_period == 0,
                            lambda s: self.restart_opponent_envs(s, k_reset).replace(opponent=opponent),
                            lambda s: s, state)

    def make_batch(self, traj: Trajectory, memory0: jax.Array, last_value: jax.Array) -> ppo.Batch:
        """GAE over the rollout [T, B, N], then the trained teams' rows [T, H, S] (`to_teams`) for the
        loss. memory0 [B, N, H]: the actor's memory before the rollout; last_value [B, N]: V after it."""
        cfg = self.config
        advantages, returns = ppo.gae(traj.reward, traj.value, traj.done, traj.bootstrap, last_value,
                                      cfg.gamma, cfg.gae_lambda)
        advantages = ppo.normalize_advantages(advantages, traj.mask)
        teams, constant = self.to_teams, lambda x: jnp.asarray(x)[None]  # noqa: E731
        inputs = (teams(traj.obs), teams(traj.action), teams(traj.log_prob), teams(traj.value),
                  traj.start[:, self.team_env], teams(memory0[None]), constant(self.team_feats),
                  constant(self.team_id.astype(np.int32)), constant(self.team_valid))
        return ppo.Batch(inputs, teams(advantages), teams(returns), teams(traj.mask), teams(traj.value_mask))

    def update(self, state: TrainState):
        """One update: maybe draw opponents, roll out, GAE, PPO epochs, maybe snapshot into the pool."""
        cfg = self.config
        key, k_opp, k_ppo = jax.random.split(state.key, 3)
        state = self.draw_opponents(state, k_opp)
        opponent = state.opponent
        memory0 = state.memory
        state, traj, sums = self.rollout(state.replace(key=key), opponent)
        last_value = self.values(state.params["critic"], state.obs)
        batch = self.make_batch(traj, memory0, last_value)
        params, opt_state, metrics = ppo.ppo_update(k_ppo, state.params, state.opt_state, batch, self.loss, self.tx,
                                                    cfg.epochs, cfg.minibatches)
        pool = opponent_pool.record(state.pool, opponent, sums["group_score"], sums["group_games"], cfg.stats_decay)
        update = state.update + 1
        pool = jax.lax.cond(update % cfg.snapshot_every == 0,
                            lambda p: opponent_pool.add(p, params["actor"], update), lambda p: p, pool)
        state = state.replace(params=params, opt_state=opt_state, pool=pool, update=update)
        metrics = dict(metrics, trained_agent_steps=traj.mask.sum().astype(jnp.float32))
        return state, dict(sums=sums, metrics=metrics)

    def _chunk(self, state: TrainState):
        """`updates_per_chunk` updates; returns (state, sums over the chunk of every metric)."""

        def body(carry, _):
            state, acc = carry
            state, m = self.update(state)
            return (state, jax.tree_util.tree_map(jnp.add, acc, m)), None

        zeros = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(self.update, state)[1])
        (state, acc), _ = jax.lax.scan(body, (state, zeros), None, length=self.config.updates_per_chunk)
        return state, acc

    def run(self, state: TrainState) -> TrainState:
        """Every chunk of the run in one jittable function (no checkpoints); vmappable over states."""

        def body(_, state):
            return self._chunk(state)[0]

        return jax.lax.fori_loop(0, self.config.checkpoints, body, state)

    def train(self, key: jax.Array) -> TrainState:
        """The whole run from a key, jittable. For replicates vmap `run` over `init_many(keys)`: a
        vmapped orthogonal initialisation (a batched LAPACK QR) can deadlock XLA's CPU thread pool
        in jaxlib 0.10.2, so the seeds are initialised one by one."""
        return self.run(self.init(key))

    def init_many(self, keys: jax.Array) -> TrainState:
        """States of several seeds stacked along a leading axis [S, ...] (for `jax.vmap(run)`)."""
        states = [self.init(k) for k in keys]
        return jax.tree_util.tree_map(lambda *x: jnp.stack(x), *states)


def make_train(config: TrainConfig) -> Learner:
    return Learner(config)


def summarize(sums: dict, updates: int) -> dict[str, float]:
    """Chunk sums -> readable metrics: win rates per opponent category, mean losses, episode stats."""
    s = jax.tree_util.tree_map(np.asarray, sums)
    out: dict[str, float] = {}
    games, score = s["sums"]["games"], s["sums"]["score"]
    for i, name in enumerate(CATEGORIES):
        if i > 0 and games[i] > 0:
            out[f"win_rate_vs_{name}"] = float(score[i] / games[i])
            out[f"games_vs_{name}"] = float(games[i])
    episodes = float(games.sum())
    out["episodes"] = episodes
    if episodes:
        out["episode_return"] = float(s["sums"]["episode_return"] / episodes)
        out["episode_length"] = float(s["sums"]["episode_length"] / episodes)
    for k, v in s["metrics"].items():
        out[k] = float(v / updates) if k != "trained_agent_steps" else float(v)
    return out


# ----------------------------------------------------------------------------- devices
def shard(state: TrainState, devices=None) -> TrainState:
    """Split the environment batch of a state across devices (the rest replicated).

    Under `jit` the compiled update then runs data-parallel (GSPMD): each device steps its share of
    the environments, and the loss, a mean over the global batch, averages gradients across devices.
    """
    devices = jax.devices() if devices is None else devices
    mesh = Mesh(np.asarray(devices), ("batch",))
    batch, replicated = NamedSharding(mesh, PartitionSpec("batch")), NamedSharding(mesh, PartitionSpec())
    b = state.obs.shape[0]
    if b % len(devices):
        raise ValueError(f"num_envs ({b}) must be divisible by the number of devices ({len(devices)})")
    per_env = state.replace(env_state=jax.device_put(state.env_state, batch), obs=jax.device_put(state.obs, batch),
                            episode_return=jax.device_put(state.episode_return, batch),
                            memory=jax.device_put(state.memory, batch))
    rest = dict(params=state.params, opt_state=state.opt_state, pool=state.pool, key=state.key, update=state.update,
                opp_memory=state.opp_memory, opponent=state.opponent)
    return per_env.replace(**jax.device_put(rest, replicated))
