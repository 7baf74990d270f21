"""Populations of trained and scripted policies for the battle game (`algorithms.evaluation.game.BattleGame`).

A member's params: {"network": bool[] (use the actor), "actor": actor params, "scripted": the
scripted params of `algorithms.evaluation.scripted.scripted_params`}. Trained checkpoints and the yardsticks
(random, chaser, circler) share this one tree, so any mix of them stacks into one population and a
whole cross-play matrix is one compiled call.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp

from algorithms.evaluation import game
from algorithms.evaluation import scripted as scripted_members
from algorithms.marl import networks


def network_member(actor_params: Any) -> dict:
    return dict(network=jnp.bool_(True), actor=actor_params, scripted=scripted_members.scripted_params("random"))


def scripted_member(actor_like: Any, spec: str) -> dict:
    """A scripted policy ("random", "chaser:eps=0.3", ...) with zeroed actor params of the right shape."""
    zeros = jax.tree_util.tree_map(jnp.zeros_like, actor_like)
    return dict(network=jnp.bool_(False), actor=zeros, scripted=scripted_members.parse_spec(spec))


def make_apply(ac: networks.ActorCritic, greedy: bool = False, scripted: bool = True):
    """The BattleGame apply function of these members: (params, key, env, state) -> action for all N.

    The network observes with `env.observe` (the game steps with `env.transition`) and samples its
    action (or takes the mode with `greedy`). A recurrent actor (`ac.memory_size` > 0) carries its
    memory float32[N, H] through the game (the BattleGame protocol for policies with memory).
    `scripted=False` serves populations of networks only (the scripted branch, otherwise computed
    for every member and selected, is left out).

    `apply.act_rows(params, key, env, state, obs, rows, memory)` is the same policy for the agents
    `rows` int32[M] only (index N pads a short team), given everyone's observation: a BattleGame
    observes once per step and runs each side's network on its own team's rows."""

    def act_rows(params, key, env, state, obs, rows, memory):
        k_act, k_scr = jax.random.split(key)
        feats = ac.feats[jnp.minimum(rows, env.n_agents - 1)]
        mem = None if memory is None else memory[rows]  # a padding row reads a clamped one; dropped below
        mem, out = ac.step(params["actor"], mem, obs[rows], feats)
        net = networks.greedy(out, ac.discrete) if greedy else networks.sample(k_act, out, ac.discrete)[0]
        if memory is not None:
            memory = memory.at[rows].set(mem, mode="drop")
        if not scripted:
            return net, memory
        scr = scripted_members.scripted_apply(params["scripted"], k_scr, env, state)[rows]
        return jnp.where(params["network"].reshape((1,) * net.ndim), net, scr), memory

    def act(params, key, env, state, memory):
        k_obs, k = jax.random.split(key)
        return act_rows(params, k, env, state, env.observe(k_obs, state), jnp.arange(env.n_agents), memory)

    if not ac.memory_size:
        apply = lambda params, key, env, state: act(params, key, env, state, None)[0]  # noqa: E731
    else:
        def apply(params, key, env, state, memory):
            return act(params, key, env, state, memory)

        apply.initial_memory = lambda params: ac.initial_memory(())
    apply.act_rows = act_rows
    return apply


def stack_members(members: Sequence[dict]) -> dict:
    return game.stack(list(members))
