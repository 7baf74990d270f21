"""Who sees whom: the mask every observation is built from.

Takes one environment's arrays; the observer axis is the leading one.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gigastep_jax import rng
from gigastep_jax.state import EnvParams, EnvState


def visibility(key, state: EnvState, team, params: EnvParams, stochastic: bool) -> jax.Array:
    """bool[N, N] seen[e, t]: what ego e knows of agent t (e sees itself while alive).

    Full observability: every alive agent. Partial: a teammate j shares with e with probability
    1 - dist(e, j) / communication_range (e always "shares" with itself), and e sees t if a sharing
    teammate detected t this step, or t is itself a sharing teammate.
    """
    n = team.shape[0]
    if not stochastic:
        return jnp.broadcast_to(state.alive[None, :], (n, n))
    d = jnp.sqrt(jnp.square(state.x[None, :] - state.x[:, None]) + jnp.square(state.y[None, :] - state.y[:, None]))
    p_share = 1.0 - jnp.clip(d / params.communication_range, 0.0, 1.0)
    shares = (team[:, None] == team[None, :]) & state.alive[None, :] & (rng.uniform(key, (n, n), rng.STREAM_SHARE) < p_share)
    shares = shares | (jnp.eye(n, dtype=bool) & state.alive[:, None])
    known = state.detected | jnp.eye(n, dtype=bool)
    # any_j shares[e, j] & known[j, t], as one small matmul
    return (shares.astype(jnp.float32) @ known.astype(jnp.float32)) > 0
