"""The learner's configuration: one frozen, hashable dataclass, checked before anything compiles."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from algorithms import validate
from algorithms.marl import networks
from algorithms.marl.credit import CREDITS

CRITICS = ("mappo", "ippo")


@dataclass(frozen=True)
class TrainConfig:
    """Self-play MAPPO / IPPO. Every field is static (closed over by `jit`); see `check`.

    Sizes: each update collects `rollout_steps` x `num_envs` environment steps; the environments are
    split into `opponent_groups` groups, each playing one opponent for the update: the first
    round(self_play_fraction x groups) play the current policy (both sides are trained), the last
    round(scripted_fraction x groups) one of the scripted opponents, the others an opponent drawn
    from the whole pool (snapshots, and scripted opponents if any); drawn by `opponent_sampling`,
    kept for `opponent_period` updates and met in fresh episodes (`algorithms.marl.matchmaking`).
    The learner's side alternates between environments, so it plays both sides of asymmetric
    scenarios.

    The default recipe is self-play alone: the learner meets only itself and its earlier snapshots,
    and random, chaser and circler are held out to measure it (docs/DESIGN.md#the-self-play-recipe).
    Why each default is what it is: docs/DESIGN.md#learner-defaults-and-their-evidence.
    """

    scenario: str = "identical_5_vs_5_fobs_vec_void_disc"  # a name from gigastep_jax.list_scenarios()
    total_steps: int = 4_000_000  # environment steps (rounded up to whole checkpoints' worth of updates)
    num_envs: int = 256  # environments stepped together (B)
    rollout_steps: int = 32  # steps per environment per update (T)
    epochs: int = 2  # PPO passes over each rollout; docs/DESIGN.md#two-epochs
    minibatches: int = 4  # minibatches of whole teams per epoch (divide the trained teams)
    learning_rate: float = 3e-3  # Adam's; docs/DESIGN.md#learning-rate-and-entropy
    anneal_lr: bool = True  # linearly to 0; docs/DESIGN.md#annealed-learning-rate
    gamma: float = 0.99  # discount
    gae_lambda: float = 0.95  # GAE's lambda
    clip_eps: float = 0.2  # PPO's ratio clip
    value_clip_eps: float | None = 0.2  # PPO's value clip (none: unclipped)
    entropy_coef: float = 0.003  # entropy bonus; 0.001 collapsed in self-play: docs/DESIGN.md#the-self-play-recipe
    value_coef: float = 0.5  # weight of the value loss
    max_grad_norm: float = 0.5  # global-norm gradient clip
    critic: str = "mappo"  # "mappo": centralised team critic; "ippo": per-agent critic
    credit: str = "team"  # "team" | "agent": what each agent learns from (algorithms.marl.credit)
    encoder: str = "mlp"  # "mlp" | "attention" (vector obs) | "cnn" (RGB obs)
    hidden: int = 64  # width of the networks
    recurrent: bool = False  # a GRU actor (partial observability); trained on whole rollouts of each env
    ego_frame: bool = True  # add ego-frame features to vector observations (networks.egocentric)
    # self-play: the learner meets only itself and its past (docs/DESIGN.md#the-self-play-recipe)
    pool_size: int = 8  # snapshots of the learner kept as opponents (0: scripted opponents only)
    snapshot_every: int = 10  # updates between snapshots joining the pool (0: none, a frozen pool: an exploiter's)
    opponent_sampling: str = "pfsp"  # uniform, latest or pfsp: the snapshots it loses to most (AlphaStar)
    self_play_fraction: float = 0.5  # groups against the current policy; the rest draw earlier snapshots
    scripted_fraction: float = 0.0  # groups against scripted opponents: none, they are held out as yardsticks
    opponent_groups: int = 8  # environment groups, one opponent each per update
    opponent_period: int = 8  # updates between draws; a group's episodes restart with its new opponent
    scripted_opponents: tuple[str, ...] = ()  # scripted opponents in training (names of gj.policies.SCRIPTED)
    stats_decay: float = 0.95  # per-update decay of the pool's win statistics (PFSP)
    # bookkeeping
    checkpoints: int = 10  # checkpoints over the run (the run is cut into this many compiled chunks)
    seed: int = 0  # of the initial parameters, environments and draws
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
    def scripted_groups(self) -> int:
        return int(round(self.scripted_fraction * self.opponent_groups))

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
        unknown = sorted(set(d) - known - set(RENAMED))
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}; allowed: {sorted(known)}")
        d = {RENAMED.get(k, k): v for k, v in d.items()}
        if "scripted_opponents" in d:
            d["scripted_opponents"] = tuple(d["scripted_opponents"])
        if "overrides" in d:
            d["overrides"] = tuple(tuple(o) for o in d["overrides"])
        return TrainConfig(**d)


# Fields renamed since runs were first written: old checkpoints' configs still load.
RENAMED = {"fixed_opponents": "scripted_opponents", "fixed_fraction": "scripted_fraction"}


INT32_MAX = 2**31 - 1  # the step counters inside jit (updates, optimiser steps) are int32


def _check_counters(config: TrainConfig) -> None:
    """The run's counters fit int32 (otherwise it would compile, then overflow)."""
    per_update = config.epochs * config.minibatches  # optimiser steps
    if config.num_updates * per_update > INT32_MAX:
        most = INT32_MAX // per_update // config.checkpoints * config.checkpoints * config.steps_per_update
        raise ValueError(f"total_steps ({config.total_steps:,}) needs {config.num_updates:,} updates of "
                         f"{per_update} optimiser steps, more than the int32 step counters hold ({INT32_MAX:,}); "
                         f"total_steps must be at most {most:,} with these sizes")


def check(config: TrainConfig):
    """Reject a bad configuration with a ValueError naming the field; returns the environment.
    (Who plays whom is checked by `matchmaking.make_matchmaking`.)"""
    for name in ("total_steps", "num_envs", "rollout_steps", "epochs", "minibatches", "hidden",
                 "opponent_groups", "opponent_period", "checkpoints"):
        validate.integer(name, getattr(config, name), 1)
    validate.integer("pool_size", config.pool_size, 0)
    validate.integer("snapshot_every", config.snapshot_every, 0)
    for name in ("learning_rate", "max_grad_norm", "clip_eps"):
        validate.positive(name, getattr(config, name))
    for name in ("entropy_coef", "value_coef"):
        validate.positive(name, getattr(config, name), allow_zero=True)
    for name in ("gamma", "gae_lambda", "self_play_fraction", "scripted_fraction", "stats_decay"):
        validate.fraction(name, getattr(config, name))
    if config.value_clip_eps is not None:
        validate.positive("value_clip_eps", config.value_clip_eps)
    _check_counters(config)
    b, b_self, teams = config.num_envs, config.self_play_envs, config.trained_teams
    if teams % config.minibatches:
        ok = [m for m in range(1, min(teams, 64) + 1) if teams % m == 0]
        raise ValueError(f"minibatches ({config.minibatches}) must divide the {teams} teams an update trains on "
                         f"(both teams of the {b_self} self-play environments, the learner's of the other "
                         f"{b - b_self}); allowed: {ok}")
    validate.choice("critic", config.critic, CRITICS)
    validate.choice("credit", config.credit, CREDITS)
    validate.choice("encoder", config.encoder, networks.ENCODERS)
    env = config.make_env()  # unknown scenario: ValueError with close matches
    image = len(env.obs_shape) == 3
    if image and config.encoder != "cnn":
        raise ValueError(f"{config.scenario} has image observations {env.obs_shape}: use encoder='cnn'")
    if not image and config.encoder == "cnn":
        raise ValueError(f"{config.scenario} has vector observations {env.obs_shape}: use encoder='mlp' or 'attention'")
    return env
