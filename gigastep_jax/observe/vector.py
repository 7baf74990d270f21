"""The vector observation: per ego, rows of features of itself and its nearest seen agents, then
the waypoint and the obstacle boxes. `RowFeature` names a row's features and `VectorLayout` says
where everything sits, so learners read the observation by name rather than by index.
"""

from __future__ import annotations

import dataclasses
import enum

import jax
import jax.numpy as jnp
import numpy as np

from gigastep_jax import dynamics as dyn
from gigastep_jax.dynamics import Z_MAX
from gigastep_jax.neighbours import Pairs
from gigastep_jax.state import EnvState, Scenario


class RowFeature(enum.IntEnum):
    """The features of one agent row, in order (index the last axis of `VectorLayout.agent_rows`).

    Row 0 is the ego: its values are absolute. Other rows are the nearest seen agents: position,
    heading and speed relative to the ego (target minus ego), health and sprite their own. A row
    with no seen agent is all zero.
    """

    SEEN = 0
    """1 where the row holds an agent (the ego's own row while it is alive), else 0."""
    SAME_TEAM = 1
    """1 if the agent is on the ego's team (so 1 on the ego's row), else 0."""
    DX = 2
    """x / arena width on the ego's row; (x - ego x) / arena width on the others."""
    DY = 3
    """y / arena height on the ego's row; (y - ego y) / arena height on the others."""
    DZ = 4
    """Altitude / Z_MAX on the ego's row; (z - ego z) / Z_MAX on the others."""
    HEADING = 5
    """Heading in [-pi, pi) on the ego's row; heading - ego heading, wrapped to [-pi, pi), on the others."""
    SPEED = 6
    """Speed / arena diagonal on the ego's row; (v - ego v) / arena diagonal on the others."""
    HEALTH = 7
    """The agent's own health, on every row."""
    SPRITE = 8
    """The agent's sprite bits (1 centre, 2 cross, 4 corners: its unit type), on every row."""


ROW_FEATURES = len(RowFeature)  # features per agent row
WAYPOINT_FEATURES = 5  # the waypoint box relative to the ego / arena (4), its seconds left / 10
BOX_FEATURES = 4  # one obstacle box (x1, y1, x2, y2) / arena


@dataclasses.dataclass(frozen=True)
class VectorLayout:
    """Where things sit in a vector observation float32[..., F] (static, from the scenario).

    F = rows * ROW_FEATURES + waypoint + boxes * BOX_FEATURES: the agent rows, then the waypoint's
    features, then the obstacle boxes.
    """

    rows: int  # agent rows, the ego first: min(N, max_obs_agents)
    waypoint: int  # waypoint features: WAYPOINT_FEATURES with waypoints, else 0
    boxes: int  # obstacle boxes: as many as the largest map of the scenario has

    @property
    def size(self) -> int:
        """F, the length of one agent's observation."""
        return self.rows * ROW_FEATURES + self.waypoint + self.boxes * BOX_FEATURES

    def agent_rows(self, obs: jax.Array) -> jax.Array:
        """float32[..., F] -> float32[..., rows, ROW_FEATURES]; index the last axis by `RowFeature`."""
        self._check(obs)
        return obs[..., : self.rows * ROW_FEATURES].reshape(obs.shape[:-1] + (self.rows, ROW_FEATURES))

    def rest(self, obs: jax.Array) -> jax.Array:
        """float32[..., F] -> float32[..., F - rows * ROW_FEATURES]: the waypoint's, then the boxes' features."""
        self._check(obs)
        return obs[..., self.rows * ROW_FEATURES:]

    def _check(self, obs) -> None:
        if obs.shape[-1:] != (self.size,):
            raise ValueError(f"observation of shape {tuple(obs.shape)}: expected [..., {self.size}] for {self}")


def vector_layout(scenario: Scenario, max_boxes: int) -> VectorLayout:
    """The layout of `scenario`'s vector observation, whose maps have up to `max_boxes` boxes."""
    if scenario.obs_kind != "vec":
        raise ValueError(
            f"scenario {scenario.name!r} has obs_kind={scenario.obs_kind!r}: only 'vec' observations "
            "have a vector layout (an 'rgb' one is uint8[R, R, 3] per agent)"
        )
    if not (isinstance(max_boxes, int) and max_boxes >= 0):
        raise ValueError(f"max_boxes must be an int >= 0, got {max_boxes!r}")
    waypoint = WAYPOINT_FEATURES if scenario.waypoints else 0
    return VectorLayout(rows=scenario.obs_rows, waypoint=waypoint, boxes=max_boxes)


def vector_obs_size(scenario: Scenario, max_boxes: int) -> int:
    """F, the length of one agent's vector observation: `vector_layout(...).size`."""
    return vector_layout(scenario, max_boxes).size


def vector_obs(state: EnvState, seen, scenario: Scenario, sprite, team, pairs: Pairs | None = None) -> jax.Array:
    """float32[N, F]: per ego, `VectorLayout.rows` rows of the `RowFeature`s of itself and its
    nearest seen agents (within the sight radius, if any), then the waypoint (with waypoints) and
    the obstacle boxes.

    F = `vector_layout(scenario, M).size`: ROW_FEATURES * min(N, max_obs_agents), + 5 with
    waypoints (the box relative to the ego / arena, its seconds left / 10), + 4 per obstacle box.
    seen: `sight.visibility`'s mask over `pairs` (all pairs by default).
    """
    w, h = scenario.arena
    n = team.shape[0]
    x, y = state.x, state.y
    pairs = pairs or Pairs.all(n)
    if pairs.dense:
        d2 = jnp.square(x[None, :] - x[:, None]) + jnp.square(y[None, :] - y[:, None])
        near = pairs.near(d2)
        seen = seen if near is None else seen & near  # (the ego is at distance 0)
        idx = nearest_rows(seen, d2, scenario.obs_rows)  # [N, K]; idx[:, 0] is the ego itself
        feats = _row_features(state, seen, idx, sprite, team, scenario)  # [N, K, ROW_FEATURES]
    else:
        d2 = jnp.square(pairs.of_target(x) - x[:, None]) + jnp.square(pairs.of_target(y) - y[:, None])
        idx, seen_rows = _nearest_slots(seen & pairs.near(d2), d2, pairs, scenario.obs_rows)
        seen_rows = jnp.concatenate([state.alive[:, None], seen_rows], axis=1)  # the ego's own row first
        feats = _row_features(state, None, idx, sprite, team, scenario, seen_rows)
    parts = [feats.reshape(n, -1)]
    if scenario.waypoints:
        offset = jnp.stack([x, y, x, y], axis=-1)
        scale = jnp.asarray([w, h, w, h], jnp.float32)
        wp = (state.waypoint[None, :] - offset) / scale
        timer = jnp.broadcast_to(state.waypoint_timer / 10.0, (n, 1))
        parts += [wp * (state.waypoint_timer > 0), timer]
    if state.boxes.shape[0] > 0:
        boxes = (state.boxes / jnp.asarray([w, h, w, h], jnp.float32)).reshape(-1)
        parts.append(jnp.broadcast_to(boxes, (n, boxes.shape[0])))
    return jnp.concatenate(parts, axis=-1)


def _nearest_slots(seen, d2, pairs: Pairs, rows: int) -> tuple[jax.Array, jax.Array]:
    """The local path's rows: (idx int32[N, rows], the ego first, then its rows - 1 nearest seen
    candidates; seen bool[N, rows - 1] of those). Ordered by the same keys as `nearest_rows`, so
    both paths pick the same agents in the same order."""
    n = pairs.n
    index_bits = max(1, (n - 1).bit_length())
    distance = jax.lax.bitcast_convert_type(d2, jnp.int32) & np.int32(-(1 << index_bits))
    key = jnp.where(seen, distance | pairs.target, np.int32(2**31 - 1))
    if key.shape[1] < rows - 1:  # fewer candidates than rows: the rest stay empty
        key = jnp.pad(key, ((0, 0), (0, rows - 1 - key.shape[1])), constant_values=2**31 - 1)
    smallest = _bitonic_smallest(key.T, rows - 1).T  # [N, rows - 1]
    found = smallest != np.int32(2**31 - 1)
    target = jnp.where(found, smallest & np.int32((1 << index_bits) - 1), 0)
    ego = jnp.arange(n, dtype=jnp.int32)[:, None]
    return jnp.concatenate([ego, target], axis=1), found


def _row_features(state: EnvState, seen, idx, sprite, team, scenario: Scenario, seen_rows=None) -> jax.Array:
    """float32[N, K, ROW_FEATURES]: the features of each ego's K rows (targets idx[e, :], the ego
    first).

    Each feature is its own plane, built from broadcasts of [N] vectors, and the planes are
    stacked once, in `RowFeature` order. Computing them after one gather of [N, K, 9] rows, with per-column selects, made
    XLA's CPU loop emitter spend ~40 index-heavy ops per output float (2x slower at 5v5, measured
    side by side). With K = N (up to 15 agents) the planes cover all pairs [e, t] and one gather
    of contiguous 9-float rows picks the K targets; with K < N, gathering first costs less (each
    plane is [N, K]). Both give the same floats: every per-agent quotient is computed once.
    """
    w, h = scenario.arena
    diag = float(np.hypot(w, h))
    n, k = idx.shape
    per_agent = jnp.stack(
        [state.x / w, state.y / h, state.z / Z_MAX, state.heading, state.v / diag, state.health,
         sprite.astype(jnp.float32), team.astype(jnp.float32)], axis=1
    )  # [N, 8]
    all_pairs = k == n and seen_rows is None
    if all_pairs:  # planes over [ego, target]; the ego itself on the diagonal
        first = jnp.eye(n, dtype=bool)
        target = lambda c: jnp.broadcast_to(per_agent[None, :, c], (n, n))  # noqa: E731
        seen_rows = seen
    else:  # planes over [ego, slot]; slot 0 is the ego
        # A buffer (see dynamics.materialize), so each quotient is computed once, not per gather.
        per_agent = per_agent.at[0].set(per_agent[0])
        first = jnp.broadcast_to((jnp.arange(k) == 0)[None, :], (n, k))
        target = lambda c: per_agent[:, c][idx]  # noqa: E731
        if seen_rows is None:
            seen_rows = jnp.take_along_axis(seen, idx, axis=1)

    def relative(c):  # target minus ego; the ego's own row keeps its absolute value
        t = target(c)
        return jnp.where(first, t, t - per_agent[:, c][:, None])

    # Heading differences lie in (-2 pi, 2 pi): wrap them with two compares (cheaper than the
    # floor-based wrap); on the ego's absolute heading, already in [-pi, pi), it changes nothing.
    two_pi = np.float32(2 * np.pi)
    d_heading = relative(3)
    d_heading = d_heading + two_pi * ((d_heading < -np.pi).astype(jnp.float32) - (d_heading >= np.pi).astype(jnp.float32))
    planes = {
        RowFeature.SEEN: jnp.ones(first.shape, jnp.float32),
        RowFeature.SAME_TEAM: (target(7) == per_agent[:, 7][:, None]).astype(jnp.float32),
        RowFeature.DX: relative(0),
        RowFeature.DY: relative(1),
        RowFeature.DZ: relative(2),
        RowFeature.HEADING: d_heading,
        RowFeature.SPEED: relative(4),
        RowFeature.HEALTH: target(5),
        RowFeature.SPRITE: target(6),
    }
    seen_f = seen_rows.astype(jnp.float32)
    stacked = jnp.stack([planes[f] * seen_f for f in RowFeature], axis=-1)  # unseen rows all zero
    if all_pairs:
        return jnp.take_along_axis(stacked, idx[:, :, None], axis=1)
    return stacked


BITONIC_ABOVE = 16  # agents; up to this many counting ranks faster, above it the network (measured)


def nearest_rows(seen, d2, k: int) -> jax.Array:
    """int32[N, k]: per ego, itself first, then the k - 1 nearest seen agents (unseen ones last,
    ties by index).

    The order is one int32 key per pair: the bits of d2 (a non-negative float, so its bits order
    like it) with the lowest ceil(log2 N) bits replaced by the target's index. Keys are unique, so
    one compare per pair replaces a compare of distances plus a tie-break by index, and the index
    is read back from the key's low bits; distances closer than 2^-17 of each other (at N <= 64)
    count as a tie, broken by index. XLA's CPU sort calls its comparator once per comparison (it
    took 60 % of the observation's time), so the keys are ranked by counting up to
    `BITONIC_ABOVE` agents, and above that by a bitonic network that keeps the k smallest
    (O(N log^2 k) per ego instead of O(N^2): 4x faster at 20v20, 4x at 100v100, 1.9x at 10v10).
    """
    n = seen.shape[0]
    ids = jnp.arange(n, dtype=jnp.int32)
    index_bits = max(1, (n - 1).bit_length())
    distance = jax.lax.bitcast_convert_type(d2, jnp.int32) & np.int32(-(1 << index_bits))
    distance = jnp.where(seen, distance, np.int32(0x7F800000))  # +inf: after every seen agent
    distance = jnp.where(jnp.eye(n, dtype=bool), np.int32(-(2**31)), distance)  # the ego first
    order_key = distance | ids[None, :]  # [ego, target]
    if n > BITONIC_ABOVE:
        smallest = _bitonic_smallest(order_key.T, k)  # [k, ego]
        return (smallest & np.int32((1 << index_bits) - 1)).T

    # rank[e, t] = #{m before t in e's order}, then t goes to slot rank[e, t] (slots >= k are
    # dropped). A loop over m keeps the work O(N^2) per step of the loop without
    # materialising the N^3 comparison tensor (which XLA did, 1.3-1.6x slower).
    def count(m, rank):
        return rank + (order_key[:, m][:, None] < order_key).astype(jnp.int32)

    rank = jax.lax.fori_loop(0, n, count, jnp.zeros((n, n), jnp.int32), unroll=4)
    # Slot s holds the target of rank s (ranks are a permutation per ego): a one-hot sum over
    # targets, [N, k, N], instead of a scatter (XLA's CPU scatter is a serial loop; the 5 v 5
    # observation 5 % faster, measured at batch 1024).
    slot = rank[:, None, :] == jnp.arange(k, dtype=jnp.int32)[None, :, None]
    return jnp.where(slot, ids[None, None, :], 0).sum(axis=-1)


def _bitonic_smallest(keys, k: int) -> jax.Array:
    """int32[k, M]: the k smallest of each column of int32[N, M] (distinct keys), ascending.

    Columns are padded to P = 2^p rows; blocks of Q = 2^q >= k rows are bitonic-sorted in
    alternating directions, then pairs of neighbouring blocks (one ascending, one descending) are
    halved by an elementwise min, which keeps the Q smallest of the two as a bitonic sequence,
    and re-sorted by a bitonic merge, until one block is left. The sorted axis is the major one,
    so each compare-exchange is a min/max of whole rows.
    """
    n = keys.shape[0]
    p = 1 << (n - 1).bit_length()
    if p > n:
        keys = jnp.concatenate([keys, jnp.full((p - n,) + keys.shape[1:], np.int32(2**31 - 1))])
    q = min(p, 1 << (k - 1).bit_length())

    def exchange(x, j: int, ascending: np.ndarray):
        """Compare rows i and i + j inside each block of 2j rows; ascending: bool per block."""
        y = x.reshape((x.shape[0] // (2 * j), 2, j) + x.shape[1:])
        partner = jnp.flip(y, axis=1)
        take_min = (ascending[:, None] == np.array([True, False])[None, :]).reshape((-1, 2) + (1,) * (y.ndim - 2))
        y = jnp.minimum(y, partner) if take_min.all() else jnp.where(take_min, jnp.minimum(y, partner), jnp.maximum(y, partner))
        # Each stage reads its input twice (y and its flip): fused, the chain is recomputed
        # exponentially (compiles ran for minutes); one buffer per stage instead.
        return dyn.computed_once(y.reshape(x.shape))

    def sort_blocks(x, size: int):
        """The merge stages that sort bitonic blocks of `size` rows, block b ascending iff b is even
        (so neighbouring blocks pair up as ascending, descending; a single block ascends)."""
        j = size // 2
        while j >= 1:
            first = np.arange(x.shape[0] // (2 * j)) * 2 * j
            x = exchange(x, j, (first // size) % 2 == 0)
            j //= 2
        return x

    size = 2
    while size <= q:  # bitonic sort of blocks of q rows
        keys = sort_blocks(keys, size)
        size *= 2
    while keys.shape[0] > q:
        halves = keys.reshape((keys.shape[0] // (2 * q), 2, q) + keys.shape[1:])
        keys = sort_blocks(jnp.minimum(halves[:, 0], halves[:, 1]).reshape((-1,) + keys.shape[1:]), q)
    return keys[:k]
