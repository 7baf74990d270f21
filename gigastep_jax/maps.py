"""Gigastep's built-in obstacle maps and spawn areas, as constant arrays.

Maps are written in a 10 x 10 frame and scaled to the arena. `_void` scenarios draw from the two
empty maps (teams spawn on the left or the right), `_maps` scenarios draw from all eight built-in
maps, uniformly, once per episode. (The original built the same arena for both suffixes and drew
its map index over 6 of its 8 maps; see the README's list of deviations.)
"""

from __future__ import annotations

import dataclasses

import numpy as np

_PI = float(np.pi)


@dataclasses.dataclass(frozen=True)
class MapSpec:
    name: str
    boxes: tuple[tuple[float, float, float, float], ...]  # (x1, y1, x2, y2) in the 10 x 10 frame
    spawn_a: tuple[float, float, float, float]  # box team A spawns in
    spawn_b: tuple[float, float, float, float]
    heading_a: float  # initial heading of team A (rad)
    heading_b: float

    def flipped(self) -> "MapSpec":
        return MapSpec(
            self.name + "_flipped", self.boxes, self.spawn_b, self.spawn_a, self.heading_b, self.heading_a
        )


_EMPTY = MapSpec("empty", (), (1, 1, 4, 9), (6, 1, 9, 9), 0.0, _PI)
_TWO_ROOMS = MapSpec(
    "two_rooms1", ((0, 4.8, 3, 5.2), (7, 4.8, 10, 5.2)), (1, 1, 9, 3), (1, 7, 9, 9), 0.0, _PI
)
_FOUR_ROOMS = MapSpec(
    "four_rooms",
    ((0, 4.8, 3, 5.2), (7, 4.8, 10, 5.2), (4.8, 0, 5.2, 3), (4.8, 7, 5.2, 10)),
    (1, 1, 9, 3),
    (1, 7, 9, 9),
    0.0,
    _PI,
)
_CENTER_BLOCK = MapSpec("center_block", ((3.8, 3.8, 6.2, 6.2),), (1, 1, 9, 3), (1, 7, 9, 9), 0.0, _PI)

VOID_MAPS: tuple[MapSpec, ...] = (_EMPTY, _EMPTY.flipped())
BUILTIN_MAPS: tuple[MapSpec, ...] = (
    _EMPTY,
    _EMPTY.flipped(),
    _TWO_ROOMS,
    _TWO_ROOMS.flipped(),
    _FOUR_ROOMS,
    _FOUR_ROOMS.flipped(),
    _CENTER_BLOCK,
    _CENTER_BLOCK.flipped(),
)


@dataclasses.dataclass(frozen=True)
class MapTable:
    """The maps of one scenario stacked for indexing inside `jit` (numpy, turned into constants).

    boxes: float32[n_maps, M, 4] padded with empty boxes (x1 = x2 = -1), spawn: float32[n_maps, 2, 4],
    heading: float32[n_maps, 2]. Coordinates already scaled to the arena.
    """

    names: tuple[str, ...]
    boxes: np.ndarray
    spawn: np.ndarray
    heading: np.ndarray

    @property
    def n_maps(self) -> int:
        return len(self.names)

    @property
    def max_boxes(self) -> int:
        return self.boxes.shape[1]


def map_table(kind: str, arena: tuple[float, float]) -> MapTable:
    """The stacked maps of `kind` ("void" or "maps") scaled from the 10 x 10 frame to `arena`."""
    specs = VOID_MAPS if kind == "void" else BUILTIN_MAPS
    max_boxes = max(len(s.boxes) for s in specs)
    scale = np.array([arena[0], arena[1], arena[0], arena[1]], np.float32) / 10.0
    # A padding box lies outside the arena with zero area, so it can never be hit.
    boxes = np.full((len(specs), max_boxes, 4), -1.0, np.float32)
    for i, s in enumerate(specs):
        if s.boxes:
            boxes[i, : len(s.boxes)] = np.asarray(s.boxes, np.float32) * scale
    spawn = np.stack([np.stack([np.asarray(s.spawn_a), np.asarray(s.spawn_b)]) for s in specs])
    spawn = (spawn * scale).astype(np.float32)
    heading = np.asarray([[s.heading_a, s.heading_b] for s in specs], np.float32)
    return MapTable(tuple(s.name for s in specs), boxes, spawn, heading)
