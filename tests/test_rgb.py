"""What the RGB observation draws, pixel by pixel, for hand-placed agents."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gigastep_jax as gj
from conftest import place


@pytest.fixture(scope="module")
def env():
    return gj.make("identical_1_vs_1_fobs_rgb_void_disc")


def test_border_health_bar_ego_and_enemy(env):
    state = env.reset_state(jax.random.PRNGKey(0))
    # ego (agent 0, team A) at (2.5, 5), enemy at (7.5, 5); z = 0; ego at half health
    state = place(state, x=[2.5, 7.5], y=[5.0, 5.0], z=[0.0, 0.0], heading=[0.0, 0.0], health=[0.5, 1.0])
    obs = np.asarray(jax.jit(env.observe)(jax.random.PRNGKey(1), state))
    img = obs[0]  # ego 0's view, indexed [x, y]
    r = 84
    # pixel of an agent: round(coord * 84 / 10)
    ego_px, enemy_px, py = 21, 63, 42
    assert tuple(img[ego_px, py]) == (255, 255, 255)  # ego: (255 - z, 255, 255 - z) at z = 0
    assert tuple(img[enemy_px, py]) == (255, 0, 0)  # enemy: red, green = altitude 0
    assert tuple(obs[1][enemy_px, py]) == (255, 255, 255)  # from the enemy's own view it is the ego
    assert tuple(obs[1][ego_px, py]) == (255, 0, 0)
    # heading trail behind the ego (x decreasing), fading
    trail = img[ego_px - 4 : ego_px, py, 0]
    assert np.all(np.diff(trail.astype(int)) > 0) and trail.max() < 255
    # border rows x = 0, x = R - 1 and column y = 0 white (no damage taken)
    assert np.all(img[0, : r - 1] == 255) and np.all(img[r - 1, : r - 1] == 255) and np.all(img[:, 0] == 255)
    # health bar in column y = R - 1: green for the first floor(84 * 0.5) = 42 pixels, white after
    bar = img[:, r - 1]
    assert np.all(bar[:42] == (0, 255, 0)) and np.all(bar[42:] == 255)
    # empty arena elsewhere is black
    assert img[40:44, 10:14].max() == 0


def test_damage_turns_the_border_red_and_unseen_agents_vanish():
    env = gj.make("identical_1_vs_1_pobs_rgb_void_disc")
    state = env.reset_state(jax.random.PRNGKey(0))
    state = place(state, x=[1.0, 9.0], y=[1.0, 9.0], z=[0.0, 0.0], heading=[0.0, 0.0])
    state = state.replace(damage_taken=jnp.asarray([0.1, 0.0], jnp.float32), detected=jnp.zeros((2, 2), bool))
    img = np.asarray(jax.jit(env.observe)(jax.random.PRNGKey(1), state))[0]
    assert tuple(img[0, 10]) == (255, 0, 0)  # hurt: red border
    # the enemy at (9, 9) is far, undetected and not shared: not drawn
    assert img[76, 76].max() == 0
