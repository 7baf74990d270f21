"""Bradley-Terry strengths and Elo-scale scores (`algorithms.evaluation.bradley_terry`), against a
direct scipy minimisation of the likelihood."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
import scipy.stats

from algorithms import ratings
from tests.algorithms.evaluation.conftest import sigmoid, simulate_wins


LOG_STRENGTH = np.linspace(-2.0, 2.0, 12)


@pytest.fixture(scope="module")
def simulated_wins():
    return simulate_wins(np.random.default_rng(0), LOG_STRENGTH, 200)


def bt_negative_log_likelihood(theta: np.ndarray, wins: np.ndarray, prior: float):
    """−log L(θ) with the virtual opponent (θ = 0, prior/2 wins each way), its gradient and Hessian.

    With prior = 0 the likelihood is flat along θ + c; the term ½(Σθ)² pins the mean at 0 without
    moving the optimum's differences.
    """
    diff = theta[:, None] - theta[None, :]
    p = sigmoid(diff)  # P(i beats j)
    games = wins + wins.T
    flat = 0.0 if prior else 1.0
    value = np.sum(wins * np.logaddexp(0.0, -diff)) + 0.5 * prior * np.sum(
        np.logaddexp(0.0, -theta) + np.logaddexp(0.0, theta)) + 0.5 * flat * theta.sum() ** 2
    grad = np.sum(games * p, axis=1) - wins.sum(axis=1)
    grad += 0.5 * prior * (2 * sigmoid(theta) - 1) + flat * theta.sum()
    curvature = games * p * (1 - p)
    hess = np.diag(curvature.sum(axis=1) + prior * sigmoid(theta) * (1 - sigmoid(theta))) - curvature
    return value, grad, hess + flat


@pytest.mark.parametrize("prior", [0.0, 1.0])
def test_newman_agrees_with_direct_likelihood_maximisation(simulated_wins, prior):
    fit = ratings.fit_bradley_terry(simulated_wins, prior=prior)
    assert fit.converged
    objective = lambda theta: bt_negative_log_likelihood(theta, simulated_wins, prior)[:2]  # noqa: E731
    hessian = lambda theta: bt_negative_log_likelihood(theta, simulated_wins, prior)[2]  # noqa: E731
    res = scipy.optimize.minimize(objective, np.zeros(12), jac=True, hess=hessian, method="trust-exact",
                                  options=dict(gtol=1e-8))
    assert res.success, res.message
    # Compare log-strengths normalised to mean 0 (the output is normalised to geometric mean 1).
    theta = res.x - res.x.mean()
    np.testing.assert_allclose(np.log(fit.strengths), theta, atol=1e-6)
    assert np.log(fit.strengths).mean() == pytest.approx(0.0, abs=1e-12)
    # Newman's fixed point is a stationary point of the same objective.
    mle = np.log(fit.strengths) + (0.0 if prior == 0 else res.x.mean())
    assert np.max(np.abs(objective(mle)[1])) < 1e-6


def test_newman_needs_fewer_sweeps_than_zermelo(simulated_wins):
    newman = ratings.fit_bradley_terry(simulated_wins, method="newman", tol=1e-10)
    zermelo = ratings.fit_bradley_terry(simulated_wins, method="zermelo", tol=1e-10, max_iter=100_000)
    assert newman.converged and zermelo.converged
    np.testing.assert_allclose(newman.strengths, zermelo.strengths, rtol=1e-8)
    # Measured: 22 against 135 sweeps; Newman reports about 8x on his data sets.
    assert 3 * newman.sweeps < zermelo.sweeps, (newman.sweeps, zermelo.sweeps)
    np.testing.assert_allclose(ratings.zermelo_strengths(simulated_wins),
                               ratings.bradley_terry_strengths(simulated_wins), rtol=1e-8)


def test_bradley_terry_recovers_simulated_strengths(simulated_wins):
    scores, intervals = ratings.bradley_terry(simulated_wins, n_bootstrap=200, seed=1)
    truth = 1000.0 + 400.0 * (LOG_STRENGTH - LOG_STRENGTH[0]) / np.log(10.0)  # anchor 0 at 1000
    assert scores[0] == 1000.0 and np.all(intervals[0] == 1000.0)
    assert scipy.stats.spearmanr(scores, truth).statistic >= 0.95
    covered = (intervals[:, 0] <= truth) & (truth <= intervals[:, 1])
    assert covered[1:].mean() >= 0.8, (scores - truth, intervals)
    assert np.all(intervals[:, 0] <= scores) and np.all(scores <= intervals[:, 1])
    # Same seed, same intervals; another seed, other resamples.
    np.testing.assert_array_equal(ratings.bradley_terry(simulated_wins, seed=1)[1], intervals)
    assert not np.array_equal(ratings.bradley_terry(simulated_wins, seed=2)[1], intervals)


def test_bradley_terry_elo_scale_two_policies():
    # Two players, MLE odds = 10 wins / 1 win: 400·log10(10) = 400 points.
    scores, _ = ratings.bradley_terry([[0, 1], [10, 0]], prior=0.0, n_bootstrap=0)
    np.testing.assert_allclose(scores, [1000.0, 1400.0], atol=1e-6)
    scores, _ = ratings.bradley_terry([[0, 1], [10, 0]], prior=0.0, n_bootstrap=0, anchor=1, base_rating=0.0,
                                      scale=1.0)
    np.testing.assert_allclose(scores, [-1.0, 0.0], atol=1e-9)


def test_bradley_terry_unbeaten_and_winless_policies_stay_finite():
    wins = np.array([[0, 5, 5], [0, 0, 3], [0, 2, 0.0]])  # 0 never loses; nobody ever beats 0
    scores, intervals = ratings.bradley_terry(wins)
    assert np.all(np.isfinite(scores)) and np.all(np.isfinite(intervals))
    assert scores[0] > scores[1] > scores[2]
    with pytest.raises(ValueError, match="prior=0 has no finite maximum likelihood: policy 0 never lost"):
        ratings.bradley_terry_strengths(wins, prior=0.0)
    winless = np.array([[0, 5, 0], [2, 0, 0], [4, 3, 0.0]])  # 2 is unbeaten too, check the other message
    with pytest.raises(ValueError, match="policy 2 never lost"):
        ratings.bradley_terry_strengths(winless, prior=0.0)


def test_bradley_terry_bipartite_comparisons_converge():
    # Policies 0, 1 only ever meet 2, 3 (e.g. two teams): updating every π at once would oscillate.
    wins = np.array([[0, 0, 6, 3], [0, 0, 8, 5], [4, 2, 0, 0], [7, 5, 0, 0.0]])
    for prior in (0.0, 1.0):
        fit = ratings.fit_bradley_terry(wins, prior=prior)
        assert fit.converged and fit.sweeps < 200, fit
        theta = np.log(fit.strengths)
        if prior:  # undo the normalisation: the prior pins the scale
            theta += scipy.optimize.brentq(lambda u: np.sum(np.tanh((u + theta) / 2)), -5, 5)
        assert np.max(np.abs(bt_negative_log_likelihood(theta, wins, prior)[1])) < 1e-7


def test_bradley_terry_prior_zero_bootstrap(simulated_wins):
    scores0, intervals0 = ratings.bradley_terry(simulated_wins, prior=0.0)
    scores1, intervals1 = ratings.bradley_terry(simulated_wins, prior=1.0)
    # One drawn pseudo-game against 2200 real ones per policy moves scores by well under a point.
    np.testing.assert_allclose(scores0, scores1, atol=1.0)
    np.testing.assert_allclose(intervals0, intervals1, atol=3.0)


def test_bradley_terry_warns_when_not_converged(simulated_wins):
    with pytest.warns(RuntimeWarning, match="did not converge in max_iter=2 sweeps"):
        ratings.bradley_terry_strengths(simulated_wins, max_iter=2)


def test_no_games_mean_unbounded_intervals_not_certainty():
    """With no games at all, or for a policy no chain of games links to the anchor, the data say
    nothing: the interval is (-inf, inf), while the anchor's stays [1000, 1000] by definition."""
    _, none = ratings.bradley_terry(np.zeros((3, 3)), n_bootstrap=50)
    np.testing.assert_array_equal(none[0], [1000.0, 1000.0])
    assert np.isneginf(none[1:, 0]).all() and np.isposinf(none[1:, 1]).all()
    wins = np.array([[0.0, 5.0, 0.0], [3.0, 0.0, 0.0], [0.0, 0.0, 0.0]])  # policy 2 never played
    _, intervals = ratings.bradley_terry(wins, n_bootstrap=50)
    assert np.isfinite(intervals[1]).all() and intervals[1, 0] < intervals[1, 1]
    assert np.isneginf(intervals[2, 0]) and np.isposinf(intervals[2, 1])
