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
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import jax
import jax.numpy as jnp

import gigastep_jax as gj

STEPS = 100
MAIN = "identical_5_vs_5_fobs_vec_void_disc"


def make_env(name: str):
    if name.startswith("custom_"):  # custom_100_vs_100: the builder, arena grown with the team
        n = int(name.split("_")[1])
        side = 10.0 * (n / 5) ** 0.5
        return gj.ScenarioBuilder(name).add(0, "default", n).add(1, "default", n).make(arena=(side, side))
    return gj.make(name)


def build(env, batch: int, mode: str):
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
                final = obs
            elif mode == "autoreset":
                obs, state, reward, _, info = batched.step(k_step, state, actions(k_act))
                final = info["final_obs"]
            else:
                obs, state, reward, _, info = jax.vmap(auto.step)(jax.random.split(k_step, batch), state, actions(k_act))
                final = info["final_obs"]
            return (state, acc + reward.sum(), finished, obs, final), None

        init = (state, jnp.float32(0.0), jnp.int32(0), obs, obs)
        (_, acc, finished, obs, final), _ = jax.lax.scan(body, init, jax.random.split(key, STEPS))
        return acc, finished, obs, final

    return jax.jit(run)


def measure(name: str, batch: int, mode: str = "plain", repeats: int = 3) -> dict:
    env = make_env(name)
    fn = build(env, batch, mode)
    t0 = time.perf_counter()
    compiled = fn.lower(jax.random.PRNGKey(0)).compile()
    compile_s = time.perf_counter() - t0
    jax.block_until_ready(compiled(jax.random.PRNGKey(0)))  # warm-up
    best, finished = float("inf"), 0
    for r in range(repeats):
        t0 = time.perf_counter()
        _, fin, _, _ = jax.block_until_ready(compiled(jax.random.PRNGKey(r + 1)))
        best = min(best, time.perf_counter() - t0)
        finished = int(fin)
    env_steps = batch * STEPS / best
    return dict(
        benchmark="env_throughput",
        scenario=name,
        mode=mode,
        batch=batch,
        n_agents=env.n_agents,
        steps=STEPS,
        env_steps_per_s=round(env_steps),
        agent_steps_per_s=round(env_steps * env.n_agents),
        seconds_per_run=round(best, 4),
        compile_s=round(compile_s, 2),
        finished_fraction=round(finished / (batch * STEPS), 3) if mode == "plain" else None,
        device=str(jax.devices()[0].device_kind),
        platform=jax.default_backend(),
        cpu=platform.processor() or platform.machine(),
        jax_version=jax.__version__,
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=sorted(GROUPS), nargs="*", help="run only these groups")
    parser.add_argument("--quick", action="store_true", help="first configuration of each group only")
    args = parser.parse_args(argv)
    groups = args.only or list(GROUPS)
    for group in groups:
        configs = GROUPS[group][:1] if args.quick else GROUPS[group]
        for name, batch, mode in configs:
            print(json.dumps(dict(group=group, **measure(name, batch, mode))), flush=True)


if __name__ == "__main__":
    main()
