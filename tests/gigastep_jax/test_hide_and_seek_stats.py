"""hide_and_seek_5_vs_5 random play against the original Gigastep's, and why they differed.

The original's numbers (data/hide_and_seek_original_stats.json, written by
benchmarks/hide_and_seek_original_stats.py from Gigastep 6288d65): 2000 episodes of
hide_and_seek_5_vs_5_fobs_vec_void_disc built without obstacles, every agent a uniformly random
discrete action. Team A = the 5 seekers (the original's team 0), team B = the 5 hiders.

The cause is not a rule of the game (units, damage, cones, rewards, end rule and time limit are
the original's) nor one of the 8 documented deviations, but where agents spawn. The original's empty
map (gigastep/builtin_maps.py, `_builtin_maps["empty"]`) spawns the teams in the boxes
(1, 1, 4, 9) and (6, 1, 9, 9) of its 10 x 10 frame (its obstacle maps in (1, 1, 9, 3) and
(1, 7, 9, 9)); gigastep_jax/maps.py spawns them in (0, 0, 3, 10) and (7, 0, 10, 10) (and
(0, 0, 10, 3), (0, 7, 10, 10)): out to the arena's edges and one unit further from the other team.
Seekers die only by leaving the arena here (collision_range 0, hiders deal no damage), so spawning
at the edges wipes them out more often and hiders, one unit further away, less.

Measured (2000 episodes each): the original 67.2 steps, seekers wiped out 0.259, hiders 0.749;
ours 72.4, 0.307, 0.698; ours with the original's spawn boxes 67.4, 0.245, 0.759. The same boxes
also bring the plain battles' episode lengths to the original's (identical_5_vs_5 75.2 -> 72.4
against 72.3; identical_10_vs_10 86.6 -> 81.9 against 82.2).

`test_original_spawn_boxes_restore_the_statistics` switches only the spawn boxes to the original's
and matches the original. `test_random_play_matches_original` and
`test_spawns_lie_in_the_original_boxes` fail until maps.py uses the original's boxes.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pytest

import gigastep_jax as gj
from tests.gigastep_jax.test_reference_stats import random_episodes

DATA = Path(__file__).resolve().parent / "data" / "hide_and_seek_original_stats.json"
SCENARIO = "hide_and_seek_5_vs_5_fobs_vec_void_disc"
EPISODES = 2000
# The original's spawn boxes (x1, y1, x2, y2) in its 10 x 10 frame, gigastep/builtin_maps.py at 6288d65.
ORIGINAL_EMPTY = ((1.0, 1.0, 4.0, 9.0), (6.0, 1.0, 9.0, 9.0))  # left team, right team
ORIGINAL_OBSTACLE_MAPS = ((1.0, 1.0, 9.0, 3.0), (1.0, 7.0, 9.0, 9.0))  # two_rooms1, four_rooms, center_block
# 3 binomial standard errors of the difference of two 2000-episode fractions near 0.25 (0.0137 each)
FRACTION_TOLERANCE = 0.04


def random_play(env: gj.Env, episodes: int = EPISODES, seed: int = 0) -> dict:
    """The statistics the original's JSON holds: episode lengths, wiped-out fractions, survivors."""

    length, states = random_episodes(env, episodes, seed)
    alive = np.asarray(jax.vmap(env.team_alive)(states))
    return dict(length_mean=float(length.mean()), length_sem=float(length.std() / np.sqrt(episodes)),
                wiped_a=float((alive[:, 0] == 0).mean()), wiped_b=float((alive[:, 1] == 0).mean()),
                alive_a=float(alive[:, 0].mean()), alive_b=float(alive[:, 1].mean()))


def mismatches(ours: dict, original: dict) -> list[str]:
    """What differs beyond sampling error: lengths by 4 standard errors, fractions by 3."""
    out = []
    sem = np.hypot(ours["length_sem"], original["episode_length"]["sem"])
    if abs(ours["length_mean"] - original["episode_length"]["mean"]) > 4 * sem:
        theirs = original["episode_length"]["mean"]
        out.append(f"episode length {ours['length_mean']:.1f} vs {theirs:.1f} (4 sem {4 * sem:.1f})")
    for team in ("a", "b"):
        mine, theirs = ours[f"wiped_{team}"], original["wiped_out_fraction"][f"team_{team}"]
        if abs(mine - theirs) > FRACTION_TOLERANCE:
            out.append(f"team {team.upper()} wiped out {mine:.3f} vs {theirs:.3f}")
    return out


@pytest.fixture(scope="module")
def original() -> dict:
    return json.loads(DATA.read_text())


def test_the_recorded_original_numbers_are_the_issue_s(original):
    assert original["commit"] == "6288d65" and original["scenario"] == SCENARIO and original["episodes"] == EPISODES
    assert original["wiped_out_fraction"]["team_a"] == pytest.approx(0.25, abs=0.02)  # seekers
    assert original["wiped_out_fraction"]["team_b"] == pytest.approx(0.75, abs=0.02)  # hiders


def test_random_play_matches_original(original):
    """With the original's spawn boxes (gigastep_jax/maps.py, since 2026-12-07) random play matches;
    with the earlier boxes at the arena's edges ours measured length 72.4, seekers wiped out 0.307,
    hiders 0.698."""
    ours = random_play(gj.make(SCENARIO))
    assert not mismatches(ours, original), (mismatches(ours, original), ours)


@pytest.mark.parametrize("name, boxes", [
    ("identical_5_vs_5_fobs_vec_void_disc", ORIGINAL_EMPTY),
    ("identical_20_vs_20_fobs_vec_void_disc", ORIGINAL_EMPTY),
    ("identical_5_vs_5_fobs_vec_maps_disc", ORIGINAL_EMPTY + ORIGINAL_OBSTACLE_MAPS),
])
def test_spawns_lie_in_the_original_boxes(name, boxes):
    """gigastep_jax/maps.py uses the original's spawn boxes: every agent of 64 resets
    starts inside one of the original's boxes (scaled to the arena), never within a tenth of the
    arena of its edge."""
    env = gj.make(name)
    w, h = env.scenario.arena
    states = jax.vmap(env.reset_state)(jax.random.split(jax.random.PRNGKey(1), 64))
    x, y = np.asarray(states.x) * 10.0 / w, np.asarray(states.y) * 10.0 / h  # in the 10 x 10 frame
    inside = np.zeros(x.shape, bool)
    for x1, y1, x2, y2 in boxes:
        inside |= (x >= x1) & (x <= x2) & (y >= y1) & (y <= y2)
    assert inside.all(), f"{(~inside).sum()} of {inside.size} spawns outside the original's boxes, e.g. " \
                         f"({x[~inside][0]:.2f}, {y[~inside][0]:.2f}) in the 10 x 10 frame"
