"""Side by side with the original Gigastep, in one process: the figures issue 3's targets are about.

The original (github.com/mlech26l/gigastep) is not installable from PyPI (its "gigastep" 0.0.1 is
an empty placeholder), so it is never a dependency of this project: point `--original` at a folder
holding its `gigastep` package at commit 6288d65, unmodified (e.g. `git archive 6288d65 gigastep |
tar -x -C DIR`). Its `type_enforced` decorator, a run-time type check that computes nothing and
that no release of that package lets run under JAX 0.10, is replaced by the identity. Nothing of
it is copied here.

Both sides are measured exactly as `env_throughput.py` measures ours: `jit(lax.scan(...))` over
100 steps of uniformly random actions for a whole batch, compile time apart, one warm-up run,
best of 3, observations carried in the scan (so XLA cannot drop them) and rewards summed.

- ours: `vmap(env.step)` (plain) or `gj.BatchedEnv(env, B).step` (auto-reset);
- original: its own `env.v_step` (jit(vmap(step))) and, with auto-reset, its own
  `env.reset_done_episodes` (it resets every environment of the batch each step and selects).

Both are compiled first; then the timed runs alternate, ours then the original, round by round,
so that both meet the same load on a shared machine (the best round of each is kept).

Prints one JSON object per configuration with both figures and `speedup` = ours / original
(agent-steps/s), and the issue's target for it:

    python benchmarks/compare_original.py --original /tmp/gigastep_orig
    python benchmarks/compare_original.py --original /tmp/gigastep_orig --only main rgb
    python benchmarks/compare_original.py --smoke [--original ...]   # batch 8, 10 steps (a check)

Scenario names are the same on both sides: the original at the commit this project compares
with (6288d65) registers `{base}_{fobs|pobs}_{vec|rgb}_{void|maps}_{disc|cont}` as we do. Its
`_void` variants still load the obstacle maps (its builder reads the key "map" where the variants
write "maps"), so for a `_void` name the original is made with `maps="empty"`, the arena without
obstacles that the name promises and that ours has.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import types
from pathlib import Path

import jax
import jax.numpy as jnp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import env_throughput as bench  # noqa: E402  (our own benchmark: one way of measuring for both)

# name: (scenario, both sides; batch, auto-reset, target speedup)
CONFIGS = {
    "main": ("identical_5_vs_5_fobs_vec_void_disc", 1024, False, 3.0),
    "autoreset": ("identical_5_vs_5_fobs_vec_void_disc", 1024, True, 4.0),
    "pobs": ("identical_5_vs_5_pobs_vec_void_disc", 1024, False, 3.0),
    # 256 envs x 40 agents = the 10240 agents per step of 1024 x 10: agent-steps/s compare per-agent cost.
    "team_20v20": ("identical_20_vs_20_fobs_vec_void_disc", 256, False, None),
    "rgb": ("identical_5_vs_5_fobs_rgb_void_disc", 64, False, 3.0),
    "rgb_pobs": ("identical_5_vs_5_pobs_rgb_void_disc", 64, False, None),
}
PER_AGENT_COST_TARGET = 1.5  # ours at 20v20 / ours at 5v5, per agent-step


def import_original(path: str):
    root = Path(path).resolve()
    if not (root / "gigastep" / "gigastep_env.py").is_file():
        raise SystemExit(f"--original {path}: no gigastep/gigastep_env.py there")
    for p in (root / "_deps", root):
        if p.is_dir():
            sys.path.insert(0, str(p))
    # Its `type_enforced.Enforcer` checks argument types at run time and computes nothing; under
    # JAX 0.10 every release of it breaks the original (current ones cannot be weak-referenced by
    # jit, 2023's reject the state tuples), so it is replaced by the identity: the original's own
    # source runs unpatched.
    sys.modules["type_enforced"] = types.SimpleNamespace(Enforcer=lambda fn: fn)
    import gigastep  # noqa: PLC0415

    return gigastep


def build_original(env, batch: int, autoreset: bool, steps: int = bench.STEPS):
    """jit(scan) of the original's own batched step (and its own reset of finished episodes)."""
    n = env.n_agents

    def actions(key):
        if env.discrete_actions:
            return jax.random.randint(key, (batch, n), 0, env.n_actions, dtype=jnp.int32)
        return jax.random.uniform(key, (batch, n, 3), minval=-1.0, maxval=1.0)

    def run(key):
        k_reset, k_run = jax.random.split(key)
        obs, states = env.v_reset(jax.random.split(k_reset, batch))

        def body(carry, k):
            states, acc, finished, obs = carry
            k_act, k_step, k_new = jax.random.split(k, 3)
            obs, states, reward, _, ep_done = env.v_step(states, actions(k_act), jax.random.split(k_step, batch))
            finished = finished + ep_done.sum()
            if autoreset:
                obs, states = env.reset_done_episodes(obs, states, ep_done, k_new)
            return (states, acc + reward.sum(), finished, obs), None

        init = (states, jnp.float32(0.0), jnp.int32(0), obs)
        (_, acc, finished, obs), _ = jax.lax.scan(body, init, jax.random.split(k_run, steps))
        return acc, finished, obs

    return jax.jit(run)


def interleaved(fns: dict, repeats: int) -> dict:
    """{name: (compile seconds, best run seconds, last outputs)} for jitted fn(key)s, timed in turns.

    All are compiled (timed apart) and warmed up first; then each round runs every fn once, so
    both sides meet the same load on this shared machine, and the best round of each is kept."""
    compiled, compile_s, best, out = {}, {}, {}, {}
    for name, fn in fns.items():
        t0 = time.perf_counter()
        compiled[name] = fn.lower(jax.random.PRNGKey(0)).compile()
        compile_s[name] = time.perf_counter() - t0
        jax.block_until_ready(compiled[name](jax.random.PRNGKey(0)))  # warm-up
        best[name] = float("inf")
    for r in range(repeats):
        for name, c in compiled.items():
            t0 = time.perf_counter()
            out[name] = jax.block_until_ready(c(jax.random.PRNGKey(r + 1)))
            best[name] = min(best[name], time.perf_counter() - t0)
    return {name: (compile_s[name], best[name], out[name]) for name in fns}


def figures(n_agents: int, batch: int, steps: int, compile_s: float, best: float) -> dict:
    env_steps = batch * steps / best
    return dict(agent_steps_per_s=round(env_steps * n_agents), env_steps_per_s=round(env_steps),
                seconds_per_run=round(best, 4), compile_s=round(compile_s, 2))


def make_original(gigastep, name: str):
    """The original's scenario of the same name (6288d65), without obstacles for a `_void` name."""
    return gigastep.make_scenario(name, **({"maps": "empty"} if "_void_" in name else {}))


def compare(gigastep, key: str, repeats: int, steps: int, batch: int | None = None) -> dict:
    ours_name, default_batch, autoreset, target = CONFIGS[key]
    batch = batch or default_batch
    env = bench.make_env(ours_name)
    fns = {"ours": bench.build(env, batch, "autoreset" if autoreset else "plain", steps)}
    if gigastep:
        orig_env = make_original(gigastep, ours_name)
        fns["original"] = build_original(orig_env, batch, autoreset, steps)
    if key == "team_20v20":  # the 5v5 references of the per-agent cost, timed in the same rounds
        ref_name, ref_batch, _, _ = CONFIGS["main"]
        ref_env = bench.make_env(ref_name)
        fns["ours_5v5"] = bench.build(ref_env, ref_batch, "plain", steps)
        if gigastep:
            ref_orig_env = make_original(gigastep, ref_name)
            fns["original_5v5"] = build_original(ref_orig_env, ref_batch, False, steps)
    timed = interleaved(fns, repeats)
    c, best, (_, fin, _, _) = timed["ours"]
    ours = dict(scenario=ours_name, mode="BatchedEnv (auto-reset)" if autoreset else "plain",
                **figures(env.n_agents, batch, steps, c, best),
                # timed env-steps that fell on finished (absorbing, still computed) episodes
                finished_fraction=None if autoreset else round(int(fin) / (batch * steps), 3))
    orig = None
    if gigastep:
        c, best, (_, done, _) = timed["original"]
        orig = dict(scenario=ours_name + (' (maps="empty")' if "_void_" in ours_name else ""),
                    mode="reset_done_episodes every step" if autoreset else "plain",
                    **figures(orig_env.n_agents, batch, steps, c, best),
                    # its episodes are not absorbing: timed env-steps that reported episode_done
                    episode_done_fraction=round(int(done) / (batch * steps), 3))
    speedup = round(ours["agent_steps_per_s"] / orig["agent_steps_per_s"], 2) if orig else None
    extra = {}
    if key == "team_20v20":
        # Per-agent cost of 20v20 over 5v5 (the same 10240 agents per step): 1 = no dearer per agent.
        for side, row, ref_env_ in (("ours", ours, ref_env), ("original", orig, ref_orig_env if gigastep else None)):
            if row is not None:
                c5, best5, _ = timed[f"{side}_5v5"]
                ref = figures(ref_env_.n_agents, ref_batch, steps, c5, best5)
                row["reference_5v5_agent_steps_per_s"] = ref["agent_steps_per_s"]
                row["per_agent_cost_vs_5v5"] = round(ref["agent_steps_per_s"] / row["agent_steps_per_s"], 2)
        extra = dict(target_per_agent_cost_vs_5v5=PER_AGENT_COST_TARGET,
                     per_agent_cost_target_met=ours["per_agent_cost_vs_5v5"] <= PER_AGENT_COST_TARGET)
    return dict(
        benchmark="compare_original", config=key, batch=batch, steps=steps, repeats=repeats,
        timing="compiled apart, warmed up, then ours and original timed in alternating rounds; best round each",
        n_agents=env.n_agents, ours=ours, original=orig, speedup=speedup,
        target_speedup=target, target_met=(speedup >= target) if (speedup is not None and target) else None,
        **extra, **bench.device_info(),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--original", help="folder holding the original's `gigastep` package (not installed)")
    parser.add_argument("--only", choices=list(CONFIGS), nargs="*", help="run only these configurations")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (best kept)")
    parser.add_argument("--smoke", action="store_true", help="main configuration only, batch 8, 10 steps, 1 run")
    args = parser.parse_args(argv)
    gigastep = import_original(args.original) if args.original else None
    if args.smoke:
        print(json.dumps(compare(gigastep, "main", repeats=1, steps=10, batch=8)), flush=True)
        return
    for key in args.only or list(CONFIGS):
        print(json.dumps(compare(gigastep, key, repeats=args.repeats, steps=bench.STEPS)), flush=True)


if __name__ == "__main__":
    main()
