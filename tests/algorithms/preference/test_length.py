"""The length-controlled win rate: recovery of a known logistic model, length-only and length-blind
judges, an independent scipy fit, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
from scipy.special import expit

from algorithms.preference.length import length_controlled_win_rate


def games(seed: int, n: int, a=(8, 40), b=(1, 25)):
    """Lengths of n games: A's uniform in a, B's in b (inclusive): A writes longer on average."""
    rng = np.random.default_rng(seed)
    return rng, rng.integers(a[0], a[1] + 1, n), rng.integers(b[0], b[1] + 1, n)


@pytest.mark.parametrize("transform", ["tanh", "linear"])
def test_recovers_a_known_model(transform):
    rng, la, lb = games(0, 20000)
    delta = la - lb
    z = delta / delta.std()
    f = np.tanh(z) if transform == "tanh" else z
    theta0, theta1 = 0.4, 1.2
    outcomes = (rng.random(delta.size) < expit(theta0 + theta1 * f)).astype(float)
    report = length_controlled_win_rate(outcomes, la, lb, transform=transform)
    # standard errors at n = 20000 are about 0.02 (θ0) and 0.03 (θ1): 4 of them
    assert report["intercept"] == pytest.approx(theta0, abs=0.08)
    assert report["length_coef"] == pytest.approx(theta1, abs=0.12)
    assert report["lc_win_rate"] == pytest.approx(expit(report["intercept"]), rel=1e-12)
    assert report["win_rate"] == pytest.approx(outcomes.mean()) and report["n"] == 20000
    assert report["length_scale"] == pytest.approx(delta.std())


def test_matches_an_independent_soft_label_fit():
    rng, la, lb = games(1, 500)
    z = np.tanh((la - lb) / (la - lb).std())
    soft = expit(-0.3 + 0.8 * z + rng.normal(0, 0.5, z.size))  # soft targets, not from the model
    x = np.stack([np.ones_like(z), z], 1)

    def nll(theta):
        logit = x @ theta
        return -np.sum(soft * -np.logaddexp(0, -logit) + (1 - soft) * -np.logaddexp(0, logit))

    oracle = scipy.optimize.minimize(nll, np.zeros(2), method="BFGS", options=dict(gtol=1e-10)).x
    report = length_controlled_win_rate(soft, la, lb, ridge=0.0)
    assert report["intercept"] == pytest.approx(oracle[0], abs=1e-5)
    assert report["length_coef"] == pytest.approx(oracle[1], abs=1e-5)


def test_a_policy_that_wins_only_through_length():
    # the judge scores σ(0.1·Δlen) and nothing else; A is longer in most games
    rng, la, lb = games(2, 4000)
    p = expit(0.1 * (la - lb))
    outcomes = (rng.random(p.size) < p).astype(float)
    report = length_controlled_win_rate(outcomes, la, lb)
    assert report["win_rate"] > 0.68 and report["length_coef"] > 1.0
    # tanh is not the judge's linear form; the fit's value at Δ = 0 is still the judge's ½
    assert report["lc_win_rate"] == pytest.approx(0.5, abs=0.03)
    exact = length_controlled_win_rate(p, la, lb, transform="linear")  # the right form, soft labels
    assert exact["lc_win_rate"] == pytest.approx(0.5, abs=1e-4)


def test_a_length_blind_judge():
    rng, la, lb = games(3, 20000)
    outcomes = (rng.random(la.size) < 0.7).astype(float)
    report = length_controlled_win_rate(outcomes, la, lb)
    assert abs(report["length_coef"]) < 0.1
    assert report["lc_win_rate"] == pytest.approx(report["win_rate"], abs=0.015)
    assert report["win_rate"] == pytest.approx(0.7, abs=0.015)


def test_equal_lengths_and_separable_outcomes():
    same = length_controlled_win_rate([1.0, 0.0, 1.0, 0.5], [3, 3, 3, 3], [3, 3, 3, 3])
    assert same["length_coef"] == 0.0 and same["lc_win_rate"] == pytest.approx(0.625, abs=1e-5)
    # A wins exactly when it is longer: the MLE is at infinity; the ridge keeps the fit finite
    _, la, lb = games(4, 400)
    wins = (la > lb).astype(float) + 0.5 * (la == lb)
    report = length_controlled_win_rate(wins, la, lb)
    assert np.isfinite(report["length_coef"]) and report["length_coef"] > 10


@pytest.mark.parametrize(
    "outcomes, len_a, len_b, kwargs, message",
    [
        ([0.5, 1.2], [1, 2], [1, 2], {}, r"outcomes\[1\] = 1.2 is not a score \(allowed: \[0, 1\]\)"),
        ([0.5, 1.0], [1, 2, 3], [1, 2], {}, "len_a has 3 entries, outcomes has 2"),
        ([0.5, 1.0], [1, -2], [1, 2], {}, r"len_a\[1\] = -2 is not a length"),
        ([], [], [], {}, "outcomes must be a non-empty 1-d array"),
        ([0.5, np.nan], [1, 2], [1, 2], {}, "outcomes has non-finite entries"),
        ([0.5, 1.0], [1, 2], [1, 2], dict(transform="log"), "unknown transform 'log'; allowed: tanh, linear"),
    ],
)
def test_bad_input(outcomes, len_a, len_b, kwargs, message):
    with pytest.raises(ValueError, match=message):
        length_controlled_win_rate(outcomes, len_a, len_b, **kwargs)


def test_even_share_flags_an_extrapolated_fit():
    """A always answers 16 tokens, B 1 to 5: no game is near even length, so σ(θ0) is an
    extrapolation (the true length-free win rate here is 0.5; tanh saturates and misses it);
    even_share says so. Where lengths overlap, even_share is large."""
    rng = np.random.default_rng(0)
    len_b = rng.integers(1, 6, 4000).astype(float)
    len_a = np.full(4000, 16.0)
    outcomes = 1 / (1 + np.exp(-0.5 * (len_a - len_b)))
    report = length_controlled_win_rate(outcomes, len_a, len_b)
    assert report["even_share"] == 0.0
    assert length_controlled_win_rate(outcomes, len_a, len_b, transform="linear")["lc_win_rate"] == \
        pytest.approx(0.5, abs=0.02)
    len_c = rng.integers(1, 6, 4000).astype(float)
    overlap = length_controlled_win_rate(np.full(4000, 0.5), len_b, len_c)
    assert overlap["even_share"] == pytest.approx(np.mean(np.abs(len_b - len_c) <= 1.0)) and overlap["even_share"] > 0.4
