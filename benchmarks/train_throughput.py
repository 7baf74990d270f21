"""Training throughput of self-play MAPPO: environment steps per second during training, and where
the time goes.

For each configuration it compiles (timed apart, `jit(...).lower(...).compile()`) and times, best of
`--repeats` runs each:

    train     `updates` whole updates (rollout, GAE, PPO epochs, pool bookkeeping): the Learner's
              chunk, the figure a run gets (env- and agent-steps/s)
    rollout   `rollout.rollout` alone: `rollout_steps` steps of the batch with every forward pass
              (the learner's actor and critic, the opponents' actor, the scripted opponents)
    env       a `lax.scan` of `rollout_steps` `BatchedEnv` steps at the same batch from the same
              states, random actions: the raw environment inside the rollout
    update    `Learner.learn` on a finished trajectory of that rollout: what an update does after
              its rollout (GAE, the PPO epochs, the pool record and snapshot)

and reports the shares of one update: env = env / train, forward = (rollout - env) / train,
update = update / train, other = what is left (the scan over updates, scheduling; a negative value
is timing noise, or work XLA fuses across the parts when they are compiled together). Seeds are
vmapped together (`jax.vmap` of the chunk over S initial states), so S seeds of B environments step
S x B environments per call. Tiny batches give noisy shares: the parts then take milliseconds.

    python benchmarks/train_throughput.py                    # 5v5 at B = 64, 256, 1024; 2 and 4 seeds at 256
    python benchmarks/train_throughput.py --quick            # the smallest configuration only
    python benchmarks/train_throughput.py --quick --scenario identical_1_vs_1_fobs_vec_void_disc \
        --num-envs 16 --rollout-steps 8 --hidden 16 --repeats 1     # the test's smoke run

One JSON object per configuration on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from env_throughput import device_info  # noqa: E402  (the sibling benchmark's machine description)

from algorithms.marl import opponent_pool  # noqa: E402
from algorithms.marl.config import TrainConfig  # noqa: E402
from algorithms.marl import rollout  # noqa: E402
from algorithms.marl.learner import Learner, make_learner  # noqa: E402

MAIN = "identical_5_vs_5_fobs_vec_void_disc"
# (num_envs per seed, seeds); rollout_steps from --rollout-steps (32)
CONFIGS = [(64, 1), (256, 1), (1024, 1), (256, 2), (256, 4)]


def _opponents(learner: Learner, key: jax.Array, pool: opponent_pool.PoolState) -> jax.Array:
    """int32[G] opponents of one update, drawn as `Learner.update` draws them."""
    return learner.match.draw(key, pool)


def _learn(learner: Learner, state, traj: rollout.Transition, sums: dict):
    """`Learner.learn`: what an update does after its rollout (GAE, PPO epochs, pool record and
    snapshot)."""
    return learner.learn(state, traj, sums, state.memory, jax.random.PRNGKey(0))


def _env_scan(learner: Learner, key: jax.Array, env_state):
    """`rollout_steps` BatchedEnv steps with uniformly random actions; every output kept alive."""
    env, b = learner.env, learner.config.num_envs

    def body(carry, k):
        env_state, acc, _, _ = carry
        k_act, k_step = jax.random.split(k)
        if env.discrete:
            action = jax.random.randint(k_act, (b, env.n_agents), 0, env.n_actions, dtype=jnp.int32)
        else:
            action = jax.random.uniform(k_act, (b, env.n_agents, 3), minval=-1.0, maxval=1.0)
        obs, env_state, reward, _, info = learner.batched.step(k_step, env_state, action)
        return (env_state, acc + reward.sum(), obs, info["final_obs"]), None

    obs0 = jnp.zeros((b, env.n_agents) + tuple(env.obs_shape), env.obs_dtype)
    init = (env_state, jnp.float32(0.0), obs0, obs0)
    (env_state, acc, obs, final), _ = jax.lax.scan(body, init, jax.random.split(key, learner.config.rollout_steps))
    return env_state, acc, obs, final


def _init(learner: Learner, keys: jax.Array):
    """Initial states of len(keys) seeds, stacked along a leading axis (none for one seed).

    Each seed is initialised on its own, not with `jax.vmap(learner.init)`: vmapped, the orthogonal
    initialiser becomes a batched LAPACK QR, whose kernel (jaxlib 0.10.2, CPU) waits inside XLA's
    intra-op thread pool for work queued on that same pool and can deadlock (seen on 2 cores, with
    2 and 4 seeds). The chunk itself has no QR and is vmapped as is.
    """
    init = jax.jit(learner.init)
    states = [init(k) for k in keys]
    return states[0] if len(states) == 1 else jax.tree_util.tree_map(lambda *a: jnp.stack(a), *states)


def _compile(fn, *args):
    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return compiled, time.perf_counter() - t0


def _best(run, repeats: int) -> float:
    """Best wall-clock seconds of `run()` (which blocks) over `repeats` calls after one warm-up."""
    run()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    return best


def measure(config: TrainConfig, seeds: int = 1, repeats: int = 3) -> dict:
    """Train, rollout, env and update timings of one configuration (see the module docstring)."""
    learner = make_learner(config)
    b, t, u, n = config.num_envs, config.rollout_steps, config.updates_per_chunk, learner.env.n_agents
    keys = jax.random.split(jax.random.PRNGKey(config.seed), seeds)
    vm = (lambda f: jax.vmap(f)) if seeds > 1 else (lambda f: f)
    one = (lambda a: a) if seeds > 1 else (lambda a: a[0])  # seeds == 1: no seed axis at all
    state = _init(learner, keys)
    k_opp, k_env = (one(jax.random.split(k, seeds)) for k in jax.random.split(jax.random.PRNGKey(99), 2))
    opponent = jax.jit(vm(lambda k, pool: _opponents(learner, k, pool)))(k_opp, state.pool)

    # the parts alone
    roll, rollout_c = _compile(vm(lambda s, o: rollout.rollout(learner, s, o)), state, opponent)
    roll_state, traj, sums = jax.block_until_ready(roll(state, opponent))
    env_scan, env_c = _compile(vm(lambda k, s: _env_scan(learner, k, s)), k_env, state.env_state)
    learn, learn_c = _compile(vm(lambda s, tr, sm: _learn(learner, s, tr, sm)), roll_state, traj, sums)
    rollout_s = _best(lambda: jax.block_until_ready(roll(state, opponent)), repeats)
    env_s = _best(lambda: jax.block_until_ready(env_scan(k_env, state.env_state)), repeats)
    update_s = _best(lambda: jax.block_until_ready(learn(roll_state, traj, sums)), repeats)
    del roll_state, traj, sums

    # training: u whole updates per call, the state carried from call to call
    chunk, compile_s = _compile(vm(learner.updates), state)
    box = dict(state=state, trained=0.0)

    def train_run():
        box["state"], sums = chunk(box["state"])
        jax.block_until_ready(box["state"].params)
        box["trained"] = float(jnp.sum(sums["metrics"]["trained_agent_steps"]))

    train_s = _best(train_run, repeats)
    per_update = train_s / u
    env_steps = seeds * b * t * u / train_s
    raw = seeds * b * t / env_s
    return dict(
        benchmark="train_throughput",
        scenario=config.scenario,
        n_agents=n,
        num_envs=b,
        seeds=seeds,
        batch=seeds * b,  # environments stepped together
        rollout_steps=t,
        hidden=config.hidden,
        encoder=config.encoder,
        critic=config.critic,
        epochs=config.epochs,
        minibatches=config.minibatches,
        updates_per_run=u,
        repeats=repeats,
        env_steps_per_s=round(env_steps),
        agent_steps_per_s=round(env_steps * n),  # every agent acts with a network or a scripted policy
        trained_agent_steps_per_s=round(box["trained"] / train_s),  # alive agents of the learner's side
        seconds_per_update=round(per_update, 4),
        compile_s=round(compile_s, 2),  # the training chunk
        compile_parts_s=dict(rollout=round(rollout_c, 2), env=round(env_c, 2), update=round(learn_c, 2)),
        rollout_s=round(rollout_s, 4),
        env_s=round(env_s, 4),
        update_s=round(update_s, 4),
        share_env=round(env_s / per_update, 3),
        share_forward=round((rollout_s - env_s) / per_update, 3),
        share_update=round(update_s / per_update, 3),
        share_other=round(1.0 - (rollout_s + update_s) / per_update, 3),
        raw_env_steps_per_s=round(raw),
        raw_agent_steps_per_s=round(raw * n),
        **device_info(),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the smallest configuration only")
    parser.add_argument("--scenario", default=MAIN)
    parser.add_argument("--num-envs", type=int, default=None, help="environments per seed (replaces the sweep)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds vmapped together (with --num-envs)")
    parser.add_argument("--rollout-steps", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=TrainConfig.hidden)
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--minibatches", type=int, default=TrainConfig.minibatches)
    parser.add_argument("--updates", type=int, default=2, help="updates per timed call")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per figure (the best is kept)")
    args = parser.parse_args(argv)
    configs = CONFIGS[:1] if args.quick else CONFIGS
    if args.num_envs is not None or args.seeds is not None:
        configs = [(args.num_envs or CONFIGS[0][0], args.seeds or 1)]
    for b, seeds in configs:
        config = TrainConfig(scenario=args.scenario, num_envs=b, rollout_steps=args.rollout_steps, hidden=args.hidden,
                             epochs=args.epochs, minibatches=args.minibatches, checkpoints=1,
                             total_steps=b * args.rollout_steps * args.updates)
        print(json.dumps(measure(config, seeds, args.repeats)), flush=True)


if __name__ == "__main__":
    main()
