"""The rollout: `rollout_steps` steps of the environment batch, recorded as a named `Transition`.

One step, in stages: act (the learner's policy where it plays, each group's opponent elsewhere),
step the auto-resetting batch, assign credit, bootstrap truncated trajectories, restart memories
where episodes ended, and tally the finished episodes. Leaves are [B, N, ...] per step and
[T, B, N, ...] over the rollout, agents in the environment's order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import gigastep_jax as gj
from algorithms.marl import credit, networks, opponent_pool
from algorithms.marl.matchmaking import CATEGORIES

if TYPE_CHECKING:
    from algorithms.marl.learner import Learner, TrainState


class Transition(NamedTuple):
    """One step of the batch, leaves [B, N, ...] ([T, B, N, ...] over a rollout)."""

    obs: jax.Array  # [B, N, *obs_shape] the observation acted on
    action: jax.Array  # int32[B, N] or float32[B, N, 3]
    log_prob: jax.Array  # float32[B, N] of the action under the acting policy
    value: jax.Array  # float32[B, N] the critic's value of obs
    reward: jax.Array  # float32[B, N] the reward learnt from (`credit`)
    done: jax.Array  # bool[B, N] the agent's trajectory ended at this step (death or episode end)
    bootstrap: jax.Array  # float32[B, N] the value to continue with after a done step (truncation)
    mask: jax.Array  # bool[B, N] the policy is trained on it (alive, on the learner's side)
    value_mask: jax.Array  # bool[B, N] the critic is trained on it (`credit`)
    start: jax.Array  # bool[B] obs is an episode's first (the GRU memory was reset before it)


class Acted(NamedTuple):
    """Every agent's move at one step, leaves [B, N, ...]."""

    action: jax.Array
    log_prob: jax.Array  # float32[B, N] under the learner's policy
    value: jax.Array  # float32[B, N]
    learner: jax.Array  # bool[B, N] the agent acted with the learner's policy
    memory: jax.Array  # float32[B, N, H] the learner's next GRU memory
    opp_memory: jax.Array  # float32[B', N, H] the opponents' next memory


class Carry(NamedTuple):
    """What one step hands to the next."""

    env_state: gj.EnvState  # leaves [B, ...]
    obs: jax.Array  # [B, N, *obs_shape]
    episode_return: jax.Array  # float32[B, N] return so far of each running episode
    memory: jax.Array  # float32[B, N, H]
    opp_memory: jax.Array  # float32[B', N, H]
    start: jax.Array  # bool[B] obs is an episode's first
    sums: dict  # `empty_tallies`


def act(learner: "Learner", key: jax.Array, params: dict, pool: opponent_pool.PoolState, opponent: jax.Array,
        carry: Carry) -> Acted:
    """The learner's policy in every environment, replaced by the group's opponent where it plays
    (no opponent work at all when every group plays itself)."""
    ac, match = learner.ac, learner.match
    k_learner, k_network, k_scripted = jax.random.split(key, 3)
    memory, out = ac.step(params["actor"], carry.memory, carry.obs)
    value = ac.values(params["critic"], carry.obs)
    action, log_prob = networks.sample(k_learner, out, ac.discrete)
    mine = match.learner_mask(opponent)
    if match.self_play_groups == match.groups:
        return Acted(action, log_prob, value, mine, memory, carry.opp_memory)
    opp_action, opp_memory = match.opponent_actions((k_network, k_scripted), ac, pool, params["actor"], opponent,
                                                    carry.obs, carry.env_state, carry.opp_memory)
    opp_action = jnp.concatenate([action[:match.self_play_envs], opp_action])
    sel = mine.reshape(mine.shape + (1,) * (action.ndim - 2))
    return Acted(jnp.where(sel, action, opp_action), log_prob, value, mine, memory, opp_memory)


def empty_tallies(groups: int) -> dict:
    """Sums over finished episodes: games, wins, draws and score (1 win, ½ draw, 0 loss) per opponent
    category, games and score per group, the learner's team return and the episode length."""
    n = len(CATEGORIES)
    return dict(games=jnp.zeros(n), wins=jnp.zeros(n), draws=jnp.zeros(n), score=jnp.zeros(n),
                group_games=jnp.zeros(groups), group_score=jnp.zeros(groups),
                episode_return=jnp.float32(0.0), episode_length=jnp.float32(0.0))


def tally(sums: dict, ended: jax.Array, score: jax.Array, category: jax.Array, group: jax.Array,
          team_return: jax.Array, length: jax.Array) -> dict:
    """Add the episodes that ended at this step (all [B]: ended bool, score of the learner's side,
    category and group int32, team_return and length of the episode)."""
    e = ended.astype(jnp.float32)
    return dict(
        games=sums["games"].at[category].add(e),
        wins=sums["wins"].at[category].add(e * (score == 1.0)),
        draws=sums["draws"].at[category].add(e * (score == 0.5)),
        score=sums["score"].at[category].add(e * score),
        group_games=sums["group_games"].at[group].add(e),
        group_score=sums["group_score"].at[group].add(e * score),
        episode_return=sums["episode_return"] + (e * team_return).sum(),
        episode_length=sums["episode_length"] + (e * length).sum(),
    )


def step(learner: "Learner", params: dict, pool: opponent_pool.PoolState, opponent: jax.Array,
         category: jax.Array, carry: Carry, key: jax.Array) -> tuple[Carry, Transition]:
    """One step of the batch (a `lax.scan` body over keys); category int32[B] each environment's
    opponent category (`Matchmaking.category`)."""
    match = learner.match
    k_act, k_env = jax.random.split(key)
    acted = act(learner, k_act, params, pool, opponent, carry)
    alive_pre, length = carry.env_state.alive, carry.env_state.t + 1
    obs, env_state, reward, done, info = learner.batched.step(k_env, carry.env_state, acted.action)
    ended = info["terminated"] | info["truncated"]  # [B]
    alive_end = alive_pre & (info["death_cause"] == 0)
    c = credit.assign(learner.config.credit, reward, done, info, alive_pre, alive_end,
                      np.asarray(learner.ac.layout.teams) == 0)
    # V(final observation) is needed only where a trajectory is truncated: rarely, so skip it otherwise.
    boot = jax.lax.cond(c.truncated.any(), lambda o: learner.ac.values(params["critic"], o),
                        lambda o: jnp.zeros(o.shape[:2], jnp.float32), info["final_obs"])
    transition = Transition(carry.obs, acted.action, acted.log_prob, acted.value, c.reward, c.done,
                            jnp.where(c.truncated, boot, 0.0), alive_pre & acted.learner,
                            c.value_mask & acted.learner, carry.start)
    # The next observation is a new episode's first where this one ended: memories restart.
    memory = jnp.where(ended[:, None, None], 0.0, acted.memory)
    opp_memory = jnp.where(ended[match.self_play_envs:, None, None], 0.0, acted.opp_memory)
    # Episode statistics of the learner's side (both sides against SELF).
    episode_return = carry.episode_return + reward
    mine = jnp.asarray(learner.env.teams)[None, :] == match.side[:, None]
    winner = info["winner"]
    score = jnp.where(winner == match.side, 1.0, jnp.where(winner == 1 - match.side, 0.0, 0.5))
    sums = tally(carry.sums, ended, score, category, match.group, (episode_return * mine).sum(-1), length)
    episode_return = jnp.where(ended[:, None], 0.0, episode_return)
    return Carry(env_state, obs, episode_return, memory, opp_memory, ended, sums), transition


def rollout(learner: "Learner", state: "TrainState", opponent: jax.Array) -> tuple["TrainState", Transition, dict]:
    """`rollout_steps` steps of the batch against `opponent` int32[G]. Returns (state, Transition
    [T, B, N], tallies of the episodes that ended)."""
    key, k_roll = jax.random.split(state.key)
    carry = Carry(state.env_state, state.obs, state.episode_return, state.memory, state.opp_memory,
                  jnp.zeros(learner.config.num_envs, bool), empty_tallies(learner.match.groups))
    category = learner.match.category(opponent, opponent_pool.size(state.pool))
    body = lambda c, k: step(learner, state.params, state.pool, opponent, category, c, k)  # noqa: E731
    carry, traj = jax.lax.scan(body, carry, jax.random.split(k_roll, learner.config.rollout_steps))
    state = state.replace(env_state=carry.env_state, obs=carry.obs, episode_return=carry.episode_return,
                          memory=carry.memory, opp_memory=carry.opp_memory, key=key)
    return state, traj, carry.sums

