"""Headless rendering: top-down frames as arrays, GIF export, and playing a scripted battle.

No window or display is needed: frames are drawn with the same jax drawing code as the RGB
observation and written with imageio.
"""

from __future__ import annotations

import functools
import os
import tempfile
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gigastep_jax.observe import pixels
from gigastep_jax.dynamics import Z_MAX
from gigastep_jax.env import Env
from gigastep_jax.policies import Policy
from gigastep_jax.state import EnvState

TEAM_COLOURS = np.array([[40, 120, 255], [255, 60, 40]], np.float32)  # team A blue, team B red


@functools.lru_cache(maxsize=32)
def _background(env: Env) -> np.ndarray:
    return pixels.map_images(env.maps.boxes, env.scenario.arena, env.scenario.resolution)


def frame(env: Env, state: EnvState, scale: int = 3) -> jax.Array:
    """uint8[R * scale, R * scale, 3] image of one state (R = the scenario's resolution, 84), y
    pointing up; jit- and vmap-able over states.

    Alive agents in team colour (brighter when higher), heading trails, obstacles grey, the
    waypoint purple, the arena border white.
    """
    s = env.scenario
    img = jnp.asarray(_background(env))[state.map_idx]
    # Every unit gets at least its centre and cross drawn, so single-pixel sprites stay visible.
    sprite = jnp.asarray(np.asarray(s.sprite, np.int32) | 3)
    px, py, on, intensity = pixels.agent_pixels(state.x, state.y, state.heading, sprite, s.arena, s.resolution)
    shade = 0.7 + 0.3 * state.z / Z_MAX
    colour = jnp.asarray(TEAM_COLOURS)[env.teams] * (shade * state.alive)[:, None]  # [N, 3]
    colour = colour[:, None, :] * (on * intensity[None, :])[..., None]
    img = pixels.draw(img, px, py, colour.astype(jnp.uint8))
    if s.waypoints:
        img = pixels.draw_waypoint(img[None], state, s.arena, s.resolution)[0]
    white = jnp.asarray([255, 255, 255], jnp.uint8)
    img = img.at[0].set(white).at[-1].set(white).at[:, 0].set(white).at[:, -1].set(white)
    img = jnp.repeat(jnp.repeat(img, scale, axis=0), scale, axis=1)
    # Stored [x, y]; shown with x to the right and y up.
    return jnp.flip(jnp.transpose(img, (1, 0, 2)), axis=0)


def save_gif(frames: Sequence[np.ndarray] | np.ndarray, path: str | os.PathLike, fps: int = 20) -> str:
    """Write frames uint8[T, H, W, 3] to a GIF played at `fps` frames per second (atomically: a temp
    file renamed into place). GIF stores delays in hundredths of a second, so 1/fps is rounded to that."""
    import imageio.v2 as imageio

    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 0 < fps <= 100:
        raise ValueError(f"fps must be a number in (0, 100] (GIF delays are hundredths of a second), got {fps!r}")
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8[T, H, W, 3], got {frames.dtype}{list(frames.shape)}")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".gif", dir=folder)
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; a GIF is meant to be shared
    try:
        imageio.mimsave(tmp, list(frames), duration=1000.0 / fps, loop=0)  # pillow's writer takes milliseconds
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def play(env: Env, key: jax.Array, policy: Policy, max_steps: int | None = None):
    """Play one episode (compiled `lax.scan`); returns the stacked states of every step (the reset
    state first) and the final info. Steps after the end repeat the absorbing final state."""
    steps = env.scenario.max_steps if max_steps is None else max_steps

    @jax.jit
    def run(key):
        k_reset, k_run = jax.random.split(key)
        _, state = env.reset(k_reset)

        def body(state, k):
            k_act, k_step = jax.random.split(k)
            action = policy(k_act, env, state)
            _, new, _, _, info = env.step(k_step, state, action)
            return new, (new, info)

        _, (states, infos) = jax.lax.scan(body, state, jax.random.split(k_run, steps))
        states = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), state, states)
        return states, infos

    states, infos = run(key)
    over = np.asarray(infos["terminated"] | infos["truncated"])
    length = int(np.argmax(over)) + 1 if over.any() else steps
    states = jax.tree_util.tree_map(lambda a: a[: length + 1], states)
    final = {k: np.asarray(v[length - 1]).tolist() for k, v in infos.items()}  # plain Python values
    final["length"] = length
    return states, final


def render_states(env: Env, states: EnvState, scale: int = 3) -> np.ndarray:
    """uint8[T, H, W, 3] frames of stacked states."""
    return np.asarray(jax.jit(jax.vmap(lambda s: frame(env, s, scale)))(states))
