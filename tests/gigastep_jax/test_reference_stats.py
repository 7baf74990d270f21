"""Random play against the original Gigastep's episode statistics (../shared/gigastep_reference_stats.json).

The original's numbers: 2000 episodes of identical_5_vs_5_fobs_vec_void_disc, uniformly random
discrete actions. A faithful re-implementation with its own random streams must land within a few
standard errors on episode length and on the outcome split.
"""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import gigastep_jax as gj

# A copy of ../shared/gigastep_reference_stats.json (the original's numbers, measured for this project).
REFERENCE = Path(__file__).resolve().parent / "data" / "gigastep_reference_stats.json"
EPISODES = 2000


def random_episodes(env, episodes: int, seed: int = 0):
    """Uniformly random play from fresh states for the scenario's max_steps: (lengths int[E], the
    final states, stacked). Shared with the hide-and-seek comparison."""

    def episode(key):
        k_reset, k_run = jax.random.split(key)
        state = env.reset_state(k_reset)

        def body(carry, k):
            state, length, over = carry
            k_act, k_step = jax.random.split(k)
            state, _, _, info = env.transition(k_step, state, gj.policies.random(k_act, env, state))
            length = length + (~over).astype(jnp.int32)
            return (state, length, over | info["terminated"] | info["truncated"]), None

        steps = jax.random.split(k_run, env.scenario.max_steps)
        (state, length, _), _ = jax.lax.scan(body, (state, jnp.int32(0), jnp.bool_(False)), steps)
        return length, state

    lengths, states = jax.jit(jax.vmap(episode))(jax.random.split(jax.random.PRNGKey(seed), episodes))
    return np.asarray(lengths), states


def random_play_stats(env, episodes: int, seed: int = 0):
    """(episode lengths, winners) of random play."""
    lengths, states = random_episodes(env, episodes, seed)
    return lengths, np.asarray(jax.vmap(env.outcome)(states)[2])


def test_random_play_matches_original_statistics():
    ref = json.loads(REFERENCE.read_text())
    env = gj.make("identical_5_vs_5_fobs_vec_void_disc")
    lengths, winners = random_play_stats(env, EPISODES)
    sem = np.hypot(ref["episode_length"]["sem"], lengths.std() / np.sqrt(len(lengths)))
    assert abs(lengths.mean() - ref["episode_length"]["mean"]) < 4 * sem, (lengths.mean(), ref["episode_length"])
    assert abs(np.median(lengths) - ref["episode_length"]["p50"]) <= 5
    frac = ref["outcome_fraction"]
    for measured, expected in [
        ((winners == 0).mean(), frac["team_b_wiped_only (A wins)"]),
        ((winners == 1).mean(), frac["team_a_wiped_only (B wins)"]),
    ]:
        # binomial standard error of the difference of two 2000-sample proportions: ~0.016
        assert abs(measured - expected) < 0.05, (measured, expected)
    assert (lengths >= 500).mean() == 0.0
