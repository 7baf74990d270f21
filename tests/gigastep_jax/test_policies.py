"""The scripted yardsticks (chaser and circler beat uniformly random) and headless rendering.

Gigastep measured, identical_5_vs_5, 1000 battles: circler beats random 97 %, a simple chaser 89 %.
Here 200 battles each (100 with the scripted policy as team A, 100 as team B); a draw or a
time-out counts as not won. The 95 % Wilson lower bound of the win rate must exceed 0.5.
"""

from __future__ import annotations

import math

import imageio.v2 as imageio
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gigastep_jax as gj
from tests.conftest import place, wilson_lower

NAME = "identical_5_vs_5_fobs_vec_void_disc"
BATTLES = 200


def battles(env, scripted, n: int, key):
    """Win rate of `scripted` against uniformly random over n battles (half on each side)."""

    @jax.jit
    def run(keys, side):
        def one(key, side):
            k_reset, k_run = jax.random.split(key)
            state = env.reset_state(k_reset)

            def body(state, k):
                k_s, k_r, k_step = jax.random.split(k, 3)
                action = jnp.where(
                    env.teams == side, scripted(k_s, env, state), gj.policies.random(k_r, env, state)
                )
                return env.transition(k_step, state, action)[0], None

            state, _ = jax.lax.scan(body, state, jax.random.split(k_run, env.scenario.max_steps))
            return env.outcome(state)

        return jax.vmap(one)(keys, side)

    side = jnp.arange(n, dtype=jnp.int32) % 2
    terminated, truncated, winner = (np.asarray(a) for a in run(jax.random.split(key, n), side))
    assert (terminated | truncated).all()  # every battle played to its end
    won = winner == np.asarray(side)
    return int(won.sum()), won, np.asarray(side)


@pytest.mark.parametrize("policy", ["chaser", "circler"])
def test_scripted_beats_random(policy):
    env = gj.make(NAME)
    wins, won, side = battles(env, gj.policies.get(policy), BATTLES, jax.random.PRNGKey(2024))
    rate = wins / BATTLES
    lower = wilson_lower(wins, BATTLES)
    print(
        f"{policy} vs random, {NAME}: won {wins}/{BATTLES} = {rate:.3f} (95% Wilson lower {lower:.3f}); "
        f"as team A {won[side == 0].mean():.3f}, as team B {won[side == 1].mean():.3f}"
    )
    assert rate > 0.5 and lower > 0.5
    # it wins from both sides, not thanks to one spawn
    assert won[side == 0].mean() > 0.5 and won[side == 1].mean() > 0.5


def test_scripted_actions_by_hand():
    """circler is (1, 0, 0): index 9 * 1 + 3 * 2 + 1 = 16. chaser turns toward the nearest detected
    enemy at full throttle: agent 0 (heading 0) with an enemy 2 to its left turns left, (1, 0, 1) = 25;
    an agent with the nearest enemy behind-right turns right."""
    env = gj.make("identical_1_vs_1_fobs_vec_void_disc")
    cont = gj.make("identical_1_vs_1_fobs_vec_void_cont")
    state = jax.jit(env.reset_state)(jax.random.PRNGKey(0))
    state = place(state, x=[5.0, 5.0], y=[5.0, 7.0], z=[2.0, 2.0], heading=[0.0, 0.0])
    state = state.replace(detected=jnp.asarray([[False, True], [True, False]]))
    key = jax.random.PRNGKey(1)
    np.testing.assert_array_equal(np.asarray(gj.policies.circler(key, env, state)), [16, 16])
    np.testing.assert_array_equal(np.asarray(gj.policies.circler(key, cont, state)), [[1, 0, 0], [1, 0, 0]])
    # agent 1 sees agent 0 straight below it (bearing -90 deg): turn right, (-1, 0, 1) = 9 * 2 + 0 + 1 = 19
    np.testing.assert_array_equal(np.asarray(gj.policies.chaser(key, env, state)), [25, 19])
    chase = np.asarray(gj.policies.chaser(key, cont, state))
    np.testing.assert_allclose(chase, [[1, 0, 1], [-1, 0, 1]], atol=1e-6)
    # a small bearing error gives a proportional turn: 0.2 rad off -> 0.2 / 0.4 = 0.5
    off = place(state, heading=[math.pi / 2 - 0.2, -math.pi / 2])
    np.testing.assert_allclose(np.asarray(gj.policies.chaser(key, cont, off))[0], [0.5, 0, 1], atol=1e-5)
    # random covers the action space
    acts = np.asarray(jax.vmap(lambda k: gj.policies.random(k, env, state))(jax.random.split(key, 200)))
    assert acts.min() == 0 and acts.max() == 26 and len(np.unique(acts)) == 27


def test_by_team_splits_the_agents():
    env = gj.make("identical_2_vs_2_fobs_vec_void_cont")
    act = gj.policies.by_team(gj.policies.circler, lambda k, e, s: -jnp.ones((e.n_agents, 3)))
    state = jax.jit(env.reset_state)(jax.random.PRNGKey(0))
    np.testing.assert_array_equal(np.asarray(act(jax.random.PRNGKey(0), env, state)), [[1, 0, 0]] * 2 + [[-1, -1, -1]] * 2)


def test_play_render_and_save_gif(tmp_path):
    env = gj.make("identical_2_vs_2_fobs_vec_maps_disc")
    states, final = gj.render.play(env, jax.random.PRNGKey(3), gj.policies.circler, max_steps=12)
    length = final["length"]
    assert 1 <= length <= 12
    assert states.x.shape == (length + 1, 4)  # the reset state, then one per step
    frames = gj.render.render_states(env, states)
    assert frames.shape == (length + 1, 252, 252, 3) and frames.dtype == np.uint8
    assert (frames.reshape(length + 1, -1).max(1) > 0).all()
    # team A is drawn blue, team B red (at altitude 0: 0.7 x (40, 120, 255) and 0.7 x (255, 60, 40))
    first = frames[0].reshape(-1, 3).astype(int)
    assert ((first[:, 2] > 150) & (first[:, 0] < 60)).any() and ((first[:, 0] > 150) & (first[:, 2] < 60)).any()
    path = gj.render.save_gif(frames, tmp_path / "out" / "battle.gif")
    read = imageio.mimread(path)
    assert len(read) == length + 1
    assert np.asarray(read[0]).shape[:2] == (252, 252)
    np.testing.assert_array_equal(np.asarray(read[0])[..., :3], frames[0])
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["battle.gif"]  # no temp file left behind
