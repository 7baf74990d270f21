"""Observations: who sees whom, the vector observation, the RGB observation and the global state.

All functions take one environment's arrays; the observer axis is the leading one, so one call
builds the observations of every agent at once (no per-agent vmap of a per-agent function).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gigastep_jax import dynamics as dyn
from gigastep_jax import native, rng
from gigastep_jax.dynamics import Z_MAX
from gigastep_jax.state import EnvParams, EnvState, Scenario

VEC_FEATURES = 9  # seen, same team, dx, dy, dz, d-heading, d-speed, health, unit sprite
GLOBAL_FEATURES = 10  # per agent in the global state


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

    # rank[e, t] = #{m before t in e's order}, then t is written to slot rank[e, t] (a scatter;
    # slots >= k are dropped). A loop over m keeps the work O(N^2) per step of the loop without
    # materialising the N^3 comparison tensor (which XLA did, 1.3-1.6x slower).
    def count(m, rank):
        return rank + (order_key[:, m][:, None] < order_key).astype(jnp.int32)

    rank = jax.lax.fori_loop(0, n, count, jnp.zeros((n, n), jnp.int32), unroll=4)
    rows = jnp.broadcast_to(ids[:, None], (n, n))
    targets = jnp.broadcast_to(ids[None, :], (n, n))
    return jnp.zeros((n, k), jnp.int32).at[rows, rank].set(targets, mode="drop")


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


def vector_obs(state: EnvState, seen, scenario: Scenario, sprite, team) -> jax.Array:
    """float32[N, F]: rows of 9 features for ego + nearest seen agents, then waypoint and boxes.

    The ego row holds absolute values (x / W, y / H, z / 10, heading, v / diag, health, sprite);
    other rows are relative to the ego; unseen rows are all zero. F = 9 * min(N, 15)
    (+ 5 with waypoints: box relative to ego / arena and seconds left / 10; + 4 per obstacle box).
    """
    w, h = scenario.arena
    n = team.shape[0]
    x, y = state.x, state.y
    d2 = jnp.square(x[None, :] - x[:, None]) + jnp.square(y[None, :] - y[:, None])
    idx = nearest_rows(seen, d2, scenario.obs_rows)  # [N, K]; idx[:, 0] is the ego itself
    feats = _row_features(state, seen, idx, sprite, team, scenario)  # [N, K, 9]
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


def _row_features(state: EnvState, seen, idx, sprite, team, scenario: Scenario) -> jax.Array:
    """float32[N, K, 9]: the features of each ego's K rows (targets idx[e, :], the ego first).

    Each feature is its own plane, built from broadcasts of [N] vectors, and the nine planes are
    stacked once. Computing them after one gather of [N, K, 9] rows, with per-column selects, made
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
    all_pairs = k == n
    if all_pairs:  # planes over [ego, target]; the ego itself on the diagonal
        first = jnp.eye(n, dtype=bool)
        target = lambda c: jnp.broadcast_to(per_agent[None, :, c], (n, n))  # noqa: E731
        seen_rows = seen
    else:  # planes over [ego, slot]; slot 0 is the ego
        # A buffer (see dynamics.materialize), so each quotient is computed once, not per gather.
        per_agent = per_agent.at[0].set(per_agent[0])
        first = jnp.broadcast_to((jnp.arange(k) == 0)[None, :], (n, k))
        target = lambda c: per_agent[:, c][idx]  # noqa: E731
        seen_rows = jnp.take_along_axis(seen, idx, axis=1)

    def relative(c):  # target minus ego; the ego's own row keeps its absolute value
        t = target(c)
        return jnp.where(first, t, t - per_agent[:, c][:, None])

    # Heading differences lie in (-2 pi, 2 pi): wrap them with two compares (cheaper than the
    # floor-based wrap); on the ego's absolute heading, already in [-pi, pi), it changes nothing.
    two_pi = np.float32(2 * np.pi)
    d_heading = relative(3)
    d_heading = d_heading + two_pi * ((d_heading < -np.pi).astype(jnp.float32) - (d_heading >= np.pi).astype(jnp.float32))
    planes = [
        jnp.ones(first.shape, jnp.float32),  # seen
        (target(7) == per_agent[:, 7][:, None]).astype(jnp.float32),  # same team
        relative(0), relative(1), relative(2), d_heading, relative(4), target(5), target(6),
    ]
    seen_f = seen_rows.astype(jnp.float32)
    stacked = jnp.stack([p * seen_f for p in planes], axis=-1)  # unseen rows all zero
    if all_pairs:
        return jnp.take_along_axis(stacked, idx[:, :, None], axis=1)
    return stacked


def vector_obs_size(scenario: Scenario, max_boxes: int) -> int:
    return VEC_FEATURES * scenario.obs_rows + (5 if scenario.waypoints else 0) + 4 * max_boxes


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


# ---------------------------------------------------------------------------------------------
# Drawing (shared by the RGB observation and the headless renderer)

# Pixel offsets of the sprite parts: bit 1 the centre, bit 2 the cross arms, bit 4 the corners.
_SPRITE_OFFSETS = np.array(
    [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1)], np.int32
)
_SPRITE_BIT = np.array([1, 2, 2, 2, 2, 4, 4, 4, 4], np.int32)
TAIL = 4  # pixels of heading trail behind each agent


def agent_pixels(x, y, heading, sprite, arena, resolution: int):
    """Pixel coordinates of each agent's sprite and trail and which of them are drawn.

    Returns px, py int32[N, 9 + TAIL], on bool[N, 9 + TAIL] (sprite bit set / trail), and the trail
    intensity float32[9 + TAIL] (1 for sprite pixels).
    """
    sx = resolution / arena[0]
    sy = resolution / arena[1]
    cx = jnp.round(x * sx).astype(jnp.int32)
    cy = jnp.round(y * sy).astype(jnp.int32)
    steps = jnp.arange(1, TAIL + 1, dtype=jnp.float32)
    tx = jnp.round(x[:, None] * sx - steps * jnp.cos(heading)[:, None]).astype(jnp.int32)
    ty = jnp.round(y[:, None] * sy - steps * jnp.sin(heading)[:, None]).astype(jnp.int32)
    px = jnp.concatenate([cx[:, None] + _SPRITE_OFFSETS[None, :, 0], tx], axis=1)
    py = jnp.concatenate([cy[:, None] + _SPRITE_OFFSETS[None, :, 1], ty], axis=1)
    on = jnp.concatenate(
        [(sprite[:, None] & _SPRITE_BIT[None, :]) > 0, jnp.ones((x.shape[0], TAIL), bool)], axis=1
    )
    intensity = np.concatenate([np.ones(9), 1.0 - np.arange(1, TAIL + 1) / (TAIL + 1)]).astype(np.float32)
    return px, py, on, jnp.asarray(intensity)


def _dropped_outside(px, py, r: int, keep=True):
    """px with every pixel outside the image (or where `keep` is False) moved to row r, which a
    `mode="drop"` scatter drops: `.at[]` would wrap negative indices to the far edge."""
    return jnp.where(keep & (px >= 0) & (py >= 0), px, r)


def draw(image, px, py, colour):
    """Max-blend colours uint8[..., 3] at pixels (px, py); pixels outside the image are dropped."""
    return image.at[_dropped_outside(px, py, image.shape[0]), py].max(colour, mode="drop")


def rgb_obs(
    state: EnvState,
    seen,
    scenario: Scenario,
    sprite,
    team,
    max_health,
    background,
    shared_view: bool = False,
    composer: str = "auto",
) -> jax.Array:
    """uint8[N, R, R, 3] top-down images indexed [x, y], one per ego.

    Enemies red, teammates blue, the green channel of both their altitude; they max-blend over the
    map and each other. The ego itself is white-green, (255 - z, 255, 255 - z), drawn on top (its
    pixels show only the ego; its trail and sprite max-blend). Rows x = 0 and x = R - 1 and column
    y = 0 are the border (white, or red after taking damage); column y = R - 1 is the ego's health
    bar; agents max-blend over both. Unseen agents are not drawn.

    shared_view: every ego sees the same agents (full observability). Then a team's images show
    the others alike, so one canvas per environment is drawn in team A's colours and team B's
    view is the same canvas with red and blue swapped: the scatter writes 2N sprites per
    environment instead of N^2 (XLA's CPU scatter is a serial loop; it was 85 % of the RGB step).

    composer: who writes the bytes. "native": the C++ custom call of `gigastep_jax.native` (on
    the CPU; 2-3x faster, see its docstring); "xla": pure jax; "auto": native where it is built
    and the default backend is the CPU, else xla. Both give the same pixels.
    """
    if composer not in ("auto", "native", "xla"):
        raise ValueError(f"composer={composer!r}: expected 'auto', 'native' or 'xla'")
    if composer == "native" and not native.available():
        raise RuntimeError("composer='native': the native RGB composer could not be built (see the warning)")
    r = scenario.resolution
    n = team.shape[0]
    px, py, on, intensity = agent_pixels(state.x, state.y, state.heading, sprite, scenario.arena, r)
    shade = (on * intensity[None, :])[..., None]  # [N, P, 1]
    z255 = jnp.round(state.z * 255.0 / Z_MAX)
    if scenario.waypoints:  # a map per environment: its own, with the waypoint drawn
        maps, map_idx = draw_waypoint(background[state.map_idx][None], state, scenario.arena, r), 0
    else:  # the scenario's maps, shared by every environment of a batch
        maps, map_idx = background, state.map_idx
    hurt = (state.damage_taken > 0).astype(jnp.int32)  # [N]
    filled_px = jnp.floor(r * state.health / max_health).astype(jnp.int32)  # [N] health-bar pixels
    # The ego's pixels: where its sprite and trail are and it is drawn (a dead or unseen ego
    # draws nothing); elsewhere past the image, so both composers drop them.
    ego_px = _dropped_outside(px, py, r, keep=on & jnp.diagonal(seen)[:, None])
    # The native composer computes the colours itself, with the same float32 products.
    if composer == "native" or (composer == "auto" and jax.default_backend() == "cpu" and native.available()):
        # "auto" decides when tracing, by the default backend: lax.platform_dependent would decide
        # per lowering, but its conditional copies the whole frame buffer (measured 2x the step).
        return native.rgb_frames(
            maps, map_idx, px, py, ego_px, shade[..., 0], z255, team, seen, filled_px, hurt, shared_view
        )

    filled = jnp.arange(r)[None, :] < filled_px[:, None]
    bar = jnp.where(filled[..., None], jnp.asarray([0, 255, 0], jnp.uint8), jnp.uint8(255))  # [N, R, 3]
    border = jnp.asarray(_BORDER)[hurt]  # [N, 3]
    # The ego on top: its pixels are cleared, then its own colours max-blended into them (two
    # scatters whose duplicate writes agree).
    ego = jnp.stack([255.0 - z255, jnp.full_like(z255, 255.0), 255.0 - z255], axis=-1)  # [N, 3]
    ego = (ego[:, None, :] * shade).astype(jnp.uint8)  # [N, P, 3]

    base = maps[map_idx]  # the pure-XLA composer
    if shared_view:  # seen[e] is the same row for every ego e
        in_a = team == 0
        a_view = jnp.stack([jnp.where(in_a, 0.0, 255.0), z255, jnp.where(in_a, 255.0, 0.0)], axis=-1) * seen[0][:, None]
        canvas = draw(jnp.zeros((r, r, 3), jnp.uint8), px, py, (a_view[:, None, :] * shade).astype(jnp.uint8))
        views = jnp.stack([canvas, canvas[:, :, ::-1]])  # [2, R, R, 3]: the others in each team's view
        # Team A's agents come first, so each ego's frame is a plain copy of its team's (memcpy
        # speed: a per-byte select of the team's view, or a channel reverse per ego, cost 2-3x
        # as much); the border and bar are then written in place, blended with the others there.
        n_a = scenario.n_team_a
        team_frames = jnp.maximum(base[None], views)
        frames = jnp.concatenate(
            [jnp.broadcast_to(team_frames[0], (n_a, r, r, 3)), jnp.broadcast_to(team_frames[1], (n - n_a, r, r, 3))]
        )
        frames = _with_border(frames, border, views, team)
        frames = _with_bar(frames, bar, views[:, :, r - 1][team])
    else:
        same = team[None, :] == team[:, None]  # [ego, target]
        colour = jnp.stack(
            [jnp.where(same, 0.0, 255.0), jnp.broadcast_to(z255[None, :], (n, n)), jnp.where(same, 255.0, 0.0)], axis=-1
        ) * (seen & ~jnp.eye(n, dtype=bool))[..., None]  # [ego, target, 3]; the ego comes last
        colour = (colour[:, :, None, :] * shade[None]).astype(jnp.uint8)  # [ego, target, P, 3]
        frames = _with_border(jnp.broadcast_to(base[None], (n, r, r, 3)), border)
        frames = jax.vmap(draw, in_axes=(0, None, None, 0))(_with_bar(frames, bar, None), px, py, colour)
    rows = jnp.broadcast_to(jnp.arange(n)[:, None], px.shape)
    frames = frames.at[rows, ego_px, py].set(jnp.uint8(0), mode="drop")
    return frames.at[rows, ego_px, py].max(ego, mode="drop")


_BORDER = np.array([[255, 255, 255], [255, 0, 0]], np.uint8)  # the border colour: unhurt, hurt


def _with_border(frames, colour, views=None, team=None):
    """frames uint8[N, R, R, 3] with the border (rows x = 0 and x = R - 1, column y = 0) of
    colour uint8[N, 3] written in place: small updates, not a pass over every byte.

    views uint8[2, R, R, 3], team int32[N]: the agents alone in each team's view; ego e's border
    is then max-blended with the pixels of views[team[e]] there."""
    r = frames.shape[1]
    for xs, ys in [(slice(0, 1), slice(None)), (slice(r - 1, r), slice(None)), (slice(None), slice(0, 1))]:
        value = jnp.broadcast_to(colour[:, None, None, :], frames[:, xs, ys].shape)
        if views is not None:
            value = jnp.maximum(value, views[:, xs, ys][team])
        frames = jax.lax.dynamic_update_slice(frames, value, (0, xs.start or 0, ys.start or 0, 0))
    return frames


def _with_bar(frames, bar, under):
    """frames uint8[N, R, R, 3] with the health bar uint8[N, R, 3] as column y = R - 1, max-blended
    with `under` uint8[N, R, 3] (the agents' pixels in that column) if given."""
    if under is not None:
        bar = jnp.maximum(bar, under)
    return jax.lax.dynamic_update_slice(frames, bar[:, :, None, :], (0, 0, frames.shape[2] - 1, 0))


def draw_waypoint(images, state: EnvState, arena, r: int):
    """Draw the active waypoint purple into images uint8[K, R, R, 3]."""
    w, h = arena
    xs = (jnp.arange(r) + 0.5) * w / r
    ys = (jnp.arange(r) + 0.5) * h / r
    inside = (
        (xs[:, None] >= state.waypoint[0])
        & (xs[:, None] <= state.waypoint[2])
        & (ys[None, :] >= state.waypoint[1])
        & (ys[None, :] <= state.waypoint[3])
        & (state.waypoint_timer > 0)
    )
    purple = jnp.asarray([127, 0, 127], jnp.uint8)
    return jnp.where(inside[None, :, :, None], jnp.maximum(images, purple), images)


def map_images(boxes: np.ndarray, arena, resolution: int) -> np.ndarray:
    """uint8[n_maps, R, R, 3]: obstacle boxes drawn grey on black, indexed [x, y]."""
    xs = (np.arange(resolution) + 0.5) * arena[0] / resolution
    ys = (np.arange(resolution) + 0.5) * arena[1] / resolution
    images = np.zeros((boxes.shape[0], resolution, resolution, 3), np.uint8)
    for m in range(boxes.shape[0]):
        for x1, y1, x2, y2 in boxes[m]:
            inside = (xs[:, None] > x1) & (xs[:, None] < x2) & (ys[None, :] > y1) & (ys[None, :] < y2)
            images[m][inside] = 127
    return images
