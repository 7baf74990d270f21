"""Public names keep working where users import them today: each old import path gives the same
object as its new home (a re-export, not a copy)."""

from __future__ import annotations

import importlib
import types

import gigastep_jax as gj

# The names of `algorithms.ratings` and the modules of `algorithms.evaluation` they now live in.
RATINGS = {
    "nash": "nash", "exploitability": "nash", "nash_average": "nash", "nash_iterative": "nash",
    "bradley_terry": "bradley_terry", "bradley_terry_strengths": "bradley_terry", "BradleyTerryFit": "bradley_terry",
    "fit_bradley_terry": "bradley_terry", "zermelo_strengths": "bradley_terry",
    "elo": "elo", "games_from_wins": "elo",
    "wilson_interval": "intervals", "Z95": "intervals",
    "check_payoff": "checks", "check_strategy": "checks", "check_wins": "checks",
}
EVALUATION = {"payoff_matrix": "payoff", "PayoffMatrix": "payoff", "evaluation_report": "report",
              "save_report": "report", "write_figures": "report"}
# gigastep_jax's public names and their homes (a module name for the names that are modules).
GJ = {
    "AutoReset": "wrappers", "BatchedEnv": "wrappers", "EpisodeStats": "wrappers", "EpisodeStatsState": "wrappers",
    "Env": "env", "EnvParams": "state", "EnvState": "state", "Scenario": "state",
    "RowFeature": "observe.vector", "VectorLayout": "observe.vector",
    "ScenarioBuilder": "scenarios", "UNIT_TYPES": "scenarios", "UnitType": "scenarios", "list_scenarios": "scenarios",
    "make": None, "observe": "observe", "policies": "policies", "render": "render", "spaces": "spaces",
    "adapters": "adapters",  # imported on first use (gj.__getattr__)
}
OBSERVE_MODULES = ("sight", "vector", "rgb", "pixels", "full_state")
OBSERVE_ALIASES = {"VEC_FEATURES": "ROW_FEATURES"}  # old names kept by `gigastep_jax.observe` itself


def home(module: str, name: str):
    return getattr(importlib.import_module(module), name)


def test_ratings_names_are_the_evaluation_modules():
    from algorithms import ratings

    assert set(ratings.__all__) == set(RATINGS), "a name of algorithms.ratings without a home in this test"
    for name, module in RATINGS.items():
        assert getattr(ratings, name) is home(f"algorithms.evaluation.{module}", name), name


def test_the_issues_ratings_imports():
    from algorithms.evaluation import bradley_terry as bt_module
    from algorithms.evaluation import elo as elo_module
    from algorithms.evaluation import nash as nash_module
    from algorithms.ratings import bradley_terry, elo, exploitability, nash

    assert nash is nash_module.nash and exploitability is nash_module.exploitability
    assert bradley_terry is bt_module.bradley_terry and elo is elo_module.elo


def test_evaluation_names():
    import algorithms.evaluation as evaluation
    from algorithms.evaluation import payoff_matrix

    assert set(evaluation.__all__) == set(EVALUATION)
    for name, module in EVALUATION.items():
        assert getattr(evaluation, name) is home(f"algorithms.evaluation.{module}", name), name
    assert payoff_matrix is home("algorithms.evaluation.payoff", "payoff_matrix")


def test_config_train_config():
    from algorithms.config import TrainConfig, check
    from algorithms.marl import config

    assert TrainConfig is config.TrainConfig and check is config.check
    assert TrainConfig().scenario == "identical_5_vs_5_fobs_vec_void_disc"


def test_preference_names():
    import algorithms.preference as preference
    from algorithms.preference import tabular_selfplay

    assert tabular_selfplay is home("algorithms.preference.tabular", "tabular_selfplay")
    for name in preference.__all__:
        obj = getattr(preference, name)
        if isinstance(obj, (type, types.FunctionType)):  # classes and functions: defined in a submodule
            assert obj.__module__.startswith("algorithms.preference.") or obj.__module__.startswith(
                "algorithms.evaluation."), (name, obj.__module__)
            assert home(obj.__module__, obj.__name__) is obj, name
    # The exact level's exploitability is the evaluation's, not a copy.
    assert preference.exploitability is home("algorithms.evaluation.nash", "exploitability")


def test_every_gigastep_jax_name_is_its_homes():
    assert set(gj.__all__) == set(GJ), "a public gj name without a home in this test"
    for name, module in GJ.items():
        obj = getattr(gj, name)
        if module is None:
            assert callable(obj) and obj.__module__ == "gigastep_jax", name
        elif isinstance(obj, types.ModuleType):
            assert obj is importlib.import_module(f"gigastep_jax.{module}"), name
        else:
            assert obj is home(f"gigastep_jax.{module}", name), name


def test_every_observe_name_is_one_of_its_modules():
    from gigastep_jax import observe

    for name in observe.__all__:
        obj = getattr(observe, name)
        if name in OBSERVE_ALIASES:
            assert obj == getattr(observe, OBSERVE_ALIASES[name]), name
            name = OBSERVE_ALIASES[name]
        homes = [m for m in OBSERVE_MODULES if getattr(importlib.import_module(f"gigastep_jax.observe.{m}"), name,
                                                        None) is obj]
        assert homes, f"gigastep_jax.observe.{name} is defined in none of {OBSERVE_MODULES}"
