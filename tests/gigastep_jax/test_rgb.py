"""What the RGB observation draws, pixel by pixel, for hand-placed agents."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gigastep_jax as gj
from tests.conftest import place


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


def test_ego_is_drawn_on_top_and_edges_do_not_wrap(env):
    """A teammate's trail under the ego does not tint it; an agent at the arena's left edge heading
    right draws no trail on the right edge (negative pixel indices are dropped, not wrapped)."""
    two = gj.make("identical_2_vs_2_fobs_rgb_void_disc")
    state = two.reset_state(jax.random.PRNGKey(0))
    # ego 0 at altitude 5 (colour (127, 255, 127)); teammate 1 one pixel ahead, its trail over the
    # ego's centre; enemy 2 at x = 0.01 (pixel row 0) heading +x: its trail rows -1..-4 vanish.
    state = place(state, x=[5.0, 5.0 + 1.0 / 8.4, 0.01, 8.0], y=[5.0, 5.0, 3.0, 8.0], z=[5.0, 0.0, 0.0, 0.0], heading=[0.0] * 4)
    obs = np.asarray(jax.jit(two.observe)(jax.random.PRNGKey(1), state))
    assert tuple(obs[0][42, 42]) == (127, 255, 127)  # not max(ego, teammate's blue trail)
    assert tuple(obs[2][42, 42]) == (255, 128, 0)  # an enemy sees it red (its teammate's trail is 0 there)
    enemy_py = round(3.0 * 8.4)
    assert tuple(obs[0][0, enemy_py]) == (255, 255, 255)  # its centre on the border: max-blended white
    assert obs[0][80:83, enemy_py].max() == 0  # no trail wrapped to the far edge


@pytest.mark.parametrize("composer", ["xla", "auto"])  # auto: the native composer where it is built
@pytest.mark.parametrize("name", ["identical_5_vs_5_fobs_rgb_maps_disc", "waypoint_5_vs_3_fobs_rgb_void_disc"])
def test_shared_view_equals_drawing_per_ego(name, composer):
    """Under full observability one canvas per environment is drawn; it must give the very pixels
    that drawing every ego's view by itself gives, on states of a random battle."""
    from gigastep_jax import observe

    env = gj.make(name)
    keys = jax.random.split(jax.random.PRNGKey(3), 8)

    @jax.jit
    def views(keys):
        _, state = jax.vmap(env.reset)(keys)

        def body(state, k):
            ks = jax.random.split(k, keys.shape[0])
            action = jax.vmap(lambda kk: jax.random.randint(kk, (env.n_agents,), 0, 27))(ks)
            _, state, *_ = jax.vmap(env.step)(ks, state, action)
            return state, state

        _, states = jax.lax.scan(body, state, jax.random.split(keys[0], 40))
        states = jax.tree_util.tree_map(lambda a: a[::8], states)  # 5 moments of 8 battles

        def draw(state, shared):
            seen = observe.visibility(keys[0], state, env.teams, env.params, False)
            bg = jnp.asarray(env._background)
            sprite = jnp.asarray(env._sprite)
            return observe.rgb_obs(
                state, seen, env.scenario, sprite, env.teams, env.params.max_health, bg, shared, composer
            )

        both = [jax.vmap(jax.vmap(lambda s, shared=shared: draw(s, shared)))(states) for shared in (True, False)]
        return both, states.alive.sum()

    (shared, per_ego), alive = views(keys)
    assert int(alive) > 0
    np.testing.assert_array_equal(np.asarray(shared), np.asarray(per_ego))
