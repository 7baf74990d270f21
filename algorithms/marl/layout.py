"""Team layout, static and from the scenario: where each agent sits in its team, and which teams an
update trains on.

Environments list agents team A first; a team's centralised critic and the loss work on teams of
S = max team size slots instead, [..., 2, S] or [H, S], padded where a team is smaller. Everything
here is numpy or a gather with static indices, so it costs nothing to trace.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

import gigastep_jax as gj


@dataclass(frozen=True)
class AgentLayout:
    """Where each agent sits in its team (static, from the scenario).

    teams: int32[N]; slot: int32[N], index within its team; index: int32[2, S] agent of (team, slot),
    N where the team has fewer than S = max team size agents (a padding row).
    """

    teams: tuple[int, ...]
    slot: tuple[int, ...]
    index: tuple[tuple[int, ...], tuple[int, ...]]

    @property
    def n_agents(self) -> int:
        return len(self.teams)

    @property
    def max_team(self) -> int:
        return len(self.index[0])

    @staticmethod
    def of(env: gj.Env) -> "AgentLayout":
        teams = np.asarray(env.teams)
        members = [np.flatnonzero(teams == t) for t in (0, 1)]
        size = max(len(m) for m in members)
        slot = np.zeros_like(teams)
        index = np.full((2, size), len(teams), np.int32)
        for t, m in enumerate(members):
            slot[m] = np.arange(len(m))
            index[t, : len(m)] = m
        return AgentLayout(tuple(int(t) for t in teams), tuple(int(s) for s in slot),
                           (tuple(int(i) for i in index[0]), tuple(int(i) for i in index[1])))

    def features(self) -> jax.Array:
        """float32[N, 2 + S]: team one-hot then slot one-hot."""
        team = jax.nn.one_hot(jnp.asarray(self.teams), 2)
        slot = jax.nn.one_hot(jnp.asarray(self.slot), self.max_team)
        return jnp.concatenate([team, slot], axis=-1)

    def gather_teams(self, x: jax.Array, axis: int = -2) -> jax.Array:
        """x with its agent axis N at `axis` ([..., N, D] by default) -> that axis replaced by [2, S],
        zeros in padding slots."""
        axis = axis % x.ndim
        padded = jnp.concatenate([x, jnp.zeros(x.shape[:axis] + (1,) + x.shape[axis + 1:], x.dtype)], axis=axis)
        out = jnp.take(padded, jnp.asarray(self.index).reshape(-1), axis=axis)
        return out.reshape(x.shape[:axis] + (2, self.max_team) + x.shape[axis + 1:])

    def scatter_agents(self, v: jax.Array) -> jax.Array:
        """[..., 2, S] -> [..., N]: each agent's entry at (its team, its slot)."""
        flat = v.reshape(v.shape[:-2] + (2 * self.max_team,))
        return jnp.take(flat, jnp.asarray(self.teams) * self.max_team + jnp.asarray(self.slot), axis=-1)


@dataclass(frozen=True, eq=False)
class TrainedTeams:
    """The H teams an update trains on: both teams of each of the first `self_play_envs` environments
    (the learner plays itself there), then the learner's team of every other environment, whose side
    alternates with the environment's index. The opponents' agents never reach the loss (7/16 of
    the agent rows with the default groups).

    env: int[H] each team's environment; team: int[H] which team it is (0 A, 1 B); valid: bool[H, S]
    slots that hold an agent; rows: int[H, S] each slot's row in a flattened [B * N + 1] batch (the
    last row is a zero pad); feats: float32[H, S, E] each slot's agent features.
    """

    env: np.ndarray
    team: np.ndarray
    valid: np.ndarray
    rows: np.ndarray
    feats: np.ndarray

    @property
    def count(self) -> int:
        return len(self.env)

    @staticmethod
    def of(layout: AgentLayout, num_envs: int, self_play_envs: int) -> "TrainedTeams":
        n, b, b_self = layout.n_agents, num_envs, self_play_envs
        env = np.concatenate([np.repeat(np.arange(b_self), 2), np.arange(b_self, b)])
        team = np.concatenate([np.tile([0, 1], b_self), np.arange(b_self, b) % 2])
        index = np.asarray(layout.index)[team]  # [H, S] agent of each slot, n in padding
        valid = index < n
        rows = np.where(valid, env[:, None] * n + index, b * n)
        feats = np.asarray(layout.features())
        feats = np.concatenate([feats, np.zeros_like(feats[:1])])[index]
        return TrainedTeams(env, team, valid, rows, feats)

    def gather(self, x: jax.Array) -> jax.Array:
        """[L, B, N, ...] -> [L, H, S, ...]: the agents of the trained teams, zeros in padding slots."""
        lead, rest = x.shape[0], x.shape[3:]
        flat = x.reshape((lead, x.shape[1] * x.shape[2]) + rest)  # explicit: a trailing size may be 0 (no memory)
        flat = jnp.concatenate([flat, jnp.zeros((lead, 1) + rest, x.dtype)], axis=1)
        return jnp.take(flat, jnp.asarray(self.rows.reshape(-1)), axis=1).reshape((lead,) + self.rows.shape + rest)
