"""Shared helpers for the whole suite (`from tests.conftest import ...`): the repository root, and the
environment-core helpers.

Compilation dominates the cost of these tests on a small CPU machine, so helpers here build one
jitted function per environment and the test modules keep them in module-scoped fixtures.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import gigastep_jax as gj

REPO = Path(__file__).resolve().parents[1]  # the repository root
CACHE = "JAX_COMPILATION_CACHE_DIR"
# JAX caches only programs that took a second or more to compile; here every program is kept: the
# many small ones (each eager operation, each adapter's step) that every worker, subprocess and
# notebook kernel would compile again add up to more than writing them costs.
MIN_COMPILE_TIME = "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"


def pytest_configure(config):
    """One JAX compilation cache for the whole run, fresh each run: what one xdist worker (or a
    subprocess: benchmarks, notebook kernels, the killed run) compiles, the others load instead of
    compiling again. A cache named by the caller's JAX_COMPILATION_CACHE_DIR is used as it is."""
    if MIN_COMPILE_TIME not in os.environ:  # a caller's value is kept
        os.environ[MIN_COMPILE_TIME] = "0"  # inherited by the workers and subprocesses
        config._jax_min_compile_time = True
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(os.environ[MIN_COMPILE_TIME]))
    if hasattr(config, "workerinput") or os.environ.get(CACHE):  # a worker inherits the run's cache
        if os.environ.get(CACHE):
            jax.config.update("jax_compilation_cache_dir", os.environ[CACHE])
        return
    config._jax_cache = tempfile.mkdtemp(prefix="gigastep-jax-test-cache-")
    os.environ[CACHE] = config._jax_cache  # inherited by the workers and subprocesses started later
    jax.config.update("jax_compilation_cache_dir", config._jax_cache)


def pytest_unconfigure(config):
    if getattr(config, "_jax_min_compile_time", False):
        os.environ.pop(MIN_COMPILE_TIME, None)
    if getattr(config, "_jax_cache", None):
        os.environ.pop(CACHE, None)
        shutil.rmtree(config._jax_cache, ignore_errors=True)


def f32(*values) -> jax.Array:
    """float32[len(values)] (never weakly typed, so hand-made states trace like real ones)."""
    return jnp.asarray(np.asarray(values, np.float32))


def place(state: gj.EnvState, **fields) -> gj.EnvState:
    """`state.replace` with per-agent float fields given as lists (x=[...], heading=[...], ...)."""
    converted = {}
    for key, value in fields.items():
        if key == "alive":
            converted[key] = jnp.asarray(np.asarray(value, bool))
        elif key in ("x", "y", "z", "v", "heading", "health"):
            converted[key] = f32(*value)
        else:
            converted[key] = value
    return state.replace(**converted)


def with_transition(env: gj.Env):
    """(env, its jitted `transition`): what the hand-computed physics tests step with."""
    return env, jax.jit(env.transition)


def builder_env(n_a: int = 1, n_b: int = 1, unit_a: str = "default", unit_b: str = "default", **options):
    """A custom battle `n_a` x `unit_a` against `n_b` x `unit_b` in a big arena (nobody leaves)."""
    options.setdefault("arena", (100.0, 100.0))
    return gj.ScenarioBuilder("t").add(0, unit_a, n_a).add(1, unit_b, n_b).make(**options)


def random_rollout(env, steps: int, policy=None):
    """jitted key[B] -> (first state, per-step (state, reward, done, info) stacked [B, T, ...]).

    Plays `policy` (default uniformly random) with `env.transition`, no auto-reset, so states after
    the end of an episode show the absorbing behaviour.
    """
    policy = gj.policies.random if policy is None else policy

    def one(key):
        k_reset, k_run = jax.random.split(key)
        state = env.reset_state(k_reset)

        def body(state, k):
            k_act, k_step = jax.random.split(k)
            new, reward, done, info = env.transition(k_step, state, policy(k_act, env, state))
            return new, (new, reward, done, info)

        _, out = jax.lax.scan(body, state, jax.random.split(k_run, steps))
        return state, out

    return jax.jit(jax.vmap(one))


def wilson_lower(successes: int, n: int, z: float = 1.96) -> float:
    """Lower end of the Wilson score interval of a binomial proportion."""
    p = successes / n
    denom = 1 + z * z / n
    centre = p + z * z / (2 * n)
    spread = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return float((centre - spread) / denom)
