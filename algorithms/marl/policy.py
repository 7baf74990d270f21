"""Trained policies as first-class objects: a run's checkpoint as `policy(key, env, state) -> action`.

    policy = load_policy("out/demo")                  # the last checkpoint; "out/demo@3" or checkpoint=3
    action = policy(key, env, state)                  # int32[N] or float32[N, 3], like gj.policies.chaser
    gj.render.play(env, key, gj.policies.by_team(policy, gj.policies.chaser))

The policy observes with `env.observe` and samples its network's action (the mode with
`greedy=True`); it is jit- and vmap-able and acts for all N agents, so `gj.policies.by_team` puts it
on one side. Recurrent (GRU) policies carry memory between steps and need the memory protocol of
`BattleGame` (`population.make_apply`), so `load_policy` refuses them with that pointer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import jax

import gigastep_jax as gj
from algorithms.marl import checkpoint, population
from algorithms.marl.learner import Learner, make_learner

Policy = Callable[[jax.Array, gj.Env, gj.EnvState], jax.Array]


def parse_run_spec(spec: str | Path, checkpoint_step: int | None = None) -> tuple[Path, int | None]:
    """"RUN_DIR" or "RUN_DIR@STEP" -> (run folder, checkpoint step or None for the last)."""
    text = str(spec)
    if "@" in text and checkpoint_step is None:
        text, _, step = text.rpartition("@")
        if not step.isdigit():
            raise ValueError(f"{spec!r}: a checkpoint is RUN_DIR@STEP with STEP a whole number, got {step!r}")
        checkpoint_step = int(step)
    return Path(text), checkpoint_step


def load_actor(run_dir: str | Path, checkpoint_step: int | None = None) -> tuple[Learner, Any, int]:
    """(the run's learner, the actor params of the checkpoint, its step) of a `gigastep-jax train`
    folder; ValueError for a folder that holds no run or a checkpoint that does not exist."""
    run, step = parse_run_spec(run_dir, checkpoint_step)
    ckpt_dir = run / "checkpoints"
    if not run.is_dir():
        raise ValueError(f"no such run folder {str(run)!r} (a folder written by gigastep-jax train)")
    steps = checkpoint.steps(ckpt_dir)
    if not steps:
        raise checkpoint.CheckpointError(f"{run} holds no checkpoints (expected {ckpt_dir}/<step>/ from "
                                         f"gigastep-jax train)")
    step = steps[-1] if step is None else step
    if step not in steps:
        raise checkpoint.CheckpointError(f"{run} has no checkpoint {step}; it has {steps}")
    learner = make_learner(checkpoint.saved_config(ckpt_dir, step))
    state, _ = checkpoint.restore(ckpt_dir, step, learner.init(jax.random.PRNGKey(0)))
    return learner, state.params["actor"], step


def load_policy(run_dir: str | Path, checkpoint: int | None = None, greedy: bool = False) -> Policy:
    """The policy of a run's checkpoint (the last by default, or RUN_DIR@STEP) with the signature
    of the scripted policies: `policy(key, env, state) -> action` for all N agents."""
    learner, actor, step = load_actor(run_dir, checkpoint)
    if learner.ac.memory_size:
        raise ValueError(f"{run_dir} trained a recurrent (GRU) policy, which carries memory between steps; play it "
                         f"with algorithms.marl.population.make_apply and BattleGame's memory protocol")
    apply = population.make_apply(learner.ac, greedy=greedy, scripted=False)
    trained = learner.env

    def policy(key: jax.Array, env: gj.Env, state: gj.EnvState) -> jax.Array:
        if env.n_agents != trained.n_agents or tuple(env.obs_shape) != tuple(trained.obs_shape) \
                or env.discrete != trained.discrete:
            raise ValueError(f"the policy of {run_dir} (checkpoint {step}) was trained on {trained.name} "
                             f"({trained.n_agents} agents, observations {tuple(trained.obs_shape)}, "
                             f"{'discrete' if trained.discrete else 'continuous'} actions); {env.name} differs")
        return apply(dict(actor=actor), key, env, state)

    policy.run, policy.checkpoint, policy.scenario = str(run_dir), step, trained.name
    return policy
