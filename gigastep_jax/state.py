"""What a battle is made of: the static `Scenario`, the tunable `EnvParams`, the changing `EnvState`.

Three kinds of configuration, kept apart on purpose (gymnax's split):

* `Scenario` fixes shapes (team sizes, observation kind, action kind, maps). It is a frozen,
  hashable dataclass closed over by `jit`; changing it compiles a new function.
* `EnvParams` holds numbers a user may want to `vmap` or sweep over (unit stats, damage and
  detection constants, reward weights). A pytree of arrays: changing it does not recompile.
* `EnvState` holds what changes within an episode. A `flax.struct.dataclass`, every leaf with an
  explicit dtype so a state built by `reset` and one built by `step` trace identically.

Shapes use N for the number of agents and M for the number of obstacle boxes.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import chex
import jax.numpy as jnp
import numpy as np
from flax import struct

ObsKind = Literal["vec", "rgb"]
Observability = Literal["fobs", "pobs"]
MapKind = Literal["void", "maps"]
TimeoutWinner = Literal["none", "team_a", "team_b", "waypoints"]
PairsKind = Literal["auto", "all", "local"]
LOCAL_PAIRS_FROM = 150  # agents: from here "auto" takes the local path (measured crossover: 75 v 75, benchmarks/RESULTS.md)


@dataclasses.dataclass(frozen=True)
class Scenario:
    """Static description of one match-up. Hashable: `jit` closes over it.

    Per-agent tuples have length `n_agents`, agents ordered team A first, then team B.
    """

    name: str
    team: tuple[int, ...]  # 0 = team A, 1 = team B
    unit_type: tuple[str, ...]  # unit type name per agent (or "custom")
    sprite: tuple[int, ...]  # sprite bits per agent: 1 centre, 2 cross, 4 corners
    max_health: tuple[float, ...]
    detection_range: tuple[float, ...]  # scales the detection radius 3·sqrt(range)
    damage_range: tuple[float, ...]  # scales the damage radius 2.05·sqrt(range); 0 = deals none
    thrust: tuple[float, ...]
    idle_reward: tuple[float, ...]  # reward per step alive (hiders)
    obs_kind: ObsKind = "vec"
    observability: Observability = "fobs"
    maps: MapKind = "void"
    discrete: bool = True
    arena: tuple[float, float] = (10.0, 10.0)
    waypoints: bool = False
    episode_ends_one_team_dead: bool = True
    timeout_winner: TimeoutWinner = "none"
    max_steps: int = 500
    max_obs_agents: int = 15  # rows of the vector observation: ego + up to 14 nearest seen
    resolution: int = 84
    # Large battles (`gigastep_jax.neighbours`): pairs farther apart than sight_radius never
    # interact (no detection, sharing, collision or damage; not in the vector observation's rows);
    # None is Gigastep's rule, no limit. pairs: "all" works on every pair [N, N], "local" on
    # each agent's cell-list candidates [N, 3 * window] (needs a sight_radius), "auto" picks local
    # from LOCAL_PAIRS_FROM agents on (measured crossover) where the observation allows it.
    sight_radius: float | None = None
    pairs: PairsKind = "auto"
    window: int = 21  # local: candidates read per run of three grid cells (3 * 21 = 63 <= 64, the sort network)
    max_targets: int = 4  # local: damage targets tracked per shooter
    max_detectors: int = 8  # local, pobs: detectors of each agent its enemies' sharing reads

    @property
    def local_pairs(self) -> bool:
        """Whether steps use the local (cell-list) path."""
        if self.pairs == "local":
            return True
        # Per-ego RGB images draw every seen agent: the native composer takes [N, N] visibility.
        auto = self.obs_kind == "vec" or self.observability == "fobs"
        return self.pairs == "auto" and self.sight_radius is not None and auto and self.n_agents >= LOCAL_PAIRS_FROM

    @property
    def n_agents(self) -> int:
        return len(self.team)

    @property
    def n_team_a(self) -> int:
        return sum(1 for t in self.team if t == 0)

    @property
    def n_team_b(self) -> int:
        return self.n_agents - self.n_team_a

    @property
    def obs_rows(self) -> int:
        return min(self.n_agents, self.max_obs_agents)


@struct.dataclass
class EnvParams:
    """Tunable numbers; every leaf an array so `vmap` over params works.

    Per-agent leaves are float32[N] and come first, without defaults (they follow the scenario's
    units). The rest are float32[] scalar constants whose defaults are Gigastep's; they are
    `np.float32`, not Python floats, so a default leaf is never weakly typed and traces like one
    set by hand. `constant_defaults()` lists them.
    """

    max_health: chex.Array
    detection_range: chex.Array
    damage_range: chex.Array
    thrust: chex.Array
    idle_reward: chex.Array
    damage_per_second: chex.Array = np.float32(1.0)
    healing_per_second: chex.Array = np.float32(0.1)
    damage_cone_depth: chex.Array = np.float32(2.05)  # damage radius for damage_range 1
    damage_cone_angle: chex.Array = np.float32(np.pi / 4)  # half-angle of the damage cone (rad)
    cone_depth: chex.Array = np.float32(3.0)  # detection radius for detection_range 1 (pobs)
    cone_angle: chex.Array = np.float32(np.pi * 0.75)  # half-angle of the detection cone (pobs)
    very_close: chex.Array = np.float32(1.0)  # always detected within this distance (pobs)
    communication_range: chex.Array = np.float32(8.0)  # teammates share with probability 1 - d / this (pobs)
    collision_range: chex.Array = np.float32(0.4)  # horizontal collision distance
    collision_altitude: chex.Array = np.float32(0.5)  # vertical collision distance
    min_tracking_steps: chex.Array = np.float32(3.0)
    max_tracking_steps: chex.Array = np.float32(10.0)
    reward_game_won: chex.Array = np.float32(10.0)
    reward_defeat_one_opponent: chex.Array = np.float32(100.0)
    reward_detection: chex.Array = np.float32(0.0)
    reward_damage: chex.Array = np.float32(0.0)
    reward_idle: chex.Array = np.float32(0.0)
    reward_agent_disabled: chex.Array = np.float32(0.0)
    reward_collision_agent: chex.Array = np.float32(0.0)
    reward_collision_obstacle: chex.Array = np.float32(0.0)
    reward_hit_waypoint: chex.Array = np.float32(0.0)
    aux_rewards_factor: chex.Array = np.float32(1.0)  # scales every reward term but the win (curriculum)

    @classmethod
    def constant_defaults(cls) -> dict[str, np.float32]:
        """{name: default} of the scalar constants, in field order (the per-agent leaves have no default)."""
        return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


@struct.dataclass
class EnvState:
    """Everything that changes within an episode, for one environment.

    Agent leaves are stacked over agents (never a dict of agents).
    """

    x: chex.Array  # float32[N]
    y: chex.Array  # float32[N]
    z: chex.Array  # float32[N] altitude in [0, 10]
    v: chex.Array  # float32[N] speed, >= 1.3 while alive
    heading: chex.Array  # float32[N] in [-pi, pi)
    health: chex.Array  # float32[N] in [0, max_health]; 0 once dead
    alive: chex.Array  # bool[N]
    # Pair state. All-pairs path: [N, N] over targets. Local path: over slots, see below.
    tracked: chex.Array  # int32[N, N] tracked[o, t] = steps o has held t in its damage cone; local [N, T]
    detected: chex.Array  # bool[N, N] detected[o, t] = o detected t this step; local [N, C] over `neighbours`
    # Local path only ([N, 0] on the all-pairs path): the candidates of each agent at this step's
    # positions, the targets of the tracked slots, and (partial observability) who detected each
    # agent, read by the sharing of the detectors' teammates (`observe.sight`).
    neighbours: chex.Array  # int32[N, C]: agent index per slot; the agent itself in empty slots
    neighbours_ok: chex.Array  # bool[N, C]: the slot holds a candidate
    tracked_target: chex.Array  # int32[N, T]: the target of each tracked slot
    detectors: chex.Array  # int32[N, D]: agents that detected t this step, -1 in empty slots (pobs)
    damage_taken: chex.Array  # float32[N] health lost to damage this step
    map_idx: chex.Array  # int32[]
    boxes: chex.Array  # float32[M, 4] obstacle boxes (x1, y1, x2, y2) of the drawn map
    waypoint: chex.Array  # float32[4] waypoint box (x1, y1, x2, y2)
    waypoint_timer: chex.Array  # float32[] seconds left; > 0 means the waypoint is active
    waypoint_score: chex.Array  # int32[2] waypoints collected per team
    t: chex.Array  # int32[] steps taken in this episode


def per_agent(values: tuple[float, ...]) -> jnp.ndarray:
    return jnp.asarray(np.asarray(values, dtype=np.float32))
