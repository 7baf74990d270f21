"""The exact level of the preference game against docs/PREFERENCE.md's ground truth (testbed a)."""

from __future__ import annotations

import numpy as np
import pytest

from algorithms import ratings
from algorithms.preference import (
    BIASED_RPS,
    dpo_optimum,
    exploitability,
    ipo_optimum,
    kl_regularised_nash,
    tabular_selfplay,
)
from algorithms.preference.tabular import TABULAR_ALGORITHMS

# Every run below uses steps=2000 (one compilation per algorithm) except SPPO's T = 1e3 / 1e4.
NASH = np.array([0.25, 0.5, 0.25])
PI_STAR = np.array([0.3255, 0.4588, 0.2157])  # π*_τ, τ = 0.1 (docs/PREFERENCE.md)
STRENGTHS = np.array([1.0, 0.5, 0.0, -0.5, -1.0])
TRANSITIVE = 1.0 / (1.0 + np.exp(-(STRENGTHS[:, None] - STRENGTHS[None, :])))


def kl(p, q):
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    return float(np.sum(p * np.log(p / q)))


def test_ground_truth_of_the_testbed():
    strategy, value = ratings.nash(BIASED_RPS, symmetric=True)
    np.testing.assert_allclose(strategy, NASH, atol=1e-6)
    assert value == pytest.approx(0.5)
    assert exploitability(BIASED_RPS, [1.0, 0.0, 0.0]) == pytest.approx(0.25)
    assert exploitability(BIASED_RPS, np.ones(3) / 3) == pytest.approx(1 / 12)
    assert exploitability is ratings.exploitability  # re-exported, same semantics
    np.testing.assert_allclose(kl_regularised_nash(BIASED_RPS, tau=0.1), PI_STAR, atol=1e-4)
    assert exploitability(BIASED_RPS, kl_regularised_nash(BIASED_RPS)) == pytest.approx(0.0275, abs=1e-4)
    np.testing.assert_allclose(kl_regularised_nash(TRANSITIVE), [0.687, 0.207, 0.068, 0.026, 0.013], atol=1e-3)


def test_sppo_average_converges_last_iterate_does_not():
    run = tabular_selfplay("sppo", BIASED_RPS, None, steps=1000, eta=0.1)
    assert run.history.shape == (1001, 3) and run.last.shape == run.average.shape == (3,)
    np.testing.assert_allclose(run.history[0], np.ones(3) / 3, atol=1e-7)
    avg = exploitability(BIASED_RPS, run.average)
    assert avg == pytest.approx(0.0058, abs=3e-4)  # docs/PREFERENCE.md#measured-figures (0.0058)
    # multiplicative weights cycles outward: the last iterate is worse than uniform (1/12) and worsens
    assert exploitability(BIASED_RPS, run.last) == pytest.approx(0.092, abs=1e-3)  # docs/PREFERENCE.md
    assert not run.converged and run.residual > 0.05
    longer = tabular_selfplay("sppo", BIASED_RPS, None, steps=10_000, eta=0.1)
    assert exploitability(BIASED_RPS, longer.average) == pytest.approx(0.0008, abs=3e-4)
    assert exploitability(BIASED_RPS, longer.last) == pytest.approx(0.223, abs=1e-3)  # diverging
    # (test_closed_forms.py reproduces these with an independent float64 multiplicative-weights loop)


def test_inpo_last_iterate_is_the_regularised_nash():
    run = tabular_selfplay("inpo", BIASED_RPS, None, steps=2000, eta=1.0, tau=0.1)
    star = kl_regularised_nash(BIASED_RPS, tau=0.1)
    assert kl(star, run.last) < 1e-6
    assert run.converged and run.residual < 1e-5
    assert exploitability(BIASED_RPS, run.last) == pytest.approx(0.0275, abs=1e-4)  # π*_τ's (uniform: 0.083)


def test_nash_md_last_iterate():
    run = tabular_selfplay("nash_md", BIASED_RPS, None, steps=2000, eta=0.1, tau=0.1)
    assert run.converged
    assert kl(kl_regularised_nash(BIASED_RPS), run.last) < 1e-4  # O(η) bias of constant steps
    assert exploitability(BIASED_RPS, run.last) == pytest.approx(0.0275, abs=1e-3)  # π*_τ's (uniform: 0.083)


def test_dpo_and_ipo_reach_their_closed_forms():
    dpo = tabular_selfplay("dpo", BIASED_RPS, None, steps=2000, beta=0.1)
    np.testing.assert_allclose(dpo.last, dpo_optimum(BIASED_RPS, beta=0.1), atol=1e-3)
    np.testing.assert_allclose(dpo.last, [0.968, 0.031, 0.001], atol=1e-3)
    assert exploitability(BIASED_RPS, dpo.last) > 0.2
    assert exploitability(BIASED_RPS, dpo.last) == pytest.approx(0.242, abs=1e-3)
    ipo = tabular_selfplay("ipo", BIASED_RPS, None, steps=2000, tau=0.1)
    np.testing.assert_allclose(ipo.last, ipo_optimum(BIASED_RPS, tau=0.1), atol=1e-3)
    np.testing.assert_allclose(ipo.last, [0.616, 0.268, 0.116], atol=1e-3)
    assert exploitability(BIASED_RPS, ipo.last) == pytest.approx(0.125, abs=1e-3)


def test_dpo_optimum_follows_its_data():
    data = np.array([0.6, 0.3, 0.1])
    run = tabular_selfplay("dpo", BIASED_RPS, None, steps=2000, beta=0.5, data=data)
    np.testing.assert_allclose(run.last, dpo_optimum(BIASED_RPS, data=data, beta=0.5), atol=1e-3)
    run = tabular_selfplay("ipo", BIASED_RPS, None, steps=2000, tau=0.5, data=data)
    np.testing.assert_allclose(run.last, ipo_optimum(BIASED_RPS, data=data, tau=0.5), atol=1e-3)


@pytest.mark.parametrize("algorithm", TABULAR_ALGORITHMS)
def test_every_method_ranks_a_transitive_game(algorithm):
    run = tabular_selfplay(algorithm, TRANSITIVE, None, steps=2000)
    answer = np.asarray(run.average if algorithm == "sppo" else run.log_last, np.float64)
    # strictly decreasing by a margin (argsort alone passes for the uniform start, whose ties sort in order)
    assert np.all(np.diff(answer) < -1e-3), answer
    if algorithm in ("inpo", "nash_md"):
        np.testing.assert_allclose(run.last, [0.687, 0.207, 0.068, 0.026, 0.013], atol=2e-3)
    elif algorithm == "dpo":  # exact BT data: r_BT = strengths, so log π = 10·s − logsumexp(10·s) (β = 0.1)
        np.testing.assert_allclose(answer, 10 * STRENGTHS - np.log(np.sum(np.exp(10 * STRENGTHS))), atol=2e-3)
    elif algorithm == "ipo":  # log π = P(y ≻ uniform)/τ − logsumexp(·), τ = 0.1
        logits = TRANSITIVE.mean(1) / 0.1
        np.testing.assert_allclose(answer, logits - np.log(np.sum(np.exp(logits))), atol=2e-3)
    else:  # SPPO's average heads for the pure Nash, the top response (uniform: 0.2)
        assert answer[0] > 0.95


@pytest.mark.parametrize("algorithm", TABULAR_ALGORITHMS)
def test_symmetric_rps_stays_uniform(algorithm):
    rps = 0.5 + np.array([[0, -1, 1], [1, 0, -1], [-1, 1, 0]]) / 4
    run = tabular_selfplay(algorithm, rps, None, steps=2000)
    np.testing.assert_allclose(run.last, np.ones(3) / 3, atol=1e-4)  # Adam noise in float32 for DPO, IPO


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        (("sppo", [[0.5]]), {}, "needs K >= 2 responses, got K = 1"),
        (("sppo", [[0.5, 0.7], [0.7, 0.5]]), {}, r"not antisymmetric: P\[0, 1\] \+ P\[1, 0\] = 1.4"),
        (("sppo", [[0.5, 1.5], [-0.5, 0.5]]), {}, r"preference\[0, 1\] = 1.5 is not a probability"),
        (("sppo", np.ones((2, 3)) / 2), {}, "must be a square matrix"),
        (("adam", BIASED_RPS), {}, "unknown algorithm 'adam'; allowed: sppo, nash_md, inpo, dpo, ipo"),
        (("sppo", BIASED_RPS), {"beta": 0.1}, r"unknown hyper-parameter\(s\) \['beta'\] for 'sppo'"),
        (("inpo", BIASED_RPS), {"eta": 0.05, "tau": 0.1}, "inpo needs tau < eta"),
        (("sppo", BIASED_RPS), {"eta": -1.0}, "eta must be a finite number > 0"),
        (("sppo", BIASED_RPS, [0.5, 0.5]), {}, r"reference must have shape \(3,\)"),
        (("sppo", BIASED_RPS, [1.0, 0.0, 0.0]), {}, "every entry > 0"),
        (("sppo", BIASED_RPS, None, 0), {}, "steps must be an int >= 1"),
        (("sppo", BIASED_RPS), {"data": [0.6, 0.3, 0.1]}, "data .* is taken only by dpo and ipo; 'sppo'"),
        (("inpo", BIASED_RPS), {"data": [0.6, 0.3, 0.1]}, "data .* is taken only by dpo and ipo; 'inpo'"),
        (("nash_md", BIASED_RPS), {"data": [0.6, 0.3, 0.1]}, "data .* is taken only by dpo and ipo; 'nash_md'"),
        (("dpo", BIASED_RPS), {"data": [0.6, 0.3]}, r"data must have shape \(3,\)"),
    ],
)
def test_bad_input(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        tabular_selfplay(*args, **kwargs)
