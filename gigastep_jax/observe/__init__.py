"""Observations, one module per job:

* `sight`: who sees whom, bool[N, N] (every observation starts from it);
* `vector`: the vector observation float32[N, F], its `RowFeature`s and `VectorLayout`;
* `rgb`: the RGB observation uint8[N, R, R, 3] (native or XLA composer);
* `pixels`: drawing shared by the RGB observation and the headless renderer;
* `full_state`: the global state float32[G] for centralised critics.

All functions take one environment's arrays; the observer axis is the leading one, so one call
builds the observations of every agent at once (no per-agent vmap of a per-agent function).
The names below are re-exported, so `observe.vector_obs`, `observe.rgb_obs`, ... work as before.
"""

from gigastep_jax.observe.full_state import GLOBAL_FEATURES, global_state
from gigastep_jax.observe.pixels import TAIL, agent_pixels, draw, draw_waypoint, map_images
from gigastep_jax.observe.rgb import rgb_obs
from gigastep_jax.observe.sight import visibility
from gigastep_jax.observe.vector import (
    BOX_FEATURES,
    ROW_FEATURES,
    WAYPOINT_FEATURES,
    RowFeature,
    VectorLayout,
    nearest_rows,
    vector_layout,
    vector_obs,
    vector_obs_size,
)

VEC_FEATURES = ROW_FEATURES  # the name before `RowFeature` named the row's features

__all__ = [
    "BOX_FEATURES",
    "GLOBAL_FEATURES",
    "ROW_FEATURES",
    "TAIL",
    "VEC_FEATURES",
    "WAYPOINT_FEATURES",
    "RowFeature",
    "VectorLayout",
    "agent_pixels",
    "draw",
    "draw_waypoint",
    "global_state",
    "map_images",
    "nearest_rows",
    "rgb_obs",
    "vector_layout",
    "vector_obs",
    "vector_obs_size",
    "visibility",
]
