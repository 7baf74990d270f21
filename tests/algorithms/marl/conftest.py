"""Shared by the MARL learner's tests: a tiny configuration and its learner.

`make_learner` is cached per configuration, so every test that uses `TINY` (or the `tiny` fixture)
shares one set of compiled functions within a pytest process.
"""

from __future__ import annotations

import functools

import jax
import numpy as np
import pytest

from algorithms.marl.config import TrainConfig
from algorithms.marl import rollout
from algorithms.marl.learner import make_learner


ON_A = np.array([True, True, False, False])  # identical_2_vs_2: agents 0, 1 are team A


TINY = TrainConfig(scenario="identical_2_vs_2_fobs_vec_void_disc", num_envs=16, rollout_steps=8, epochs=1,
                   minibatches=2, hidden=16, opponent_groups=2, pool_size=2, snapshot_every=1,
                   self_play_fraction=0.5, scripted_fraction=0.0, total_steps=16 * 8 * 2 * 2, checkpoints=2,
                   # the pool's draws include the scripted opponents (not the default): the tests
                   # exercise snapshots and scripted opponents alike
                   scripted_opponents=("random", "chaser", "circler"))


# TINY cut into 4 chunks of one update: the runs on disk (kills, resumes, corrupt checkpoints) share
# its compiled chunk through the suite's compilation cache.
CHUNKED = TINY.replace(checkpoints=4, total_steps=TINY.steps_per_update * 4)


@pytest.fixture(scope="session")
def tiny():
    return make_learner(TINY)


@pytest.fixture(scope="session")
def tiny_rollout(tiny):
    """The tiny learner's rollout, jitted once: (state, opponent int32[G]) -> (state, Transition, sums)."""
    return jax.jit(functools.partial(rollout.rollout, tiny))
