"""The scripted policies of `gigastep_jax.policies` as game members: params a population can stack.

A scripted member's params are {"kind": int32[] (its index in `gj.policies.SCRIPTED`), "epsilon":
float32[], "turn_gain": float32[]}, so a population mixing random, chaser and circler (with
exploration and turn gains) is one pytree and `scripted_apply` is vmappable over it. Specs on the
command line: "KIND[:eps=E][:gain=G]", e.g. "chaser:eps=0.3".
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

import gigastep_jax as gj
from algorithms import validate
from algorithms.evaluation.game import stack
from gigastep_jax.dynamics import action_to_controls

SPEC = "spec KIND[:eps=E][:gain=G]"
OPTIONS = {"eps": "epsilon", "gain": "turn_gain"}  # spec option -> params leaf


def scripted_params(kind: str = "chaser", epsilon: float = 0.0, turn_gain: float = 1.0) -> dict[str, jax.Array]:
    """One scripted policy's params: {"kind": int32[], "epsilon": float32[], "turn_gain": float32[]}."""
    validate.choice("scripted policy", kind, gj.policies.SCRIPTED)
    if not 0.0 <= float(epsilon) <= 1.0:
        raise ValueError(f"epsilon (eps) must be in [0, 1], got {epsilon}")
    validate.number("turn_gain (gain)", turn_gain)
    return dict(kind=jnp.int32(gj.policies.SCRIPTED.index(kind)), epsilon=jnp.float32(epsilon),
                turn_gain=jnp.float32(turn_gain))


def _dither(u: jax.Array, key: jax.Array) -> jax.Array:
    """Random rounding of u in [-1, 1] to {-1, 0, 1} with expectation u (integers stay as they are)."""
    return jnp.floor(u + jax.random.uniform(key, u.shape))


def scripted_apply(params: dict[str, jax.Array], key: jax.Array, env: gj.Env, state: gj.EnvState) -> jax.Array:
    """A parameterised scripted policy, vmappable over params (every kind acts, the member's is taken).

    params["kind"]: the index of the policy in `gj.policies.SCRIPTED`; params["turn_gain"] multiplies the
    heading-rate control of the chosen action (in discrete scenarios the scaled control is randomly
    rounded to {-1, 0, 1} with the scaled value as its expectation; a gain of 1 leaves actions as
    they are); params["epsilon"]: each agent takes a uniformly random action with this probability.
    Returns the action of all N agents (int32[N] or float32[N, 3]).
    """
    k_act, k_dither, k_eps = jax.random.split(key, 3)
    acts = jnp.stack([gj.policies.get(name)(k_act, env, state) for name in gj.policies.SCRIPTED])
    scripted = acts[params["kind"]]
    rand = acts[gj.policies.SCRIPTED.index("random")]  # epsilon-exploration shares the random draw
    controls = action_to_controls(scripted, env.discrete)
    turn = jnp.clip(controls[:, 0] * params["turn_gain"], -1.0, 1.0)
    if env.discrete:
        turn = _dither(turn, k_dither)
    action = gj.policies.controls_to_action(env, controls.at[:, 0].set(turn))
    explore = jax.random.uniform(k_eps, (env.n_agents,)) < params["epsilon"]
    return jnp.where(explore.reshape((-1,) + (1,) * (action.ndim - 1)), rand, action)


def parse_spec(spec: str) -> dict[str, jax.Array]:
    """"KIND[:eps=E][:gain=G]" -> scripted params; e.g. "chaser", "chaser:eps=0.3:gain=0.5"."""
    parts = spec.strip().split(":")
    kind, options = parts[0].strip(), parts[1:]
    if kind not in gj.policies.SCRIPTED:
        raise ValueError(f"unknown scripted policy {kind!r} in {spec!r}; allowed kinds: {', '.join(gj.policies.SCRIPTED)} "
                         f"({SPEC})")
    values: dict[str, float] = {}
    for option in options:
        name, eq, value = option.partition("=")
        name = name.strip()
        if not eq or name not in OPTIONS:
            raise ValueError(f"unknown option {option!r} in {spec!r}; allowed options: "
                             f"{', '.join(k + '=VALUE' for k in OPTIONS)} ({SPEC})")
        try:
            values[OPTIONS[name]] = float(value)
        except ValueError:
            raise ValueError(f"option {name} in {spec!r} needs a number, got {value!r}") from None
    return scripted_params(kind, **values)


def scripted_population(specs: Sequence[str]) -> tuple[dict[str, jax.Array], list[str]]:
    """Stacked scripted params (leaves [P]) and names from specs like "random", "chaser:eps=0.3"."""
    if isinstance(specs, str):
        specs = [specs]
    specs = [s.strip() for s in specs]
    if not specs or any(not s for s in specs):
        raise ValueError(f"empty policy spec in {specs}; allowed kinds: {', '.join(gj.policies.SCRIPTED)} ({SPEC})")
    return stack([parse_spec(s) for s in specs]), specs
