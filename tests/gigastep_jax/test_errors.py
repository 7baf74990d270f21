"""Bad input is rejected in Python, before tracing, with an error that names the bad value."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gigastep_jax as gj

KEY = jax.random.PRNGKey(0)
NAME = "identical_5_vs_5_fobs_vec_void_disc"


# ------------------------------------------------------------------ scenario names and overrides
def test_unknown_scenario_suggests_close_match():
    with pytest.raises(ValueError, match=r"unknown scenario 'identical_5_vs_5_fobs_vec_void_dsc'.*Did you mean: identical_5_vs_5_fobs_vec_void_disc"):
        gj.make("identical_5_vs_5_fobs_vec_void_dsc")


def test_unknown_scenario_explains_the_name_pattern():
    with pytest.raises(ValueError, match=r"(?s)'identical_5_vs_5'.*fobs\|pobs.*list_scenarios"):
        gj.make("identical_5_vs_5")
    with pytest.raises(ValueError, match="unknown scenario 'zzz'"):
        gj.make("zzz")


def test_scenario_name_must_be_a_string():
    with pytest.raises(TypeError, match="must be a str, got int"):
        gj.make(5)


@pytest.mark.parametrize(
    "overrides, pattern",
    [
        (dict(max_step=3), r"unknown option 'max_step'.*Did you mean: max_steps"),
        (dict(max_steps=0), r"max_steps must be an int >= 1, got 0"),
        (dict(max_steps=2.5), r"max_steps must be an int >= 1, got 2.5"),
        (dict(damage_per_second="x"), r"damage_per_second must be a finite number, got 'x'"),
        (dict(healing_per_second=float("nan")), r"healing_per_second must be a finite number, got nan"),
        (dict(arena=(0, 10)), r"arena must be \(width, height\) with both > 0, got \(0, 10\)"),
        (dict(arena=(10,)), r"arena must be .* got \(10,\)"),
        (dict(obs_kind="img"), r"obs_kind must be one of \('vec', 'rgb'\), got 'img'"),
        (dict(observability="partial"), r"observability must be one of .* got 'partial'"),
        (dict(maps="many"), r"maps must be one of .* got 'many'"),
        (dict(discrete="yes"), r"discrete must be a bool, got 'yes'"),
        (dict(timeout_winner="a"), r"timeout_winner must be one of .* got 'a'"),
        (dict(resolution=8), r"resolution must be >= 16 pixels, got 8"),
        (dict(damage_per_second=-5), r"damage_per_second must be >= 0, got -5 \(only the reward_\* weights"),
        (dict(max_obs_agents=True), r"max_obs_agents must be an int >= 1, got True"),
        (dict(aux_rewards_factor=True), r"aux_rewards_factor must be a finite number, got True"),
    ],
)
def test_bad_overrides(overrides, pattern):
    with pytest.raises(ValueError, match=pattern):
        gj.make(NAME, **overrides)


# ------------------------------------------------------------------ the builder
def test_builder_empty_team():
    with pytest.raises(ValueError, match=r"team B \(1\) is empty"):
        gj.ScenarioBuilder("x").add(0, "default").make()
    with pytest.raises(ValueError, match=r"team A \(0\) is empty"):
        gj.ScenarioBuilder("x").add(1, "default", 3).make()


@pytest.mark.parametrize(
    "unit, suggestion", [("defualt", "default"), ("more_helth", "more_health"), ("hidder", "hider")]
)
def test_builder_unknown_unit_suggests_close_match(unit, suggestion):
    with pytest.raises(ValueError, match=rf"unknown unit type '{unit}'.*Did you mean: .*{suggestion}"):
        gj.ScenarioBuilder("x").add(0, unit)


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        (dict(max_health=-1.0), r"max_health must be a finite number > 0, got -1.0"),
        (dict(max_health=0.0), r"max_health must be a finite number > 0, got 0.0"),
        (dict(detection_range=float("inf")), r"detection_range must be a finite number > 0, got inf"),
        (dict(thrust=float("nan")), r"thrust must be a finite number > 0, got nan"),
        (dict(damage_range=-1.0), r"damage_range must be a finite number >= 0 .* got -1.0"),
        (dict(idle_reward=float("nan")), r"idle_reward must be a finite number, got nan"),
        (dict(sprite=9), r"sprite must be an int in 1..7 .* got 9"),
        (dict(count=0), r"count must be a positive int, got 0"),
    ],
)
def test_builder_bad_custom_unit(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        gj.ScenarioBuilder("x").add_custom(0, **kwargs)


def test_builder_bad_team_and_count():
    with pytest.raises(ValueError, match=r"team must be 0 \(team A\) or 1 \(team B\), got 2"):
        gj.ScenarioBuilder("x").add(2, "default")
    with pytest.raises(ValueError, match=r"count must be a positive int, got -3"):
        gj.ScenarioBuilder("x").add(0, "default", count=-3)
    with pytest.raises(ValueError, match=r"unknown option 'arenna'.*Did you mean: arena"):
        gj.ScenarioBuilder("x").add(0).add(1).set(arenna=(5, 5))


def test_builder_good_input_builds():
    """The error paths are not all the builder does: a valid custom match-up builds what was asked."""
    env = gj.ScenarioBuilder("ok").add(0, "faster", 2).add_custom(1, max_health=2.0, sprite=3).make(arena=(15, 12))
    assert env.n_agents == 3 and env.scenario.arena == (15.0, 12.0)
    np.testing.assert_array_equal(np.asarray(env.params.thrust), [2.0, 2.0, 1.0])
    np.testing.assert_array_equal(np.asarray(env.params.max_health), [1.0, 1.0, 2.0])


# ------------------------------------------------------------------ actions
@pytest.fixture(scope="module")
def states():
    disc = gj.make(NAME)
    cont = gj.make("identical_5_vs_5_fobs_vec_void_cont")
    return disc, cont, jax.eval_shape(disc.reset, KEY)[1]


@pytest.mark.parametrize("kind, call, action, error, pattern", [
    ("disc", "step", jnp.zeros(3, jnp.int32), ValueError, r"discrete action must have shape \(10,\).*got shape \(3,\)"),
    ("disc", "step", jnp.zeros((10, 3), jnp.int32), ValueError, r"shape \(10,\).*got shape \(10, 3\)"),
    ("disc", "step", jnp.zeros(10, jnp.float32), TypeError, r"discrete action must be an integer array, got dtype float32"),
    ("cont", "step", jnp.zeros(10, jnp.float32), ValueError, r"continuous action must have shape \(10, 3\).*got shape \(10,\)"),
    ("cont", "transition", np.zeros((10, 2), np.float32), ValueError, r"shape \(10, 3\).*got shape \(10, 2\)"),
    ("cont", "step", jnp.zeros((10, 3), jnp.int32), TypeError, r"continuous action must be a float array, got dtype int32"),
])
def test_action_of_the_wrong_shape_or_dtype(states, kind, call, action, error, pattern):
    disc, cont, state = states
    env = disc if kind == "disc" else cont
    with pytest.raises(error, match=pattern):
        getattr(env, call)(KEY, state, action)


def test_errors_raised_while_tracing_under_jit(states):
    """Shapes are static, so the check also fires inside jit and vmap (with the per-env shape)."""
    disc, _, state = states
    with pytest.raises(ValueError, match=r"shape \(10,\)"):
        jax.eval_shape(jax.jit(disc.step), KEY, state, jnp.zeros(4, jnp.int32))
    batch = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct((2, *a.shape), a.dtype), state)
    with pytest.raises(ValueError, match=r"shape \(10,\).*got shape \(9,\)"):
        jax.eval_shape(jax.vmap(disc.step), jax.random.split(KEY, 2), batch, jnp.zeros((2, 9), jnp.int32))


# ------------------------------------------------------------------ wrappers, policies, rendering
def test_batched_env_bad_sizes(states):
    disc, _, _ = states
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        gj.BatchedEnv(disc, 0)
    with pytest.raises(ValueError, match=r"final_obs_capacity must be an int in 1..4, got 5"):
        gj.BatchedEnv(disc, 4, final_obs_capacity=5)


def test_unknown_policy():
    with pytest.raises(ValueError, match=r"unknown scripted policy 'chase'.*chaser"):
        gj.policies.get("chase")


def test_save_gif_bad_frames(tmp_path):
    with pytest.raises(ValueError, match=r"frames must be uint8\[T, H, W, 3\], got uint8\[3, 4, 4\]"):
        gj.render.save_gif(np.zeros((3, 4, 4), np.uint8), tmp_path / "x.gif")
    with pytest.raises(ValueError, match=r"got float32\[2, 4, 4, 3\]"):
        gj.render.save_gif(np.zeros((2, 4, 4, 3), np.float32), tmp_path / "x.gif")
    assert not (tmp_path / "x.gif").exists()


def test_scripted_policy_on_a_batch_names_the_fix():
    env = gj.make("identical_2_vs_2_fobs_vec_void_disc")
    _, states = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), 3))
    for policy in (gj.policies.random, gj.policies.circler, gj.policies.chaser):
        with pytest.raises(ValueError, match=r"jax.vmap\(policy"):
            policy(jax.random.PRNGKey(0), env, states)


def test_negative_reward_weights_are_penalties_and_allowed():
    env = gj.make(NAME, reward_game_won=-1.0)
    assert float(env.params.reward_game_won) == -1.0


# ------------------------------------------------------------------ states
@pytest.mark.parametrize("other, field, got, want", [
    ("identical_2_vs_2_fobs_vec_void_disc", "x", r"\(4,\)", r"\(10,\)"),  # other team sizes
    ("identical_5_vs_5_fobs_vec_maps_disc", "boxes", r"\(\d+, 4\)", r"\(0, 4\)"),  # obstacles into a void arena
])
def test_a_state_of_another_scenario_is_refused(states, other, field, got, want):
    disc, _, _ = states
    foreign = jax.eval_shape(gj.make(other).reset, KEY)[1]
    action = jnp.zeros(disc.n_agents, jnp.int32)
    for call in (lambda: disc.step(KEY, foreign, action), lambda: jax.jit(disc.observe)(KEY, foreign)):
        with pytest.raises(ValueError, match=rf"state.{field} has shape {got} where this scenario's state has {want}"):
            call()


def test_a_batch_of_states_is_refused_where_one_is_expected(states):
    disc, _, _ = states
    batch = jax.eval_shape(jax.vmap(disc.reset), jax.random.split(KEY, 3))[1]
    with pytest.raises(ValueError, match=r"state.x has shape \(3, 10\) .* use jax.vmap over environments"):
        disc.step(KEY, batch, jnp.zeros(10, jnp.int32))
