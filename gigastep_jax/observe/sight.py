"""Who sees whom: the mask every observation is built from.

Takes one environment's arrays; the observer axis is the leading one. With all pairs the mask is
[ego, target] (bool[N, N]); on the large-battle path it is [ego, slot] over the ego's candidates
(`neighbours.Pairs`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gigastep_jax import rng
from gigastep_jax.neighbours import Pairs
from gigastep_jax.state import EnvParams, EnvState


def visibility(key, state: EnvState, team, params: EnvParams, stochastic: bool, pairs: Pairs | None = None) -> jax.Array:
    """bool[N, P] seen[e, slot]: what ego e knows of the agent in that slot (with all pairs, e sees
    itself while alive; the local path has no slot for the ego).

    Full observability: every alive agent. Partial: a teammate j within the sight radius shares
    with e with probability 1 - dist(e, j) / communication_range (e always "shares" with itself),
    and e sees t if a sharing teammate detected t this step, or t is itself a sharing teammate.
    """
    n = team.shape[0]
    pairs = pairs or Pairs.all(n)
    if not stochastic:
        if pairs.dense:
            return jnp.broadcast_to(state.alive[None, :], (n, n))
        return pairs.ok & pairs.of_target(state.alive)
    if pairs.dense:
        ids = jnp.arange(n)
        shares = _shares(key, state, team, params, pairs, ids[:, None], ids[None, :],
                         lambda a: a[:, None], lambda a: a[None, :])
        known = state.detected | jnp.eye(n, dtype=bool)
        # any_j shares[e, j] & known[j, t], as one small matmul
        return (shares.astype(jnp.float32) @ known.astype(jnp.float32)) > 0
    # Local: e sees slot target t if t shares with e, or if a detector of t (`state.detectors`)
    # shares with e.
    ego = jnp.arange(n)[:, None]
    slot = pairs.target
    seen = _shares(key, state, team, params, pairs, ego, slot, lambda a: a[ego], lambda a: a[slot])  # [N, C]
    detectors = state.detectors[pairs.target]  # [N, C, D]: who detected each slot's target
    by = detectors >= 0
    detectors = jnp.maximum(detectors, 0)
    via = by & _shares(key, state, team, params, pairs, ego[:, :, None], detectors,
                       lambda a: a[ego][:, :, None], lambda a: a[detectors])
    return pairs.ok & (seen | via.any(axis=2))


def _shares(key, state: EnvState, team, params: EnvParams, pairs: Pairs, e, j, at_e, at_j) -> jax.Array:
    """bool[broadcast of e, j]: teammate j shares with ego e this step (e with itself while alive).

    e, j: agent indices (broadcastable); at_e(a), at_j(a): per-agent a at them (broadcasts with
    all pairs, gathers on the local path). The same floats and draws for a pair on both paths: the distance
    from the same differences, the uniform of counter e * N + j.
    """
    n = team.shape[0]
    x, y, alive = state.x, state.y, state.alive
    dx, dy = at_j(x) - at_e(x), at_j(y) - at_e(y)
    d2 = jnp.square(dx) + jnp.square(dy)
    p_share = 1.0 - jnp.clip(jnp.sqrt(d2) / params.communication_range, 0.0, 1.0)
    if pairs.dense:
        u = rng.uniform(key, (n, n), rng.STREAM_SHARE)
    else:
        u = rng.uniform_at(key, (e * n + j).astype(jnp.uint32), rng.STREAM_SHARE)
    shares = (at_e(team) == at_j(team)) & at_j(alive) & (u < p_share)
    if pairs.radius is not None:
        shares = shares & (d2 <= np.float32(pairs.radius) ** 2)
    return shares | ((e == j) & at_e(alive))
