"""The actor-critic networks' input features."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from algorithms.marl import networks
from gigastep_jax.observe import ROW_FEATURES


def test_egocentric_features_by_hand():
    """Ego at (0.3, 0.5) heading 0.7 rad; agent 1 dead ahead facing it, agent 2 abeam to its left
    flying parallel, agent 3 dead astern pointing at it, agent 4 unseen."""
    h = 0.7
    fwd, left = np.array([np.cos(h), np.sin(h)]), np.array([-np.sin(h), np.cos(h)])
    rows = np.zeros((5, ROW_FEATURES), np.float32)
    rows[0, [0, 2, 3, 5]] = [1.0, 0.3, 0.5, h]  # the ego row: absolute x, y, heading
    for i, (offset, dh) in enumerate([(0.1 * fwd, np.pi), (0.2 * left, 0.0), (-0.1 * fwd, 0.0)], start=1):
        rows[i, [0, 2, 3, 5]] = [1.0, offset[0], offset[1], dh]
    agents, rest = networks.egocentric(jnp.asarray(rows.reshape(-1)), 5)
    extra = np.asarray(agents).reshape(5, ROW_FEATURES + networks.EGO_EXTRA)[:, ROW_FEATURES:]
    # forward, left, distance, cos / sin relative heading, my aim, its aim
    np.testing.assert_allclose(extra[1], [0.1, 0.0, 0.1, -1.0, 0.0, 1.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(extra[2], [0.0, 0.2, 0.2, 1.0, 0.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(extra[3], [-0.1, 0.0, 0.1, 1.0, 0.0, -1.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(extra[4], 0.0, atol=1e-6)
    # the ego row: cos, sin of its heading; the centre (0.5, 0.5) in its frame, and how far
    c = np.array([0.2, 0.0])
    np.testing.assert_allclose(extra[0], [np.cos(h), np.sin(h), c @ fwd, c @ left, 0.2, 0.0, 0.0], atol=1e-6)
    assert rest.shape == (0,)
