"""Credit: what each agent learns from at one step of the rollout.

"agent": the environment's own reward, and an agent's trajectory ends when it dies. Gigastep
charges a team's losses to its survivors (`Env._reward`'s defeat term), so a dying agent escapes
them: against a stronger team, dying early is what the survivors learn is cheap.

"team" (the default): every agent gets its team's mean reward and its trajectory runs until the
episode ends, dead or alive (the policy still trains only on the steps it was alive), so an agent's
death costs it what it costs the team. MAPPO's critic sees the team, so it values a dead agent's
slot as well as a living one's. Against chaser alone this took the learner from 1 % to 56 % of its
games won after 1.5 M steps (docs/DESIGN.md#team-credit).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

CREDITS = ("team", "agent")


class Credit(NamedTuple):
    """What the learner trains on at one step, all [B, N]."""

    reward: jax.Array  # float32: the reward it learns from
    done: jax.Array  # bool: its trajectory ends at this step
    truncated: jax.Array  # bool: it goes on from V(final observation) rather than 0
    value_mask: jax.Array  # bool: the critic trains on it


def assign(kind: str, reward: jax.Array, done: jax.Array, info: dict, alive_pre: jax.Array,
           alive_end: jax.Array, on_a: np.ndarray) -> Credit:
    """Credit of one step of B environments of N agents.

    reward float32[B, N] and done bool[B, N] from `Env.step`; info["terminated"], info["truncated"]
    bool[B]; alive_pre bool[B, N] alive before the step, alive_end bool[B, N] alive after it; on_a
    bool[N] (static) the agents of team A.
    """
    truncated = info["truncated"][:, None]
    if kind == "agent":
        return Credit(reward, done, truncated & alive_end, alive_pre)
    team_mean = lambda m: (reward * m).sum(-1, keepdims=True) / m.sum()  # noqa: E731
    team_reward = jnp.where(on_a, team_mean(on_a), team_mean(~on_a))
    ended = info["terminated"] | info["truncated"]
    every = lambda x: jnp.broadcast_to(x, reward.shape)  # noqa: E731
    return Credit(team_reward, every(ended[:, None]), every(truncated), every(True))
