"""What each adapter (gj.adapters) costs per step against the native API, on the same scenario.

Two regimes, one JSON object per configuration (device, JAX version, batch, compile apart):
- "python_loop": one environment stepped from Python, as PettingZoo and Gymnasium users do: the
  native jitted `env.step` (outputs copied to numpy, as the adapters do), `JaxMARLEnv.step` (its own
  jit, auto-reset), `PettingZooEnv.step` and `GymnasiumEnv.step` (opponent included). The figure is
  microseconds per environment step, median of `repeats` blocks of `steps` steps with random actions.
- "compiled": a batch of environments in `jit(lax.scan(vmap(step)))`, as JaxMARL users train: native
  `AutoReset(env, final_obs=False)` against `JaxMARLEnv.step` and JaxMARL's `LogWrapper` over it.
  The figure is agent-steps per second (best of 3).

    python benchmarks/adapter_overhead.py            # both regimes
    python benchmarks/adapter_overhead.py --smoke    # tiny sizes (the test's check, not a figure)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from env_throughput import device_info, time_compiled  # noqa: E402

import gigastep_jax as gj  # noqa: E402
from gigastep_jax.adapters import GymnasiumEnv, JaxMARLEnv, PettingZooEnv  # noqa: E402

MAIN = "identical_5_vs_5_fobs_vec_void_disc"
SMOKE = "identical_2_vs_2_fobs_vec_void_disc"


def _loop(step_once, steps: int, repeats: int) -> tuple[float, float]:
    """(seconds of the first call, which compiles; median microseconds per step over repeats)."""
    t0 = time.perf_counter()
    step_once(0)
    first = time.perf_counter() - t0
    blocks = []
    for r in range(repeats):
        t0 = time.perf_counter()
        for i in range(steps):
            step_once(r * steps + i + 1)
        blocks.append((time.perf_counter() - t0) / steps * 1e6)
    return first, statistics.median(blocks)


def python_loop(name: str, steps: int, repeats: int) -> list[dict]:
    env = gj.make(name)
    n = env.n_agents
    rng = np.random.default_rng(0)
    acts = rng.integers(0, 27, (steps * repeats + 1, n)).astype(np.int32)
    rows = []

    # Native: the jitted step, episodes restarted from Python when they end, outputs to numpy.
    step, reset = jax.jit(env.step), jax.jit(env.reset)
    box = {"key": jax.random.PRNGKey(0)}
    box["state"] = reset(box["key"])[1]

    def native(i):
        box["key"], k = jax.random.split(box["key"])
        obs, box["state"], reward, done, info = step(k, box["state"], acts[i])
        out = jax.device_get((obs, reward, done, info))
        if out[3]["terminated"] or out[3]["truncated"]:
            box["state"] = reset(k)[1]

    marl = JaxMARLEnv(env)
    mbox = {"key": jax.random.PRNGKey(0)}
    mbox["state"] = marl.reset(mbox["key"])[1]

    def jaxmarl(i):  # auto-resets inside its step
        mbox["key"], k = jax.random.split(mbox["key"])
        out = marl.step(k, mbox["state"], {a: acts[i, j] for j, a in enumerate(marl.agents)})
        mbox["state"] = out[1]
        jax.device_get((out[0], out[2], out[3], out[4]))

    pz = PettingZooEnv(env, seed=0)
    pz.reset()

    def pettingzoo(i):
        if not pz.agents:
            pz.reset()
        pz.step({a: int(acts[i, pz._index[a]]) for a in pz.agents})

    gym = GymnasiumEnv(env, opponent="random")
    gym.reset(seed=0)
    n_team = gym.action_space.shape[0]

    def gymnasium(i):
        _, _, terminated, truncated, _ = gym.step(acts[i, :n_team])
        if terminated or truncated:
            gym.reset()

    native_us = None
    for api, fn in (("native", native), ("jaxmarl", jaxmarl), ("pettingzoo", pettingzoo), ("gymnasium", gymnasium)):
        first, us = _loop(fn, steps, repeats)
        native_us = us if api == "native" else native_us
        rows.append(dict(benchmark="adapter_overhead", regime="python_loop", api=api, scenario=name, batch=1,
                         n_agents=n, steps=steps, repeats=repeats, us_per_step=round(us, 1),
                         relative_to_native=round(us / native_us, 2), first_call_s=round(first, 2), **device_info()))
    return rows


def compiled(name: str, batch: int, steps: int) -> list[dict]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    from jaxmarl_ippo import LogWrapper  # imported there with jaxmarl's import-time prints kept off stdout

    env = gj.make(name)
    n = env.n_agents
    native = gj.AutoReset(env, final_obs=False)
    marl = JaxMARLEnv(env)
    logged = LogWrapper(marl)

    def build(api):
        def run(key):
            keys = jax.random.split(key, batch)
            if api == "native":
                obs, state = jax.vmap(native.reset)(keys)
            else:
                obs, state = jax.vmap((marl if api == "jaxmarl" else logged).reset)(keys)

            def body(carry, k):
                state, acc, obs = carry
                k_act, k_step = jax.random.split(k)
                action = jax.random.randint(k_act, (batch, n), 0, 27, dtype=jnp.int32)
                ks = jax.random.split(k_step, batch)
                if api == "native":
                    obs, state, reward, _, _ = jax.vmap(native.step)(ks, state, action)
                    total = reward.sum()
                else:
                    wrapped = marl if api == "jaxmarl" else logged
                    obs, state, reward, _, _ = jax.vmap(wrapped.step)(
                        ks, state, {a: action[:, i] for i, a in enumerate(marl.agents)})
                    total = sum(r.sum() for r in reward.values())
                return (state, acc + total, obs), None

            (_, acc, obs), _ = jax.lax.scan(body, (state, jnp.float32(0), obs), jax.random.split(key, steps))
            return acc, obs

        return jax.jit(run)

    rows, native_rate = [], None
    for api in ("native", "jaxmarl", "jaxmarl_logwrapper"):
        compile_s, best, _ = time_compiled(build(api))
        rate = batch * steps * n / best
        native_rate = rate if api == "native" else native_rate
        rows.append(dict(benchmark="adapter_overhead", regime="compiled", api=api, scenario=name, batch=batch,
                         n_agents=n, steps=steps, agent_steps_per_s=round(rate),
                         relative_to_native=round(native_rate / rate, 2), compile_s=round(compile_s, 2),
                         seconds_per_run=round(best, 4), **device_info()))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default=None, help=f"default {MAIN} ({SMOKE} with --smoke)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: a check that it runs, not a figure")
    args = parser.parse_args(argv)
    scenario = args.scenario or (SMOKE if args.smoke else MAIN)
    loop_steps, repeats, batch, steps = (20, 1, 8, 10) if args.smoke else (500, 5, 1024, 100)
    for row in python_loop(scenario, loop_steps, repeats) + compiled(scenario, batch, steps):
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
