"""The global state: the whole `EnvState` of one environment as one vector, for centralised critics."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gigastep_jax.dynamics import Z_MAX
from gigastep_jax.state import EnvState, Scenario

GLOBAL_FEATURES = 10  # per agent in the global state


def global_state(state: EnvState, scenario: Scenario, sprite, team, max_health) -> jax.Array:
    """float32[G]: every agent's x, y, z, cos/sin heading, speed, health fraction, alive, team and
    sprite (N * 10 values), then waypoint (5) and boxes (4 per box): input for centralised critics."""
    w, h = scenario.arena
    per_agent = jnp.stack(
        [
            state.x / w,
            state.y / h,
            state.z / Z_MAX,
            jnp.cos(state.heading),
            jnp.sin(state.heading),
            state.v / float(np.hypot(w, h)),
            state.health / max_health,
            state.alive.astype(jnp.float32),
            team.astype(jnp.float32),
            sprite.astype(jnp.float32),
        ],
        axis=-1,
    ).reshape(-1)
    parts = [per_agent]
    if scenario.waypoints:
        parts += [state.waypoint / jnp.asarray([w, h, w, h], jnp.float32), (state.waypoint_timer / 10.0)[None]]
    if state.boxes.shape[0] > 0:
        parts.append((state.boxes / jnp.asarray([w, h, w, h], jnp.float32)).reshape(-1))
    return jnp.concatenate(parts)
