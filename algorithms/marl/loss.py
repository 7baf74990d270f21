"""The PPO loss of the battle learner, over a named batch of whole teams.

`make_batch` turns a rollout [T, B, N] into the trained teams' rows [T, H, S] (`TrainedTeams`:
the opponents' agents left out, a team's slots kept together for its centralised critic), with
GAE computed first over whole environments. `ppo_loss` is what `ppo.ppo_update` differentiates.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from algorithms import ppo
from algorithms.marl import networks
from algorithms.marl.layout import TrainedTeams
from algorithms.marl.networks import ActorCritic
from algorithms.marl.rollout import Transition


class TeamBatch(NamedTuple):
    """The training data of one update, leading axes [T, H] (H trained teams, cut into minibatches
    along that axis); S slots per team."""

    obs: jax.Array  # [T, H, S, *obs_shape]
    action: jax.Array  # [T, H, S] or [T, H, S, 3]
    log_prob: jax.Array  # float32[T, H, S] under the acting policy
    value: jax.Array  # float32[T, H, S] the critic's value when acting
    start: jax.Array  # bool[T, H] obs is an episode's first
    memory: jax.Array  # float32[1, H, S, M] the actor's memory before the rollout
    feats: jax.Array  # float32[1, H, S, E] each slot's agent features
    team: jax.Array  # int32[1, H] which team
    valid: jax.Array  # bool[1, H, S] the slot holds an agent
    advantages: jax.Array  # float32[T, H, S] normalised
    returns: jax.Array  # float32[T, H, S]
    mask: jax.Array  # bool[T, H, S] the policy trains on it
    value_mask: jax.Array  # bool[T, H, S] the critic trains on it


def make_batch(teams: TrainedTeams, traj: Transition, memory: jax.Array, last_value: jax.Array, gamma: float,
               gae_lambda: float) -> TeamBatch:
    """GAE over the rollout traj [T, B, N], then the trained teams' rows. memory float32[B, N, M]:
    the actor's memory before the rollout; last_value float32[B, N]: V after it."""
    advantages, returns = ppo.gae(traj.reward, traj.value, traj.done, traj.bootstrap, last_value, gamma, gae_lambda)
    advantages = ppo.normalize_advantages(advantages, traj.mask)
    g, constant = teams.gather, lambda x: jnp.asarray(x)[None]  # noqa: E731
    return TeamBatch(g(traj.obs), g(traj.action), g(traj.log_prob), g(traj.value), traj.start[:, teams.env],
                     g(memory[None]), constant(teams.feats), constant(teams.team.astype(np.int32)),
                     constant(teams.valid), g(advantages), g(returns), g(traj.mask), g(traj.value_mask))


def ppo_loss(ac: ActorCritic, config, params: dict, batch: TeamBatch) -> tuple[jax.Array, dict]:
    """PPO's loss of a minibatch of h teams: the clipped surrogate, `value_coef` x the clipped
    value loss, minus `entropy_coef` x the policy's entropy on the trained steps. config: the
    `TrainConfig` (clip_eps, value_clip_eps, value_coef, entropy_coef). Returns (loss, metrics)."""
    out = ac.sequence(params["actor"], batch.memory[0], batch.obs, batch.start, batch.feats[0])
    log_prob = networks.log_prob(out, batch.action, ac.discrete)
    pi_loss, metrics = ppo.policy_loss(log_prob, batch.log_prob, batch.advantages, config.clip_eps, batch.mask)
    value = ac.critic.apply(params["critic"], batch.obs, batch.feats[0], batch.team[0], batch.valid[0])
    v_loss = ppo.value_loss(value, batch.value, batch.returns, config.value_clip_eps, batch.value_mask)
    entropy = networks.distribution(out, ac.discrete).entropy()
    w = batch.mask.astype(jnp.float32)
    entropy = (entropy * w).sum() / jnp.maximum(w.sum(), 1.0)
    total = pi_loss + config.value_coef * v_loss - config.entropy_coef * entropy
    return total, dict(metrics, policy_loss=pi_loss, value_loss=v_loss, entropy=entropy)
