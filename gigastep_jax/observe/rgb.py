"""The RGB observation: one top-down image per ego, composed natively (C++) or by XLA."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gigastep_jax import native
from gigastep_jax.dynamics import Z_MAX
from gigastep_jax.observe.pixels import agent_pixels, draw, draw_waypoint, dropped_outside
from gigastep_jax.state import EnvState, Scenario


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
    ego_px = dropped_outside(px, py, r, keep=on & jnp.diagonal(seen)[:, None])
    # The native composer computes the colours itself, with the same float32 products.
    if composer == "native" or (composer == "auto" and jax.default_backend() == "cpu" and native.available()):
        # "auto" decides when tracing, by the default backend: lax.platform_dependent would decide
        # per lowering, but its conditional copies the whole frame buffer (measured 2x the step).
        return native.rgb_frames(
            maps, map_idx, px, py, ego_px, shade[..., 0], z255, team, seen, filled_px, hurt, shared_view
        )
    return _xla_frames(
        maps, map_idx, px, py, ego_px, shade, z255, team, seen, filled_px, hurt, shared_view, scenario.n_team_a
    )


def _xla_frames(maps, map_idx, px, py, ego_px, shade, z255, team, seen, filled_px, hurt, shared_view: bool,
                n_a: int) -> jax.Array:
    """uint8[N, R, R, 3]: the pure-XLA composer, the same pixels as `native.rgb_frames` from the
    same inputs (shade here float32[N, P, 1]; n_a the size of team A, whose agents come first)."""
    r = maps.shape[1]
    n = team.shape[0]
    filled = jnp.arange(r)[None, :] < filled_px[:, None]
    bar = jnp.where(filled[..., None], jnp.asarray([0, 255, 0], jnp.uint8), jnp.uint8(255))  # [N, R, 3]
    border = jnp.asarray(_BORDER)[hurt]  # [N, 3]
    # The ego on top: its pixels are cleared, then its own colours max-blended into them (two
    # scatters whose duplicate writes agree).
    ego = jnp.stack([255.0 - z255, jnp.full_like(z255, 255.0), 255.0 - z255], axis=-1)  # [N, 3]
    ego = (ego[:, None, :] * shade).astype(jnp.uint8)  # [N, P, 3]

    base = maps[map_idx]
    if shared_view:  # seen[e] is the same row for every ego e
        in_a = team == 0
        a_view = jnp.stack([jnp.where(in_a, 0.0, 255.0), z255, jnp.where(in_a, 255.0, 0.0)], axis=-1) * seen[0][:, None]
        canvas = draw(jnp.zeros((r, r, 3), jnp.uint8), px, py, (a_view[:, None, :] * shade).astype(jnp.uint8))
        views = jnp.stack([canvas, canvas[:, :, ::-1]])  # [2, R, R, 3]: the others in each team's view
        # Team A's agents come first, so each ego's frame is a plain copy of its team's (memcpy
        # speed: a per-byte select of the team's view, or a channel reverse per ego, cost 2-3x
        # as much); the border and bar are then written in place, blended with the others there.
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
