"""IPPO written the way JaxMARL's baselines are, running on a gigastep battle through the adapter.

This is the shape of a JaxMARL training script (dict observations stacked into `[num_actors, F]`,
JaxMARL's own `LogWrapper`, environments vmapped, the rollout a `lax.scan`, the whole training run
one `jit`), to show that such code takes `gj.adapters.JaxMARLEnv` as it is. One network with
shared parameters plays every agent of both teams (parameter-sharing IPPO, self-play by
construction). For this project's own learner (teams, opponent pools, checkpoints), see
`algorithms.marl`; this file is an example, not a second learner.

    python examples/jaxmarl_ippo.py --scenario identical_2_vs_2_fobs_vec_void_disc --updates 50

Needs JaxMARL (`pip install "gigastep-jax[adapters]"`). Prints one JSON line per update.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from typing import Any

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax


def import_log_wrapper():
    """JaxMARL's `LogWrapper`. Importing jaxmarl prints two lines past any `sys.stdout` redirect, so
    file descriptor 1 points at stderr meanwhile: stdout stays JSON lines only."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        from jaxmarl.wrappers.baselines import LogWrapper
    finally:
        sys.__stdout__.flush()
        os.dup2(saved, 1)
        os.close(saved)
    return LogWrapper


LogWrapper = import_log_wrapper()

import gigastep_jax as gj
from algorithms import ppo


@dataclasses.dataclass(frozen=True)
class Config:
    scenario: str = "identical_2_vs_2_fobs_vec_void_disc"
    num_envs: int = 16
    num_steps: int = 64  # env steps per update and environment
    updates: int = 50
    epochs: int = 4
    minibatches: int = 4
    lr: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    hidden: int = 64
    seed: int = 0


class ActorCritic(nn.Module):
    """obs float32[..., F] -> (Categorical over the 27 actions, value float32[...])."""

    n_actions: int
    hidden: int = 64

    @nn.compact
    def __call__(self, obs):
        def mlp(x, out, scale):
            for _ in range(2):
                x = nn.tanh(nn.Dense(self.hidden, kernel_init=nn.initializers.orthogonal(np.sqrt(2)))(x))
            return nn.Dense(out, kernel_init=nn.initializers.orthogonal(scale))(x)

        logits = mlp(obs, self.n_actions, 0.01)
        value = mlp(obs, 1, 1.0)[..., 0]
        return distrax.Categorical(logits=logits), value


def batchify(x: dict[str, jax.Array], agents: list[str]) -> jax.Array:
    """{agent: [E, ...]} -> [num_actors = A * E, ...], agent-major (as JaxMARL's baselines do)."""
    stacked = jnp.stack([x[a] for a in agents])
    return stacked.reshape((-1,) + stacked.shape[2:])


def unbatchify(x: jax.Array, agents: list[str], num_envs: int) -> dict[str, jax.Array]:
    """[A * E, ...] -> {agent: [E, ...]}."""
    x = x.reshape((len(agents), num_envs) + x.shape[1:])
    return {a: x[i] for i, a in enumerate(agents)}


def make_train(config: Config):
    env = LogWrapper(gj.adapters.JaxMARLEnv(gj.make(config.scenario)))
    agents, n_envs = env.agents, config.num_envs
    num_actors = env.num_agents * n_envs
    network = ActorCritic(env.action_space(agents[0]).n, config.hidden)
    batch = config.num_steps * num_actors
    if batch % config.minibatches:
        raise ValueError(f"num_steps * num_actors ({batch}) must divide into {config.minibatches} minibatches")
    optimiser = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(config.lr, eps=1e-5))

    def train(key):
        key, k_init, k_reset = jax.random.split(key, 3)
        obs_shape = env.observation_space(agents[0]).shape
        params = network.init(k_init, jnp.zeros(obs_shape))
        opt_state = optimiser.init(params)
        obs, env_state = jax.vmap(env.reset)(jax.random.split(k_reset, n_envs))

        def env_step(carry, key):
            params, env_state, obs = carry
            k_act, k_env = jax.random.split(key)
            pi, value = network.apply(params, batchify(obs, agents))
            action = pi.sample(seed=k_act)
            log_prob = pi.log_prob(action)
            actions = unbatchify(action, agents, n_envs)
            obs_next, env_state, reward, done, info = jax.vmap(env.step)(
                jax.random.split(k_env, n_envs), env_state, actions)
            # Every info leaf has one entry per agent, so it reshapes to [num_actors] as in JaxMARL.
            info = jax.tree.map(lambda x: x.reshape(num_actors), info)
            step = dict(obs=batchify(obs, agents), action=action, log_prob=log_prob, value=value,
                        reward=batchify(reward, agents), done=batchify(done, agents), info=info)
            return (params, env_state, obs_next), step

        def update(carry, key):
            params, opt_state, env_state, obs = carry
            k_roll, k_learn = jax.random.split(key)
            (_, env_state, obs), traj = jax.lax.scan(
                env_step, (params, env_state, obs), jax.random.split(k_roll, config.num_steps))
            _, last_value = network.apply(params, batchify(obs, agents))
            done = traj["done"]
            advantages, targets = ppo.gae(traj["reward"], traj["value"], done, jnp.zeros_like(traj["value"]),
                                          last_value, config.gamma, config.gae_lambda)

            def loss_fn(params, mb):
                pi, value = network.apply(params, mb["obs"])
                adv = ppo.normalize_advantages(mb["advantages"])
                actor, stats = ppo.policy_loss(pi.log_prob(mb["action"]), mb["log_prob"], adv, config.clip_eps)
                critic = 0.5 * jnp.square(value - mb["targets"]).mean()
                entropy = pi.entropy().mean()
                return actor + config.vf_coef * critic - config.ent_coef * entropy, dict(stats, entropy=entropy)

            flat = jax.tree.map(lambda x: x.reshape((batch,) + x.shape[2:]), dict(
                obs=traj["obs"], action=traj["action"], log_prob=traj["log_prob"],
                advantages=advantages, targets=targets))

            def epoch(carry, key):
                params, opt_state = carry
                order = jax.random.permutation(key, batch).reshape(config.minibatches, -1)

                def minibatch(carry, idx):
                    params, opt_state = carry
                    (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(
                        params, jax.tree.map(lambda x: x[idx], flat))
                    updates, opt_state = optimiser.update(grads, opt_state, params)
                    return (optax.apply_updates(params, updates), opt_state), dict(stats, loss=loss)

                return jax.lax.scan(minibatch, (params, opt_state), order)

            (params, opt_state), stats = jax.lax.scan(epoch, (params, opt_state), jax.random.split(k_learn, config.epochs))
            info = traj["info"]
            ended = info["returned_episode"]
            metrics = dict(
                jax.tree.map(jnp.mean, stats),
                episodes=ended.sum() / env.num_agents,
                # Mean over the actors whose episode ended in this rollout (NaN if none did).
                episode_return=(info["returned_episode_returns"] * ended).sum() / ended.sum(),
                team_a_wins=((info["winner"] == 0) & ended).sum() / env.num_agents,
                team_b_wins=((info["winner"] == 1) & ended).sum() / env.num_agents,
            )
            return (params, opt_state, env_state, obs), metrics

        (params, *_), metrics = jax.lax.scan(
            update, (params, opt_state, env_state, obs), jax.random.split(key, config.updates))
        return params, metrics

    return env, network, train


def evaluate(config: Config, network: ActorCritic, params, games: int = 256, opponent: str = "random",
             key: jax.Array | None = None) -> dict[str, int]:
    """Team A sampled from the trained network against a scripted team B, on the native API:
    {"wins", "draws", "losses"} of team A over `games` battles."""
    env = gj.make(config.scenario)
    scripted = gj.policies.get(opponent)

    def policy(key, env, state):
        k_obs, k_act, k_opp = jax.random.split(key, 3)
        pi, _ = network.apply(params, env.observe(k_obs, state))
        return jnp.where(env.teams == 0, pi.sample(seed=k_act), scripted(k_opp, env, state))

    def play(key):
        k_reset, k_run = jax.random.split(key)
        _, state = env.reset(k_reset)

        def body(state, key):
            k_act, k_step = jax.random.split(key)
            _, state, _, _, info = env.step(k_step, state, policy(k_act, env, state))
            return state, info["winner"]

        _, winners = jax.lax.scan(body, state, jax.random.split(k_run, env.scenario.max_steps))
        return winners[-1]  # the episode is absorbing: its last step keeps the outcome

    key = jax.random.PRNGKey(config.seed + 1) if key is None else key
    winner = np.asarray(jax.jit(jax.vmap(play))(jax.random.split(key, games)))
    return {"wins": int((winner == 0).sum()), "draws": int((winner == -1).sum()), "losses": int((winner == 1).sum())}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for field in dataclasses.fields(Config):
        parser.add_argument("--" + field.name.replace("_", "-"), type=type(field.default), default=field.default)
    config = Config(**vars(parser.parse_args(argv)))
    _, network, train = make_train(config)
    params, metrics = jax.jit(train)(jax.random.PRNGKey(config.seed))
    metrics = jax.device_get(metrics)
    for i in range(config.updates):
        print(json.dumps({"update": i, **{k: float(v[i]) for k, v in metrics.items()}}))
    for opponent in ("random", "chaser"):
        print(json.dumps({"team_a_vs": opponent, **evaluate(config, network, params, opponent=opponent)}))
    return metrics


if __name__ == "__main__":
    main()
