"""Drawing, shared by the RGB observation and the headless renderer: agents' sprite and trail
pixels, max-blended writes, the waypoint and the obstacle maps. Images are indexed [x, y].
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from gigastep_jax.state import EnvState

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


def dropped_outside(px, py, r: int, keep=True):
    """px with every pixel outside the image (or where `keep` is False) moved to row r, which a
    `mode="drop"` scatter drops: `.at[]` would wrap negative indices to the far edge."""
    return jnp.where(keep & (px >= 0) & (py >= 0), px, r)


def draw(image, px, py, colour):
    """Max-blend colours uint8[..., 3] at pixels (px, py); pixels outside the image are dropped."""
    return image.at[dropped_outside(px, py, image.shape[0]), py].max(colour, mode="drop")


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
