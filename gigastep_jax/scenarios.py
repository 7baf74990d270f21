"""The scenario registry: unit types, Gigastep's 18 match-ups and 4 larger ones x 16 variants, a builder.

A name reads `{base}_{fobs|pobs}_{vec|rgb}_{void|maps}_{disc|cont}`, e.g.
`identical_5_vs_5_fobs_vec_void_disc`; `list_scenarios()` returns all 352.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import math
from typing import Any, Mapping

import jax.numpy as jnp

from gigastep_jax.state import EnvParams, Scenario, per_agent


@dataclasses.dataclass(frozen=True)
class UnitType:
    """Stats of one kind of unit (Gigastep's agent types)."""

    name: str
    sprite: int = 1
    max_health: float = 1.0
    detection_range: float = 1.0
    damage_range: float = 1.0
    thrust: float = 1.0
    idle_reward: float = 0.0


UNIT_TYPES: dict[str, UnitType] = {
    u.name: u
    for u in (
        UnitType("default"),
        UnitType("more_health", sprite=7, max_health=3.0),
        UnitType("more_range", sprite=3, max_health=0.5, detection_range=2.0),
        UnitType("faster", sprite=5, thrust=2.0),
        UnitType("super", sprite=6, max_health=3.0, thrust=0.8),
        UnitType("seeker"),
        UnitType("hider", sprite=4, damage_range=0.0, idle_reward=1.0),
    )
}

# The two games that are not plain battles, as what they change (Gigastep's values). These are
# data, one line per group of meaning: the rules, then the rewards, then the scenario options.
_HIDE_AND_SEEK = dict(
    constants=dict(
        damage_per_second=10.0, damage_cone_depth=1.0, damage_cone_angle=math.pi, collision_range=0.0,
        reward_game_won=50.0, reward_defeat_one_opponent=5.0, reward_damage=10.0,
        reward_agent_disabled=10.0, reward_collision_obstacle=10.0,
    ),
)
# Nobody deals damage (a zero cone); teams score waypoints until the time limit.
_WAYPOINT = dict(
    constants=dict(
        damage_cone_depth=0.0,
        reward_game_won=0.0, reward_defeat_one_opponent=0.0, reward_hit_waypoint=50.0,
    ),
    waypoints=True, episode_ends_one_team_dead=False, timeout_winner="waypoints",
)
_SPECIAL_5 = {"more_health": 1, "more_range": 1, "faster": 1, "super": 1, "default": 1}
_SPECIAL_10 = {"more_health": 3, "more_range": 3, "faster": 3, "default": 1}
_SPECIAL_20 = {"more_health": 5, "more_range": 5, "faster": 5, "default": 5}
_SPECIAL_5_ATTACK = {"more_health": 1, "more_range": 1, "faster": 1, "default": 2}
_SPECIAL_100 = {"more_health": 25, "more_range": 25, "faster": 25, "default": 25}


def _arena(n_agents: int) -> tuple[float, float]:
    """A square arena holding `n_agents` at Gigastep's density (10 agents in 10 x 10, 40 in 20 x 20)."""
    side = round(math.sqrt(n_agents / 0.1), 1)
    return side, side


# Large battles see and act within this radius (`Scenario.sight_radius`), so a step costs O(N k):
# it covers every pairwise rule of Gigastep's units (damage 2.05 * sqrt(range), partial
# observability's detection 3 * sqrt(range), 4.24 for `more_range`); it cuts sharing (8) and
# what full observability lists in the vector observation (every agent) to 4.5.
LARGE_SIGHT = 4.5


def _large(team_a: dict[str, int], team_b: dict[str, int]) -> dict[str, Any]:
    n = sum(team_a.values()) + sum(team_b.values())
    return dict(team_a=team_a, team_b=team_b, arena=_arena(n), sight_radius=LARGE_SIGHT)

# The 18 bases: teams as {unit type: count}, plus what differs from a plain battle.
BASES: dict[str, dict[str, Any]] = {
    "identical_1_vs_1": dict(team_a={"default": 1}, team_b={"default": 1}),
    "identical_2_vs_2": dict(team_a={"default": 2}, team_b={"default": 2}),
    "identical_5_vs_5": dict(team_a={"default": 5}, team_b={"default": 5}),
    "identical_10_vs_10": dict(team_a={"default": 10}, team_b={"default": 10}),
    "identical_20_vs_20": dict(team_a={"default": 20}, team_b={"default": 20}, arena=(20.0, 20.0)),
    "identical_5_vs_1": dict(team_a={"default": 5}, team_b={"super": 1}),
    "identical_10_vs_3": dict(team_a={"default": 10}, team_b={"super": 3}),
    "identical_20_vs_5": dict(team_a={"default": 20}, team_b={"super": 5}),
    "special_5_vs_5": dict(team_a=_SPECIAL_5, team_b=_SPECIAL_5),
    "special_10_vs_10": dict(team_a=_SPECIAL_10, team_b=_SPECIAL_10),
    "special_20_vs_20": dict(team_a=_SPECIAL_20, team_b=_SPECIAL_20, arena=(20.0, 20.0)),
    "special_5_vs_1": dict(team_a=_SPECIAL_5_ATTACK, team_b={"super": 1}),
    "special_10_vs_3": dict(team_a=_SPECIAL_10, team_b={"super": 3}),
    "special_20_vs_5": dict(team_a=_SPECIAL_20, team_b={"super": 5}),
    # Past Gigastep's 20 v 20 (its own 50..10000 per side are commented out at 6288d65): the arena
    # grows with the battle so that density stays Gigastep's; pairs interact within LARGE_SIGHT.
    "identical_100_vs_100": _large({"default": 100}, {"default": 100}),
    "identical_500_vs_500": _large({"default": 500}, {"default": 500}),
    "identical_1000_vs_1000": _large({"default": 1000}, {"default": 1000}),
    "special_100_vs_100": _large(_SPECIAL_100, _SPECIAL_100),
    "waypoint_5_vs_5": dict(team_a={"default": 5}, team_b={"default": 5}, **_WAYPOINT),
    "waypoint_5_vs_3": dict(team_a={"default": 5}, team_b={"faster": 3}, **_WAYPOINT),
    # Seekers win by catching every hider; hiders win by lasting to the time limit.
    "hide_and_seek_5_vs_5": dict(
        team_a={"seeker": 5}, team_b={"hider": 5}, timeout_winner="team_b", **_HIDE_AND_SEEK
    ),
    "hide_and_seek_10_vs_5": dict(
        team_a={"hider": 10}, team_b={"seeker": 5}, timeout_winner="team_a", **_HIDE_AND_SEEK
    ),
}

OBSERVABILITY = ("fobs", "pobs")
OBS_KINDS = ("vec", "rgb")
MAP_KINDS = ("void", "maps")
ACTION_KINDS = ("disc", "cont")


def list_scenarios() -> list[str]:
    """All registered scenario names: 22 bases x fobs/pobs x vec/rgb x void/maps x disc/cont."""
    return [
        f"{base}_{o}_{k}_{m}_{a}"
        for base, o, k, m, a in itertools.product(BASES, OBSERVABILITY, OBS_KINDS, MAP_KINDS, ACTION_KINDS)
    ]


def _close_matches(name: str, choices: list[str], n: int = 5) -> str:
    close = difflib.get_close_matches(name, choices, n=n, cutoff=0.6)
    return f" Did you mean: {', '.join(close)}?" if close else ""


def parse_name(name: str) -> tuple[str, dict[str, Any]]:
    """Split a registered name into its base and variant options; ValueError with close matches."""
    if not isinstance(name, str):
        raise TypeError(f"scenario name must be a str, got {type(name).__name__}")
    parts = name.rsplit("_", 4)
    ok = (
        len(parts) == 5
        and parts[0] in BASES
        and parts[1] in OBSERVABILITY
        and parts[2] in OBS_KINDS
        and parts[3] in MAP_KINDS
        and parts[4] in ACTION_KINDS
    )
    if not ok:
        raise ValueError(
            f"unknown scenario {name!r}.{_close_matches(name, list_scenarios())} "
            f"Names are {{base}}_{{fobs|pobs}}_{{vec|rgb}}_{{void|maps}}_{{disc|cont}} with base one of "
            f"{sorted(BASES)}; gj.list_scenarios() lists all {len(list_scenarios())}."
        )
    base, obs, kind, maps, act = parts
    return base, dict(observability=obs, obs_kind=kind, maps=maps, discrete=act == "disc")


class ScenarioBuilder:
    """Custom match-ups: units by type name or with custom stats, any team sizes.

    >>> env = (ScenarioBuilder("my_3_vs_1").add(0, "default", 2).add(0, "more_health")
    ...        .add_custom(1, max_health=2.0, detection_range=2.0).make(obs_kind="vec"))
    """

    def __init__(self, name: str = "custom"):
        self.name = name
        self._units: list[tuple[int, UnitType]] = []
        self._options: dict[str, Any] = {}
        self._constants: dict[str, float] = {}

    def add(self, team: int, unit: str = "default", count: int = 1) -> "ScenarioBuilder":
        """Add `count` units of the named type to `team` (0 = A, 1 = B)."""
        self._check_team(team)
        if unit not in UNIT_TYPES:
            raise ValueError(
                f"unknown unit type {unit!r}; allowed: {sorted(UNIT_TYPES)}.{_close_matches(unit, list(UNIT_TYPES))}"
            )
        if not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive int, got {count!r}")
        self._units.extend([(team, UNIT_TYPES[unit])] * count)
        return self

    def add_custom(
        self,
        team: int,
        *,
        max_health: float = 1.0,
        detection_range: float = 1.0,
        damage_range: float = 1.0,
        thrust: float = 1.0,
        idle_reward: float = 0.0,
        sprite: int = 1,
        count: int = 1,
    ) -> "ScenarioBuilder":
        """Add `count` units with custom stats (health, range, damage range, thrust, idle reward)."""
        self._check_team(team)
        checks = dict(max_health=max_health, detection_range=detection_range, thrust=thrust)
        for key, value in checks.items():
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{key} must be a finite number > 0, got {value!r}")
        if not (isinstance(damage_range, (int, float)) and math.isfinite(damage_range) and damage_range >= 0):
            raise ValueError(f"damage_range must be a finite number >= 0 (0 deals no damage), got {damage_range!r}")
        if not (isinstance(idle_reward, (int, float)) and math.isfinite(idle_reward)):
            raise ValueError(f"idle_reward must be a finite number, got {idle_reward!r}")
        if sprite not in range(1, 8):
            raise ValueError(f"sprite must be an int in 1..7 (bits: 1 centre, 2 cross, 4 corners), got {sprite!r}")
        if not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive int, got {count!r}")
        unit = UnitType("custom", sprite, float(max_health), float(detection_range), float(damage_range),
                        float(thrust), float(idle_reward))
        self._units.extend([(team, unit)] * count)
        return self

    def set(self, **options: Any) -> "ScenarioBuilder":
        """Static options of `Scenario` (arena, waypoints, max_steps, ...) or `EnvParams` constants."""
        fields = {f.name for f in dataclasses.fields(Scenario)} - {
            "name", "team", "unit_type", "sprite", "max_health", "detection_range", "damage_range",
            "thrust", "idle_reward",
        }
        constants = EnvParams.constant_defaults()
        for key, value in options.items():
            if key in constants:
                number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
                if not number:
                    raise ValueError(f"{key} must be a finite number, got {value!r}")
                # Rewards may be penalties; every other constant is a rate, range, angle or count.
                if value < 0 and not key.startswith("reward_"):
                    raise ValueError(f"{key} must be >= 0, got {value!r} (only the reward_* weights may be negative)")
                self._constants[key] = float(value)
            elif key in fields:
                self._options[key] = value
            else:
                allowed = sorted(fields | set(constants))
                raise ValueError(f"unknown option {key!r}; allowed: {allowed}.{_close_matches(key, allowed)}")
        return self

    def build(self, **options: Any) -> tuple[Scenario, EnvParams]:
        """The static `Scenario` and default `EnvParams`; options as in `set`."""
        self.set(**options)
        teams = [t for t, _ in self._units]
        for t, label in ((0, "A"), (1, "B")):
            if t not in teams:
                raise ValueError(f"team {label} ({t}) is empty: add at least one unit to each team")
        # Team A first, then team B, so team slices are contiguous.
        units = sorted(self._units, key=lambda tu: tu[0])
        opts = dict(self._options)
        _validate_options(opts)
        scenario = Scenario(
            name=self.name,
            team=tuple(t for t, _ in units),
            unit_type=tuple(u.name for _, u in units),
            sprite=tuple(u.sprite for _, u in units),
            max_health=tuple(u.max_health for _, u in units),
            detection_range=tuple(u.detection_range for _, u in units),
            damage_range=tuple(u.damage_range for _, u in units),
            thrust=tuple(u.thrust for _, u in units),
            idle_reward=tuple(u.idle_reward for _, u in units),
            **opts,
        )
        return scenario, default_params(scenario, self._constants)

    def make(self, **options: Any):
        """Build and wrap in an `Env`."""
        from gigastep_jax.env import Env

        scenario, params = self.build(**options)
        return Env(scenario, params)

    @staticmethod
    def _check_team(team: int) -> None:
        if team not in (0, 1):
            raise ValueError(f"team must be 0 (team A) or 1 (team B), got {team!r}")


def _validate_options(opts: Mapping[str, Any]) -> None:
    allowed = dict(obs_kind=OBS_KINDS, observability=OBSERVABILITY, maps=MAP_KINDS,
                   timeout_winner=("none", "team_a", "team_b", "waypoints"))
    for key, choices in allowed.items():
        if key in opts and opts[key] not in choices:
            raise ValueError(f"{key} must be one of {choices}, got {opts[key]!r}")
    if "discrete" in opts and not isinstance(opts["discrete"], bool):
        raise ValueError(f"discrete must be a bool, got {opts['discrete']!r}")
    if "arena" in opts:
        arena = opts["arena"]
        if not (isinstance(arena, (tuple, list)) and len(arena) == 2 and all(a > 0 for a in arena)):
            raise ValueError(f"arena must be (width, height) with both > 0, got {arena!r}")
        opts["arena"] = (float(arena[0]), float(arena[1]))  # type: ignore[index]
    for key in ("max_steps", "max_obs_agents", "resolution"):
        if key in opts and not (isinstance(opts[key], int) and not isinstance(opts[key], bool) and opts[key] >= 1):
            raise ValueError(f"{key} must be an int >= 1, got {opts[key]!r}")
    if "pairs" in opts and opts["pairs"] not in ("auto", "all", "local"):
        raise ValueError(f"pairs must be one of ('auto', 'all', 'local'), got {opts['pairs']!r}")
    radius = opts.get("sight_radius")
    if radius is not None:
        if not (isinstance(radius, (int, float)) and not isinstance(radius, bool) and math.isfinite(radius) and radius > 0):
            raise ValueError(f"sight_radius must be a number > 0 or None (no limit), got {radius!r}")
        opts["sight_radius"] = float(radius)  # type: ignore[index]
    if opts.get("pairs") == "local":
        if radius is None:
            raise ValueError("pairs='local' needs a sight_radius (the cell size of its grid)")
        if opts.get("obs_kind") == "rgb" and opts.get("observability") == "pobs":
            raise ValueError("pairs='local' does not draw per-ego RGB images (pobs rgb): use pairs='all'")
    for key in ("window", "max_targets", "max_detectors"):
        if key in opts and not (isinstance(opts[key], int) and not isinstance(opts[key], bool) and opts[key] >= 1):
            raise ValueError(f"{key} must be an int >= 1, got {opts[key]!r}")
    if "resolution" in opts and opts["resolution"] < 16:
        raise ValueError(f"resolution must be >= 16 pixels, got {opts['resolution']!r}")


def default_params(scenario: Scenario, constants: Mapping[str, float] | None = None) -> EnvParams:
    """Gigastep's constants with `constants` overriding, and the scenario's unit stats.

    Every leaf a device array (jnp.float32), as `jit` arguments are, so nothing is converted per call.
    """
    values = {**EnvParams.constant_defaults(), **(constants or {})}
    return EnvParams(
        max_health=per_agent(scenario.max_health),
        detection_range=per_agent(scenario.detection_range),
        damage_range=per_agent(scenario.damage_range),
        thrust=per_agent(scenario.thrust),
        idle_reward=per_agent(scenario.idle_reward),
        **{k: jnp.float32(v) for k, v in values.items()},
    )


def builder_for(name: str) -> ScenarioBuilder:
    """A builder holding the registered scenario `name` (so it can be customised further)."""
    base, variant = parse_name(name)
    spec = BASES[base]
    builder = ScenarioBuilder(name)
    for team, key in ((0, "team_a"), (1, "team_b")):
        for unit, count in spec[key].items():
            builder.add(team, unit, count)
    options = {k: v for k, v in spec.items() if k not in ("team_a", "team_b", "constants")}
    builder.set(**options, **variant, **spec.get("constants", {}))
    return builder
