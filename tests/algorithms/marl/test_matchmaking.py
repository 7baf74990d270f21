"""`algorithms.marl.matchmaking`: who plays whom, checked by hand on a tiny plan (no learner built).

identical_2_vs_2 (agents 0, 1 team A; 2, 3 team B), 8 environments in 4 groups of 2: group 0 plays
itself, group 1 draws from the whole pool, groups 2 and 3 draw scripted opponents only. With a
pool of 2 slots, opponents 0 and 1 are snapshots, 2 is chaser and 3 is circler.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algorithms.marl import opponent_pool
from algorithms.marl.config import TrainConfig
from algorithms.marl.learner import make_learner
from algorithms.marl.matchmaking import CATEGORIES, SELF, make_matchmaking
from tests.algorithms.marl.conftest import TINY

PLAN = TrainConfig(scenario="identical_2_vs_2_fobs_vec_void_disc", num_envs=8, opponent_groups=4,
                   self_play_fraction=0.25, scripted_fraction=0.5, scripted_opponents=("chaser", "circler"),
                   pool_size=2, snapshot_every=2)
ACTOR = {"w": jnp.zeros((2, 3), jnp.float32)}  # any pytree of actor params


@pytest.fixture(scope="module")
def match():
    return make_matchmaking(PLAN, PLAN.make_env())


def full_pool(match):
    pool, _ = match.init(ACTOR)
    for update in (1, 2):
        pool = opponent_pool.add(pool, jax.tree_util.tree_map(lambda a: a + update, ACTOR), jnp.int32(update))
    return pool


def test_the_static_plan(match):
    assert (match.groups, match.self_play_groups, match.scripted_groups) == (4, 1, 2)
    np.testing.assert_array_equal(match.group, [0, 0, 1, 1, 2, 2, 3, 3])
    np.testing.assert_array_equal(match.side, [0, 1, 0, 1, 0, 1, 0, 1])  # the learner alternates sides
    assert (match.self_play_envs, match.opponent_envs) == (2, 6)
    assert match.scripted == ("chaser", "circler") and match.pool_size == 2


def test_init_is_an_empty_pool_and_self_play_everywhere(match):
    pool, opponent = match.init(ACTOR)
    np.testing.assert_array_equal(opponent, [SELF] * 4)
    assert opponent.dtype == jnp.int32
    assert opponent_pool.size(pool) == 2 and not bool(pool.valid.any())
    assert pool.score.shape == (2 + 2,)  # two slots, two scripted opponents


def test_learner_mask_by_hand(match):
    opponent = jnp.array([SELF, 0, 2, 3], jnp.int32)
    mask = np.asarray(match.learner_mask(opponent))
    a, b, both = [True, True, False, False], [False, False, True, True], [True] * 4
    np.testing.assert_array_equal(mask, [both, both, a, b, a, b, a, b])
    # Every group against itself: every agent of every environment is the learner's.
    assert np.asarray(match.learner_mask(jnp.full(4, SELF, jnp.int32))).all()


def test_category_by_hand(match):
    opponent = jnp.array([SELF, 1, 2, 3], jnp.int32)
    category = np.asarray(match.category(opponent, 2))
    names = [CATEGORIES[c] for c in category]
    assert names == ["self", "self", "pool", "pool", "chaser", "chaser", "circler", "circler"]
    # The mixed group may meet a scripted opponent too; it is named by its policy, not by its index.
    category = np.asarray(match.category(jnp.array([SELF, 3, 2, 2], jnp.int32), 2))
    assert [CATEGORIES[c] for c in category][2:4] == ["circler", "circler"]


def test_draw_puts_self_in_the_self_play_groups_and_scripted_in_the_scripted_groups(match):
    pool = full_pool(match)
    keys = jax.random.split(jax.random.PRNGKey(0), 200)
    draws = np.asarray(jax.jit(jax.vmap(match.draw, in_axes=(0, None)))(keys, pool))
    assert draws.shape == (200, 4) and draws.dtype == np.int32
    assert (draws[:, 0] == SELF).all()
    assert np.isin(draws[:, 2:], [2, 3]).all()  # chaser or circler, never a snapshot
    assert set(np.unique(draws[:, 2:])) == {2, 3}
    assert np.isin(draws[:, 1], [0, 1, 2, 3]).all()
    assert (draws[:, 1] < 2).any()  # the mixed group also meets snapshots


def test_draw_with_an_empty_pool_still_fills_the_scripted_groups(match):
    pool, _ = match.init(ACTOR)
    draws = np.stack([np.asarray(match.draw(k, pool)) for k in jax.random.split(jax.random.PRNGKey(1), 20)])
    assert (draws[:, 0] == SELF).all()
    assert np.isin(draws[:, 1:], [2, 3]).all()  # no snapshot yet: the mixed group meets scripted ones


def test_update_records_results_and_snapshots_every_n_updates(match):
    pool, _ = match.init(ACTOR)
    opponent = jnp.array([SELF, 2, 2, 3], jnp.int32)
    score, games = jnp.array([1.0, 2.0, 1.0, 0.0]), jnp.array([2.0, 2.0, 2.0, 2.0])
    pool = match.update(pool, opponent, score, games, ACTOR, jnp.int32(1))
    assert not bool(pool.valid.any())  # update 1: snapshot_every=2, nobody joins
    assert float(pool.games[2]) == pytest.approx(4.0) and float(pool.score[2]) == pytest.approx(3.0)
    assert float(pool.games[3]) == pytest.approx(2.0) and float(pool.score[3]) == pytest.approx(0.0)
    pool = match.update(pool, opponent, score, games, jax.tree_util.tree_map(lambda a: a + 7, ACTOR), jnp.int32(2))
    np.testing.assert_array_equal(pool.valid, [True, False])
    np.testing.assert_array_equal(pool.params["w"][0], 7.0)
    assert int(pool.added[0]) == 2


@pytest.mark.parametrize("change, message", [
    (dict(opponent_sampling="best"), "unknown opponent_sampling 'best'"),
    (dict(scripted_opponents=("chaser", "sniper")), "unknown scripted opponent 'sniper'"),
    (dict(scripted_opponents=("chaser", "chaser")), "scripted_opponents has duplicates"),
    (dict(scripted_fraction=1.0), r"take 1 \+ 4 of the 4 opponent_groups"),
    (dict(scripted_opponents=()), "needs scripted_opponents"),
    (dict(num_envs=10), r"num_envs \(10\) must be divisible by opponent_groups \(4\)"),
    (dict(num_envs=12), "even number of environments"),  # 3 a group
])
def test_bad_plans_are_rejected_when_built(change, message):
    cfg = PLAN.replace(**change)
    with pytest.raises(ValueError, match=message):
        make_matchmaking(cfg, cfg.make_env())


def test_scripted_groups_meet_only_scripted_opponents():
    cfg = TINY.replace(opponent_groups=4, self_play_fraction=0.25, scripted_fraction=0.5, minibatches=4,
                       scripted_opponents=("random", "chaser"))
    learner = make_learner(cfg)
    pool = learner.init(jax.random.PRNGKey(0)).pool
    actor = learner.ac.init(jax.random.PRNGKey(1))["actor"]
    pool = opponent_pool.add(opponent_pool.add(pool, actor, jnp.int32(1)), actor, jnp.int32(2))  # a full pool of 2
    draws = np.stack([np.asarray(learner.match.draw(k, pool)) for k in jax.random.split(jax.random.PRNGKey(2), 64)])
    assert (draws[:, 0] == opponent_pool.SELF).all()
    assert (draws[:, 2:] >= cfg.pool_size).all()  # the last two groups: random or chaser only
    assert (draws[:, 1] < cfg.pool_size).any()  # the pool group also meets snapshots
