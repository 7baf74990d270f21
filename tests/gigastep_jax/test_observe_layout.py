"""The vector observation's layout: `RowFeature` names a row's features, `VectorLayout` where
rows, waypoint and boxes sit; both checked against real observations."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gigastep_jax as gj
from gigastep_jax.observe import ROW_FEATURES, RowFeature, VectorLayout, vector_layout
from tests.conftest import builder_env, place


def test_row_features_order():
    assert ROW_FEATURES == 9
    assert [f.name for f in RowFeature] == [
        "SEEN", "SAME_TEAM", "DX", "DY", "DZ", "HEADING", "SPEED", "HEALTH", "SPRITE"
    ]
    assert list(RowFeature) == list(range(9))


@pytest.mark.parametrize(
    "name, rows, size",
    [
        ("identical_5_vs_5_fobs_vec_void_disc", 10, 90),
        ("identical_1_vs_1_pobs_vec_void_cont", 2, 18),
        ("identical_20_vs_20_fobs_vec_void_disc", 15, 135),
        ("waypoint_5_vs_3_fobs_vec_void_disc", 8, 72 + 5),
    ],
)
def test_layout_of_void_scenarios(name, rows, size):
    env = gj.make(name)
    layout = env.vector_layout
    assert layout.rows == rows and layout.boxes == 0
    assert layout.waypoint == (5 if name.startswith("waypoint") else 0)
    assert layout.size == size
    assert env.obs_shape == (size,)


@pytest.mark.parametrize("name", ["identical_5_vs_5_fobs_vec_maps_disc", "waypoint_5_vs_3_pobs_vec_maps_cont"])
def test_layout_of_maps_scenarios_adds_four_per_box(name):
    env = gj.make(name)
    layout = env.vector_layout
    boxes = env.maps.boxes.shape[1]
    assert boxes > 0 and layout.boxes == boxes
    assert layout.size == 9 * layout.rows + layout.waypoint + 4 * boxes
    obs, _ = jax.jit(env.reset)(jax.random.PRNGKey(0))
    assert obs.shape == (env.n_agents, layout.size)
    assert layout.rest(obs).shape == (env.n_agents, layout.waypoint + 4 * boxes)


def test_agent_rows_read_the_nearest_agents_offset():
    """Ego 0 at x = 10 in an arena 100 wide; agents at x = 40, 13, 25 (y equal): the nearest is the
    one at 13, so row 1 holds dx = 3 / 100, and row 2 the one at 25: 15 / 100."""
    env = builder_env(2, 2)  # arena (100, 100), full observability
    _, state = env.reset(jax.random.PRNGKey(0))
    state = place(state, x=[10.0, 40.0, 13.0, 25.0], y=[50.0] * 4, z=[5.0] * 4, heading=[0.0] * 4,
                  v=[2.0] * 4, alive=[True] * 4)
    obs = env.observe(jax.random.PRNGKey(1), state)
    rows = env.vector_layout.agent_rows(obs)  # [N, rows, 9]
    assert rows.shape == (4, 4, ROW_FEATURES)
    ego = np.asarray(rows[0])
    np.testing.assert_allclose(ego[0, RowFeature.DX], 10.0 / 100.0, rtol=1e-6)  # the ego: absolute
    np.testing.assert_allclose(ego[1, RowFeature.DX], (13.0 - 10.0) / 100.0, rtol=1e-5)
    np.testing.assert_allclose(ego[2, RowFeature.DX], (25.0 - 10.0) / 100.0, rtol=1e-5)
    np.testing.assert_allclose(ego[3, RowFeature.DX], (40.0 - 10.0) / 100.0, rtol=1e-5)
    np.testing.assert_array_equal(ego[:, RowFeature.SEEN], 1.0)
    np.testing.assert_array_equal(ego[:, RowFeature.SAME_TEAM], [1.0, 0.0, 0.0, 1.0])  # agent 1 is team A
    np.testing.assert_allclose(ego[1:, RowFeature.DY], 0.0, atol=1e-7)


def test_agent_rows_rejects_a_wrong_length():
    layout = VectorLayout(rows=2, waypoint=0, boxes=1)
    assert layout.size == 22
    with pytest.raises(ValueError, match=r"expected \[\.\.\., 22\]"):
        layout.agent_rows(jnp.zeros((3, 21)))


def test_rgb_scenario_has_no_vector_layout():
    env = gj.make("identical_5_vs_5_fobs_rgb_void_disc")
    with pytest.raises(ValueError, match=r"obs_kind='rgb'.*only 'vec' observations have a vector layout"):
        env.vector_layout
    with pytest.raises(ValueError, match=r"obs_kind='rgb'"):
        vector_layout(env.scenario, 0)


def test_layout_is_reachable_from_the_package():
    assert gj.RowFeature is RowFeature and gj.VectorLayout is VectorLayout
    assert gj.observe.vector_layout is vector_layout
