"""The shared game (`algorithms.evaluation.game`): matrix games and battles between parameterised
policies.

Compilation dominates on a small CPU machine: one BattleGame per process (the session fixtures) and
few distinct batch sizes (each n compiles once). Outcomes are random but the keys are fixed, so every
number below is reproducible; the statistical claims are checked with 95 % Wilson intervals.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gigastep_jax as gj
from algorithms.evaluation import game as G
from algorithms.evaluation import scripted as S
from algorithms.ratings import wilson_interval
from tests.algorithms.evaluation.conftest import BATTLE as NAME
from tests.algorithms.evaluation.conftest import RPS

N = 64  # battles per test pair; one compile of the rollout for this size


@pytest.fixture(scope="module")
def battle(env):
    return G.BattleGame(env, S.scripted_apply)


def interval(outcomes) -> tuple[float, float]:
    outcomes = np.asarray(outcomes)
    return wilson_interval(float(outcomes.sum()), outcomes.size)


def test_matrix_game_play_is_bernoulli_of_the_cell():
    game = G.MatrixGame([[0.5, 0.8], [0.2, 0.5]])
    out = np.asarray(game.play(jax.random.PRNGKey(0), 0, 1, 4000))
    assert out.dtype == np.float32 and out.shape == (4000,)
    assert set(np.unique(out)) <= {0.0, 1.0}
    lo, hi = interval(out)
    assert lo <= 0.8 <= hi and hi - lo < 0.05
    # RPS: pure wins and losses are certain.
    rps = G.MatrixGame(RPS)
    assert np.asarray(rps.play(jax.random.PRNGKey(1), 1, 0, 50)).min() == 1.0
    assert np.asarray(rps.play(jax.random.PRNGKey(1), 0, 1, 50)).max() == 0.0


def test_matrix_game_play_matrix_and_pairs_are_play_with_pair_keys():
    game = G.MatrixGame(RPS + np.array([[0, 0.1, -0.2], [-0.1, 0, 0.3], [0.2, -0.3, 0]]))
    key = jax.random.PRNGKey(3)
    pop = game.population()
    m = np.asarray(game.play_matrix(key, pop, pop, 32))
    assert m.shape == (3, 3, 32)
    pairs = np.asarray(game.play_pairs(key, pop, [1, 2, 2], [0, 0, 1], 32))
    for i in range(3):
        for j in range(3):
            np.testing.assert_array_equal(m[i, j], np.asarray(game.play(G.pair_key(key, i, j), i, j, 32)))
    np.testing.assert_array_equal(pairs, m[[1, 2, 2], [0, 0, 1]])


def test_matrix_game_rejects_bad_input():
    with pytest.raises(ValueError):
        G.MatrixGame([[0.5, 0.9], [0.9, 0.5]])  # not constant-sum
    game = G.MatrixGame(RPS)
    with pytest.raises(ValueError, match="out of range"):
        game.play_matrix(jax.random.PRNGKey(0), jnp.arange(4), jnp.arange(3), 2)
    with pytest.raises(ValueError, match="n must be an int >= 1"):
        game.play(jax.random.PRNGKey(0), 0, 1, 0)


def test_policy_against_itself_is_even(battle, scripted):
    params, _ = scripted
    chaser = G.member(params, 1)
    r = battle.rollout(jax.random.PRNGKey(10), chaser, chaser, N)
    assert r["over"].all()  # every battle played to its end
    lo, hi = interval(r["outcome"])
    assert lo < 0.5 < hi, (r["outcome"].mean(), lo, hi)


def test_chaser_beats_random(battle, scripted):
    params, _ = scripted
    r = battle.rollout(jax.random.PRNGKey(11), G.member(params, 1), G.member(params, 0), N)
    rate = float(r["outcome"].mean())
    lo, hi = interval(r["outcome"])
    print(f"chaser vs random, {NAME}, {N} battles: {rate:.3f} [{lo:.3f}, {hi:.3f}]")
    assert lo > 0.5 and rate > 0.8
    # The outcome is the chaser's: 1 exactly where the winner is the chaser's side.
    np.testing.assert_array_equal(r["outcome"] == 1.0, r["winner"] == r["side_a"])
    np.testing.assert_array_equal(r["outcome"] == 0.5, r["winner"] == -1)
    # Early exit: the batch stopped when its last battle ended (well before the 500-step limit).
    assert r["steps"] == r["length"].max() < 500


def test_sides_alternate(battle, scripted):
    params, _ = scripted
    chaser = G.member(params, 1)
    r = battle.rollout(jax.random.PRNGKey(12), chaser, chaser, N)
    np.testing.assert_array_equal(r["side_a"], np.arange(N) % 2)  # a is team A in even games, B in odd


def test_side_biased_game_cancels(env):
    """Team A always plays circler and team B random, whatever the params: team A wins ~97 %.
    With a == b, a wins on side A and loses on side B, so a's mean is ½ only if sides alternate."""

    def biased(params, key, env, state):
        return jnp.where(env.teams == 0, gj.policies.circler(key, env, state), gj.policies.random(key, env, state))

    game = G.BattleGame(env, biased)
    p = jnp.float32(0.0)
    r = game.rollout(jax.random.PRNGKey(13), p, p, N)
    assert (r["winner"] == 0).mean() > 0.8  # the bias is real: team A wins
    a_first, a_second = r["outcome"][r["side_a"] == 0], r["outcome"][r["side_a"] == 1]
    assert a_first.size == a_second.size == N // 2
    assert a_first.mean() > 0.8 and a_second.mean() < 0.2
    assert abs(r["outcome"].mean() - 0.5) < 0.1


def test_early_exit_and_fixed_scan_agree(env, scripted):
    params, _ = scripted
    a, b = G.member(params, 1), G.member(params, 2)
    key = jax.random.PRNGKey(14)
    fast = G.BattleGame(env, S.scripted_apply, max_steps=120).rollout(key, a, b, 8)
    fixed = G.BattleGame(env, S.scripted_apply, max_steps=120, early_exit=False).rollout(key, a, b, 8)
    assert fixed["steps"] == 120 and fast["steps"] <= 120
    for k in ("outcome", "winner", "length", "over"):
        np.testing.assert_array_equal(fast[k], fixed[k])
    # An episode cut by max_steps before its end counts as a draw for both.
    np.testing.assert_array_equal(fast["outcome"][~fast["over"]], 0.5)


def test_queued_games_are_the_games_played_at_once(env, scripted):
    """A cell's games queued for fewer slots (a finished slot takes the next game) are exactly the
    games played all at once: each keeps its key and its own step count."""
    params, _ = scripted
    game = G.BattleGame(env, S.scripted_apply, max_steps=120)
    a, b = G.member(params, 1), G.member(params, 2)
    key = jax.random.PRNGKey(16)
    together = game.rollout(key, a, b, 8)
    queued = {k: np.asarray(v) for k, v in jax.jit(game._queued_impl, static_argnums=(3, 4))(key, a, b, 8, 3).items()}
    for k in ("outcome", "winner", "length", "over"):
        np.testing.assert_array_equal(queued[k], together[k], err_msg=k)
    assert len(set(together["length"].tolist())) > 1  # games of several lengths, so slots were refilled
    assert queued["steps"] >= -(-together["length"].sum() // 3)  # 3 slots cannot do more than 3 games a step
    assert game._slots(cells=144, n=64) == 15 and game._slots(cells=3, n=8) == 8


def test_play_matrix_is_play_per_pair(battle, scripted):
    params, names = scripted
    key = jax.random.PRNGKey(15)
    n = 16
    m = np.asarray(battle.play_matrix(key, params, params, n))
    assert m.shape == (3, 3, n) and m.dtype == np.float32
    assert set(np.unique(m)) <= {0.0, 0.5, 1.0}
    for i, j in [(1, 0), (0, 1), (2, 2)]:
        single = battle.rollout(G.pair_key(key, i, j), G.member(params, i), G.member(params, j), n)["outcome"]
        # Same games (same keys); vmapped float arithmetic may differ in the last bit, so allow a
        # rare diverging battle.
        assert (m[i, j] == single).mean() >= 0.9, (i, j, m[i, j], single)
    rate = m.mean(-1)
    # Roughly constant-sum: chaser (1) beats random (0) from both sides of the matrix (16 games a
    # cell: measured 0.94 and 0.28 with Gigastep's spawn boxes).
    assert rate[1, 0] > 0.75 and rate[0, 1] < 0.4
    assert abs(rate[1, 0] + rate[0, 1] - 1) < 0.25
    pairs = np.asarray(battle.play_pairs(key, params, [1, 2], [0, 0], n))
    assert (pairs == m[[1, 2], [0, 0]]).mean() >= 0.9


def test_no_recompile_for_a_new_key(battle, scripted):
    params, _ = scripted
    a, b = G.member(params, 1), G.member(params, 0)
    battle.play(jax.random.PRNGKey(0), a, b, 4)
    before = battle._play._cache_size()
    battle.play(jax.random.PRNGKey(1), G.member(params, 2), b, 4)
    assert battle._play._cache_size() == before


def test_population_errors(battle, scripted):
    params, _ = scripted
    bad = dict(params, epsilon=jnp.zeros(2, jnp.float32))  # 3 kinds but 2 epsilons
    with pytest.raises(ValueError, match=r"mismatched population.*\['epsilon'\]: 2"):
        battle.play_matrix(jax.random.PRNGKey(0), bad, bad, 2)
    with pytest.raises(ValueError, match="mismatched parameter trees"):
        battle.play_matrix(jax.random.PRNGKey(0), params, {"kind": params["kind"]}, 2)
    with pytest.raises(ValueError, match="empty population"):
        G.population_size({})
    with pytest.raises(ValueError, match="empty population"):
        G.population_size(jnp.zeros((0, 3)))
    with pytest.raises(ValueError, match="scalar"):
        G.population_size({"w": jnp.zeros(3), "b": jnp.float32(0)})
    with pytest.raises(ValueError, match="mismatched parameter trees"):
        G.stack([{"w": jnp.zeros(3)}, {"w": jnp.zeros(3), "b": jnp.zeros(1)}])
    with pytest.raises(ValueError, match="mismatched parameter trees"):
        G.stack([{"w": jnp.zeros(3)}, {"w": jnp.zeros(4)}])
    with pytest.raises(ValueError, match="max_steps"):
        G.BattleGame(battle.env, S.scripted_apply, max_steps=0)
