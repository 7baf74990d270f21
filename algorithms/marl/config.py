"""The learner's configuration: one frozen, hashable dataclass, checked before anything compiles."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from algorithms.marl import networks, opponent_pool

CRITICS = ("mappo", "ippo")
CREDITS = ("team", "agent")


@dataclass(frozen=True)
class TrainConfig:
    """Self-play MAPPO / IPPO. Every field is static (closed over by `jit`); see `check`.

    Sizes: each update collects `rollout_steps` x `num_envs` environment steps; the environments are
    split into `opponent_groups` groups, each playing one opponent for the update: the first
    round(self_play_fraction x groups) play the current policy (both sides are trained), the last
    round(fixed_fraction x groups) one of the fixed scripted opponents, the others an opponent drawn
    from the whole pool (snapshots and fixed opponents); drawn by `opponent_sampling`, kept for
    `opponent_period` updates and met in fresh episodes. The
    learner's side alternates between environments, so it plays both sides of asymmetric scenarios.
    """

    scenario: str = "identical_5_vs_5_fobs_vec_void_disc"
    total_steps: int = 4_000_000  # environment steps (rounded up to whole checkpoints' worth of updates)
    num_envs: int = 256
    rollout_steps: int = 32
    epochs: int = 2  # 4 learnt no more per step and cost 1.7x the time per update
    minibatches: int = 4
    learning_rate: float = 3e-3  # with entropy 0.001: chaser 0.36 against 0.15 (1e-3, 0.01); RESULTS.md, 2026-12-02
    anneal_lr: bool = True  # linearly to 0 (RESULTS.md, 2026-12-03: chaser 0.70 after 4 M steps)
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    value_clip_eps: float | None = 0.2
    entropy_coef: float = 0.001
    value_coef: float = 0.5
    max_grad_norm: float = 0.5
    critic: str = "mappo"  # "mappo": centralised team critic; "ippo": per-agent critic
    # "team": every agent learns from its team's mean reward until the episode ends, dead or alive;
    # "agent": from its own reward until it dies (Gigastep's per-agent reward, in which dying ends an
    # agent's share of its team's losses). See `Learner.credit`.
    credit: str = "team"
    encoder: str = "mlp"  # "mlp" | "attention" (vector obs) | "cnn" (RGB obs)
    hidden: int = 64
    recurrent: bool = False  # a GRU actor (partial observability); trained on whole rollouts of each env
    ego_frame: bool = True  # add ego-frame features to vector observations (networks.egocentric)
    # self-play
    pool_size: int = 8
    snapshot_every: int = 10  # updates between snapshots joining the pool
    opponent_sampling: str = "pfsp"
    # Of 8 groups: 1 against the current policy, 1 drawn from the whole pool, 6 from the fixed
    # opponents alone; with no fixed-only groups the learner met chaser too rarely to beat it (RESULTS.md).
    self_play_fraction: float = 0.125
    fixed_fraction: float = 0.75
    opponent_groups: int = 8
    opponent_period: int = 8  # updates between draws; a group's episodes restart with its new opponent
    fixed_opponents: tuple[str, ...] = ("random", "chaser", "circler")
    stats_decay: float = 0.95
    # bookkeeping
    checkpoints: int = 10  # checkpoints over the run (the run is cut into this many compiled chunks)
    seed: int = 0
    overrides: tuple[tuple[str, float], ...] = field(default=())  # gj.make overrides, e.g. (("max_steps", 200),)

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.rollout_steps

    @property
    def self_play_groups(self) -> int:
        return int(round(self.self_play_fraction * self.opponent_groups))

    @property
    def self_play_envs(self) -> int:
        """The environments against the current policy (the first ones)."""
        return self.num_envs // self.opponent_groups * self.self_play_groups

    @property
    def trained_teams(self) -> int:
        """Teams an update trains on: both of each self-play environment, the learner's of every other."""
        return self.num_envs + self.self_play_envs

    @property
    def fixed_groups(self) -> int:
        return int(round(self.fixed_fraction * self.opponent_groups))

    @property
    def updates_per_chunk(self) -> int:
        return max(1, math.ceil(self.total_steps / (self.steps_per_update * self.checkpoints)))

    @property
    def num_updates(self) -> int:
        return self.updates_per_chunk * self.checkpoints

    def make_env(self):
        import gigastep_jax as gj

        return gj.make(self.scenario, **dict(self.overrides))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(d: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(TrainConfig)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}; allowed: {sorted(known)}")
        d = dict(d)
        if "fixed_opponents" in d:
            d["fixed_opponents"] = tuple(d["fixed_opponents"])
        if "overrides" in d:
            d["overrides"] = tuple(tuple(o) for o in d["overrides"])
        return TrainConfig(**d)


def _positive(name: str, value, *, integer: bool = False, allow_zero: bool = False) -> None:
    ok_type = isinstance(value, int) and not isinstance(value, bool) if integer else isinstance(value, (int, float))
    if not ok_type or not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        kind = "an int" if integer else "a number"
        raise ValueError(f"{name} must be {kind} {'>= 0' if allow_zero else '> 0'}, got {value!r}")


def check(config: TrainConfig):
    """Reject a bad configuration with a ValueError naming the field; returns the environment."""
    for name in ("total_steps", "num_envs", "rollout_steps", "epochs", "minibatches", "hidden",
                 "opponent_groups", "opponent_period", "checkpoints", "snapshot_every"):
        _positive(name, getattr(config, name), integer=True)
    _positive("pool_size", config.pool_size, integer=True, allow_zero=True)
    for name in ("learning_rate", "max_grad_norm", "clip_eps"):
        _positive(name, getattr(config, name))
    for name in ("entropy_coef", "value_coef"):
        _positive(name, getattr(config, name), allow_zero=True)
    for name in ("gamma", "gae_lambda", "self_play_fraction", "fixed_fraction", "stats_decay"):
        v = getattr(config, name)
        if not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {v!r}")
    if config.value_clip_eps is not None:
        _positive("value_clip_eps", config.value_clip_eps)
    b = config.num_envs
    if b % config.opponent_groups:
        raise ValueError(f"num_envs ({b}) must be divisible by opponent_groups ({config.opponent_groups})")
    b_self, teams = config.self_play_envs, config.trained_teams
    if teams % config.minibatches:
        ok = [m for m in range(1, min(teams, 64) + 1) if teams % m == 0]
        raise ValueError(f"minibatches ({config.minibatches}) must divide the {teams} teams an update trains on "
                         f"(both teams of the {b_self} self-play environments, the learner's of the other "
                         f"{b - b_self}); allowed: {ok}")
    if (b // config.opponent_groups) % 2:
        raise ValueError(f"each opponent group needs an even number of environments (the learner plays both "
                         f"sides): num_envs / opponent_groups = {b // config.opponent_groups}")
    if config.critic not in CRITICS:
        raise ValueError(f"unknown critic {config.critic!r}; allowed: {', '.join(CRITICS)}")
    if config.credit not in CREDITS:
        raise ValueError(f"unknown credit {config.credit!r}; allowed: {', '.join(CREDITS)}")
    if config.encoder not in networks.ENCODERS:
        raise ValueError(f"unknown encoder {config.encoder!r}; allowed: {', '.join(networks.ENCODERS)}")
    if config.opponent_sampling not in opponent_pool.SAMPLING:
        raise ValueError(f"unknown opponent_sampling {config.opponent_sampling!r}; allowed: {', '.join(opponent_pool.SAMPLING)}")
    for f in config.fixed_opponents:
        if f not in opponent_pool.FIXED:
            raise ValueError(f"unknown fixed opponent {f!r}; allowed: {', '.join(opponent_pool.FIXED)}")
    if config.self_play_groups + config.fixed_groups > config.opponent_groups:
        raise ValueError(f"self_play_fraction ({config.self_play_fraction}) and fixed_fraction ({config.fixed_fraction}) "
                         f"take {config.self_play_groups} + {config.fixed_groups} of the {config.opponent_groups} "
                         f"opponent_groups; they must add up to at most 1")
    if config.fixed_groups and not config.fixed_opponents:
        raise ValueError(f"fixed_fraction ({config.fixed_fraction}) needs fixed_opponents, got none")
    if len(set(config.fixed_opponents)) != len(config.fixed_opponents):
        raise ValueError(f"fixed_opponents has duplicates: {config.fixed_opponents}")
    env = config.make_env()  # unknown scenario: ValueError with close matches
    image = len(env.obs_shape) == 3
    if image and config.encoder != "cnn":
        raise ValueError(f"{config.scenario} has image observations {env.obs_shape}: use encoder='cnn'")
    if not image and config.encoder == "cnn":
        raise ValueError(f"{config.scenario} has vector observations {env.obs_shape}: use encoder='mlp' or 'attention'")
    return env
