"""gigastep-jax: Gigastep's team battles as pure, jit/vmap-compiled JAX functions.

    import gigastep_jax as gj
    env = gj.make("identical_5_vs_5_fobs_vec_void_disc")
    obs, state = env.reset(key)
    obs, state, reward, done, info = env.step(key, state, action)
"""

from gigastep_jax import observe, policies, render
from gigastep_jax.env import Env
from gigastep_jax.observe import RowFeature, VectorLayout
from gigastep_jax.scenarios import UNIT_TYPES, ScenarioBuilder, UnitType, list_scenarios
from gigastep_jax.state import EnvParams, EnvState, Scenario
from gigastep_jax.wrappers import AutoReset, BatchedEnv, EpisodeStats, EpisodeStatsState

__version__ = "0.1.0"


def __getattr__(name: str):
    # `gj.adapters` is imported on first use: it loads Gymnasium and PettingZoo where installed.
    if name == "adapters":
        import importlib

        return importlib.import_module("gigastep_jax.adapters")
    raise AttributeError(f"module 'gigastep_jax' has no attribute {name!r}")


def make(name: str, **overrides) -> Env:
    """Build the registered scenario `name`.

    `overrides` set static options of the scenario (e.g. `max_steps=200`, `arena=(15, 15)`) or
    constants of its `EnvParams` (e.g. `damage_per_second=2.0`). An unknown name raises ValueError
    listing close matches.
    """
    from gigastep_jax.scenarios import builder_for

    return builder_for(name).make(**overrides)


__all__ = [
    "AutoReset",
    "adapters",
    "BatchedEnv",
    "Env",
    "EnvParams",
    "EnvState",
    "EpisodeStats",
    "EpisodeStatsState",
    "RowFeature",
    "Scenario",
    "ScenarioBuilder",
    "UNIT_TYPES",
    "UnitType",
    "VectorLayout",
    "list_scenarios",
    "make",
    "observe",
    "policies",
    "render",
    "spaces",
]
