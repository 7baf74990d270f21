"""Environment throughput: `jit(lax.scan(vmap(step)))` over 100 steps with random actions.

Prints one JSON object per configuration: scenario, batch, env- and agent-steps/s, compile
seconds (apart from run time), device, JAX version, best of 3 runs, and the fraction of timed
steps that fell on already finished episodes (without auto-reset those episodes are absorbing:
they are still computed, never skipped, so the figure takes no speed from finished work).

Every output we claim to compute is kept alive: the observations (and, with auto-reset, the final
observations) are carried in the scan, so every step writes its full observation buffer, and the
rewards are summed into the result; XLA cannot drop any of them as dead code.

    python benchmarks/env_throughput.py                 # the full sweep (a few minutes)
    python benchmarks/env_throughput.py --quick         # one configuration per group
    python benchmarks/env_throughput.py --only team_sizes
    python benchmarks/env_throughput.py --smoke         # tiny batch, 10 steps (the test's check)
    python benchmarks/env_throughput.py --batch-sweep 1,64,1024            # 5v5 at these batches
    python benchmarks/env_throughput.py --team-sweep 5,20,100 --agents 4000   # k v k, same agents per step
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import jax
import jax.numpy as jnp

import gigastep_jax as gj

STEPS = 100
MAIN = "identical_5_vs_5_fobs_vec_void_disc"


def make_env(name: str, pairs: str | None = None):
    """The scenario `name` (custom_K_vs_K: K a side, the arena grown with the team); pairs: force
    the all-pairs or the local path where the scenario has a sight radius."""
    options = {} if pairs is None else dict(pairs=pairs)
    if name.startswith("custom_"):  # custom_100_vs_100: the builder, arena grown with the team
        n = int(name.split("_")[1])
        side = 10.0 * (n / 5) ** 0.5
        return gj.ScenarioBuilder(name).add(0, "default", n).add(1, "default", n).make(arena=(side, side), **options)
    return gj.make(name, **options)


def build(env, batch: int, mode: str, steps: int = STEPS):
    """mode: "plain" (no reset), "autoreset" (`BatchedEnv`: final obs only for finished envs),
    "autoreset_vmap" (`vmap(AutoReset(env).step)`: every env observed twice)."""
    n = env.n_agents

    def actions(key):
        if env.discrete:
            return jax.random.randint(key, (batch, n), 0, env.n_actions, dtype=jnp.int32)
        return jax.random.uniform(key, (batch, n, 3), minval=-1.0, maxval=1.0)

    batched = gj.BatchedEnv(env, batch)
    auto = gj.AutoReset(env)

    def run(key):
        obs, state = batched.reset(key)

        def body(carry, k):
            state, acc, finished, _, _ = carry
            k_act, k_step = jax.random.split(k)
            if mode == "plain":
                finished = finished + jax.vmap(env.episode_over)(state).sum()
                obs, state, reward, _, info = jax.vmap(env.step)(jax.random.split(k_step, batch), state, actions(k_act))
                final = jnp.zeros((), obs.dtype)  # no final observations without auto-reset
            elif mode == "autoreset":
                obs, state, reward, _, info = batched.step(k_step, state, actions(k_act))
                final = info["final_obs"]
            else:
                obs, state, reward, _, info = jax.vmap(auto.step)(jax.random.split(k_step, batch), state, actions(k_act))
                final = info["final_obs"]
            return (state, acc + reward.sum(), finished, obs, final), None

        # Carrying `obs` twice in plain mode would make XLA copy the whole buffer every step.
        init = (state, jnp.float32(0.0), jnp.int32(0), obs, jnp.zeros((), obs.dtype) if mode == "plain" else obs)
        (_, acc, finished, obs, final), _ = jax.lax.scan(body, init, jax.random.split(key, steps))
        return acc, finished, obs, final

    return jax.jit(run)


def time_compiled(fn, repeats: int = 3):
    """(compile seconds, best run seconds, outputs of the last run) of a jitted fn(key).

    Compilation is timed apart (`lower().compile()`), one warm-up run follows, then `repeats`
    timed runs with fresh keys; the best is kept (the machines are shared and noisy)."""
    t0 = time.perf_counter()
    compiled = fn.lower(jax.random.PRNGKey(0)).compile()
    compile_s = time.perf_counter() - t0
    jax.block_until_ready(compiled(jax.random.PRNGKey(0)))  # warm-up
    best, out = float("inf"), None
    for r in range(repeats):
        t0 = time.perf_counter()
        out = jax.block_until_ready(compiled(jax.random.PRNGKey(r + 1)))
        best = min(best, time.perf_counter() - t0)
    return compile_s, best, out


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo, as `lscpu` prints it), else the machine type."""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_info() -> dict:
    return dict(
        device=str(jax.devices()[0].device_kind),
        platform=jax.default_backend(),
        cpu=cpu_model(),
        cpu_count=os.cpu_count(),
        load_avg_1m=round(os.getloadavg()[0], 2),  # the machine is shared: say how busy it was
        jax_version=jax.__version__,
    )


def measure(name: str, batch: int, mode: str = "plain", repeats: int = 3, steps: int = STEPS,
            pairs: str | None = None) -> dict:
    env = make_env(name, pairs)
    compile_s, best, (_, fin, _, _) = time_compiled(build(env, batch, mode, steps), repeats)
    env_steps = batch * steps / best
    return dict(
        benchmark="env_throughput",
        scenario=name,
        mode=mode,
        batch=batch,
        n_agents=env.n_agents,
        pairs="local" if env.scenario.local_pairs else "all",  # the path a step took (gigastep_jax.neighbours)
        steps=steps,
        repeats=repeats,
        env_steps_per_s=round(env_steps),
        agent_steps_per_s=round(env_steps * env.n_agents),
        seconds_per_run=round(best, 4),
        compile_s=round(compile_s, 2),
        # fraction of timed env-steps that fell on already finished (absorbing) episodes
        finished_fraction=round(int(fin) / (batch * steps), 3) if mode == "plain" else None,
        **device_info(),
    )


GROUPS = {
    "batch_sweep": [(MAIN, b, "plain") for b in (1, 8, 64, 256, 1024, 4096, 8192)],
    "autoreset": [(MAIN, 1024, "autoreset"), (MAIN, 1024, "autoreset_vmap"), (MAIN, 8192, "autoreset")],
    "observability": [("identical_5_vs_5_pobs_vec_void_disc", 1024, "plain"),
                      ("identical_5_vs_5_pobs_vec_void_disc", 1024, "autoreset")],
    "rgb": [("identical_5_vs_5_fobs_rgb_void_disc", 64, "plain"), ("identical_5_vs_5_pobs_rgb_void_disc", 64, "plain")],
    # Same number of agents per step in every team size, so agent-steps/s compare per-agent cost.
    "team_sizes": [(f"identical_{k}_vs_{k}_fobs_vec_void_disc", 10240 // (2 * k), "plain") for k in (1, 2, 5, 10, 20)]
    + [("custom_100_vs_100", 32, "plain")],
    "variants": [("identical_5_vs_5_fobs_vec_maps_cont", 1024, "plain"), ("special_5_vs_5_fobs_vec_void_disc", 1024, "plain"),
                 ("waypoint_5_vs_5_fobs_vec_void_disc", 1024, "plain"), ("hide_and_seek_10_vs_5_fobs_vec_void_disc", 1024, "plain")],
}


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected integers >= 1, got {text!r}")
    return values


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=sorted(GROUPS), nargs="*", help="run only these groups")
    parser.add_argument("--quick", action="store_true", help="first configuration of each group only")
    parser.add_argument("--smoke", action="store_true", help="batch 8, 10 steps, plain and auto-reset (a check, not a figure)")
    parser.add_argument("--batch-sweep", type=_ints, help="5v5 (plain) at these batch sizes, e.g. 1,64,1024")
    parser.add_argument("--team-sweep", type=_ints, help="k v k battles (plain) for these k, e.g. 5,20,100")
    parser.add_argument("--agents", type=int, default=10240,
                        help="agents per step in the team sweep: batch = max(1, agents // 2k)")
    parser.add_argument("--steps", type=int, default=STEPS, help="steps per timed run (sweeps only)")
    parser.add_argument("--pairs", choices=("auto", "all", "local"), default=None,
                        help="team sweep: force a path where the scenario has a sight radius (the large bases)")
    args = parser.parse_args(argv)
    if args.batch_sweep or args.team_sweep:
        for batch in args.batch_sweep or ():
            print(json.dumps(dict(group="batch_sweep", **measure(MAIN, batch, steps=args.steps))), flush=True)
        for k in args.team_sweep or ():
            name = f"identical_{k}_vs_{k}_fobs_vec_void_disc"
            name = name if name in gj.list_scenarios() else f"custom_{k}_vs_{k}"
            batch = max(1, args.agents // (2 * k))
            print(json.dumps(dict(group="team_sweep", **measure(name, batch, steps=args.steps, pairs=args.pairs))),
                  flush=True)
        return
    if args.smoke:
        for mode in ("plain", "autoreset"):
            print(json.dumps(dict(group="smoke", **measure(MAIN, 8, mode, repeats=1, steps=10))), flush=True)
        return
    groups = args.only or list(GROUPS)
    for group in groups:
        configs = GROUPS[group][:1] if args.quick else GROUPS[group]
        for name, batch, mode in configs:
            print(json.dumps(dict(group=group, **measure(name, batch, mode))), flush=True)


if __name__ == "__main__":
    main()
