"""Scripted policies: uniformly random, `circler` and `chaser`.

A scripted policy is `policy(key, env, state) -> action` for all N agents (int32[N] or
float32[N, 3]); it may read the true state, limited to what its team can see (`chaser` only
chases enemies its team detected). `by_team` plays one policy for team A and another for team B.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from gigastep_jax.dynamics import C_HEADING, DT, wrap_angle
from gigastep_jax.env import Env
from gigastep_jax.state import EnvState

Policy = Callable[[jax.Array, Env, EnvState], jax.Array]


def _check_single(env: Env, state: EnvState) -> None:
    if state.x.shape != (env.n_agents,):
        raise ValueError(
            f"scripted policies act on one environment's state (x of shape ({env.n_agents},)), got x of shape "
            f"{tuple(state.x.shape)}; for a batch use jax.vmap(policy, in_axes=(0, None, 0))(keys, env, states)"
        )


def controls_to_action(env: Env, controls: jax.Array) -> jax.Array:
    """float32[N, 3] controls in [-1, 1] -> the env's action (discrete: rounded to {-1, 0, 1}^3)."""
    if not env.discrete:
        return jnp.clip(controls, -1.0, 1.0)
    h, d, t = (jnp.clip(jnp.round(controls[:, i]), -1, 1).astype(jnp.int32) + 1 for i in range(3))
    return 9 * t + 3 * h + d


def random(key: jax.Array, env: Env, state: EnvState) -> jax.Array:
    """Uniformly random actions (discrete: one of 27; continuous: uniform in [-1, 1]^3)."""
    _check_single(env, state)
    if env.discrete:
        return jax.random.randint(key, (env.n_agents,), 0, env.n_actions, dtype=jnp.int32)
    return jax.random.uniform(key, (env.n_agents, 3), minval=-1.0, maxval=1.0)


def circler(key: jax.Array, env: Env, state: EnvState) -> jax.Array:
    """Constant (1, 0, 0): turn at full rate, no dive, no throttle."""
    _check_single(env, state)
    controls = jnp.broadcast_to(jnp.asarray([1.0, 0.0, 0.0]), (env.n_agents, 3))
    return controls_to_action(env, controls)


def chaser(key: jax.Array, env: Env, state: EnvState) -> jax.Array:
    """Turn toward the nearest enemy the team has detected (within the sight radius, if the
    scenario has one), full throttle, match its altitude loosely; with no enemy in sight, head for
    the arena's centre (so as not to fly out)."""
    _check_single(env, state)
    team = env.teams
    n = env.n_agents
    pairs = env.pairs(state)
    if pairs.dense:
        dx = state.x[None, :] - state.x[:, None]
        dy = state.y[None, :] - state.y[:, None]
        d2 = dx * dx + dy * dy
        same = (team[:, None] == team[None, :]).astype(jnp.float32)
        # Enemy t is visible to agent e if a teammate of e (or e) detected it.
        team_detected = (same @ state.detected.astype(jnp.float32)) > 0
    else:  # no [N, N] array: whether anyone detected each agent, read from its own row
        dx, dy = (t - a[:, None] for t, a in zip(pairs.of_targets(state.x, state.y), (state.x, state.y)))
        d2 = dx * dx + dy * dy
        # Only enemies detect, so an enemy t of e detected by anyone was detected by e's team. Full
        # observability's detection is symmetric (t's row says who detects t); partial's is not,
        # and `detectors` holds it.
        if env.scenario.observability == "pobs":
            detected = state.detectors[:, 0] >= 0
        else:
            detected = state.detected.any(axis=1)
        team_detected = detected[pairs.target]
    candidate = team_detected & pairs.of_target(state.alive) & (team[:, None] != pairs.of_target(team))
    near = pairs.near(d2)
    candidate = candidate if near is None else candidate & near
    if pairs.dense:
        target = jnp.argmin(jnp.where(candidate, d2, jnp.inf), axis=1)  # ties: the lowest index
    else:  # the nearest, ties to the lowest index as above: slot order is not index order
        nearest = jnp.where(candidate, d2, jnp.inf).min(axis=1, keepdims=True)
        tied = candidate & (d2 == nearest)
        target = jnp.where(tied, pairs.target, n).min(axis=1)
    has_target = candidate.any(axis=1)
    target = jnp.where(has_target, target, 0)
    w, h = env.scenario.arena
    goal_x = jnp.where(has_target, state.x[target], w / 2)
    goal_y = jnp.where(has_target, state.y[target], h / 2)
    bearing = jnp.arctan2(goal_y - state.y, goal_x - state.x)
    error = wrap_angle(bearing - state.heading)
    turn = jnp.clip(error / (DT * C_HEADING), -1.0, 1.0)
    dz = jnp.where(has_target, state.z[target] - state.z, 0.0)
    dive = jnp.clip(dz, -1.0, 1.0)
    controls = jnp.stack([turn, dive, jnp.ones(n)], axis=-1)
    return controls_to_action(env, controls)


# The one registry of scripted policies: every part of the project (opponents in training, members of
# an evaluation, the command line) names them from here, in this order.
POLICIES: dict[str, Policy] = {"random": random, "chaser": chaser, "circler": circler}
SCRIPTED: tuple[str, ...] = tuple(POLICIES)


def get(name: str) -> Policy:
    """The scripted policy `name`; ValueError listing the allowed names."""
    if name not in POLICIES:
        raise ValueError(f"unknown scripted policy {name!r}; allowed: {', '.join(SCRIPTED)}")
    return POLICIES[name]


def by_team(policy_a: Policy, policy_b: Policy) -> Policy:
    """One policy for team A's agents and another for team B's."""

    def act(key, env, state):
        ka, kb = jax.random.split(key)
        a, b = policy_a(ka, env, state), policy_b(kb, env, state)
        mask = (env.teams == 0).reshape((-1,) + (1,) * (a.ndim - 1))
        return jnp.where(mask, a, b)

    return act
