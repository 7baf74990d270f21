"""Nash equilibria, exploitability, Bradley-Terry, Elo and Wilson intervals (`algorithms.ratings`).

Expected numbers are hand-computed in comments or come from an independent solver (the column
player's LP, a direct scipy minimisation of the Bradley-Terry likelihood).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
import scipy.stats

from algorithms import ratings

# Win probabilities of rock-paper-scissors (rows R, P, S): win 1, draw ½, loss 0.
RPS = np.array([[0.5, 0.0, 1.0], [1.0, 0.5, 0.0], [0.0, 1.0, 0.5]])
# Biased RPS of PREFERENCE.md testbed (a): P = ½ + A/4.
BIASED_RPS = 0.5 + np.array([[0, -1, 2], [1, 0, -1], [-2, 1, 0]]) / 4.0


def symmetric_random(rng: np.random.Generator, n: int) -> np.ndarray:
    """float64[n, n] random symmetric constant-sum game: upper triangle uniform, P + Pᵀ = 1."""
    upper = np.triu(rng.uniform(size=(n, n)), k=1)
    payoff = upper + np.tril(1.0 - upper.T, k=-1)
    np.fill_diagonal(payoff, 0.5)
    return payoff


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def simulate_wins(rng: np.random.Generator, log_strength: np.ndarray, games_per_pair: int) -> np.ndarray:
    """float64[P, P] win counts of games between every pair, P(i beats j) = σ(θ_i − θ_j)."""
    p = len(log_strength)
    wins = np.zeros((p, p))
    for i in range(p):
        for j in range(i + 1, p):
            won = rng.binomial(games_per_pair, sigmoid(log_strength[i] - log_strength[j]))
            wins[i, j], wins[j, i] = won, games_per_pair - won
    return wins


# ----------------------------------------------------------------------------- Nash, exploitability
def test_rps_nash_is_uniform_with_value_half():
    strategy, value = ratings.nash(RPS, symmetric=True)
    np.testing.assert_allclose(strategy, [1 / 3, 1 / 3, 1 / 3], atol=1e-6)
    assert value == pytest.approx(0.5, abs=1e-9)


def test_rps_exploitability():
    # Against pure R the best response P wins with probability 1: 1 − ½ = ½.
    for pure in np.eye(3):
        assert ratings.exploitability(RPS, pure) == pytest.approx(0.5, abs=1e-12)
    # Against uniform every response scores (1 + ½ + 0)/3 = ½.
    assert ratings.exploitability(RPS, np.ones(3) / 3) == pytest.approx(0.0, abs=1e-12)


def test_biased_rps_nash_and_exploitability():
    strategy, value = ratings.nash(BIASED_RPS, symmetric=True)
    np.testing.assert_allclose(strategy, [0.25, 0.5, 0.25], atol=1e-6)
    assert value == pytest.approx(0.5, abs=1e-9)
    # Pure R: best response P scores P[1, 0] = .75, so .25.
    assert ratings.exploitability(BIASED_RPS, [1, 0, 0]) == pytest.approx(0.25, abs=1e-12)
    # Uniform: row sums (1.75, 1.5, 1.25)/3, best 1.75/3 = 0.58333, minus ½ = 1/12.
    assert ratings.exploitability(BIASED_RPS, np.ones(3) / 3) == pytest.approx(1 / 12, abs=1e-12)
    assert ratings.exploitability(BIASED_RPS, strategy) == pytest.approx(0.0, abs=1e-9)


def test_transitive_game_has_pure_nash_at_the_top():
    # Bradley-Terry game, the strongest policy (strength 1) sits at index 3.
    s = np.array([0.0, -0.5, 0.5, 1.0, -1.0])
    payoff = sigmoid(s[:, None] - s[None, :])
    strategy, value = ratings.nash(payoff, symmetric=True)
    np.testing.assert_allclose(strategy, np.eye(5)[3], atol=1e-6)
    assert value == pytest.approx(0.5, abs=1e-9)
    # Nash average: each policy's win rate against the top one, σ(s_i − 1); ½ for the top itself.
    np.testing.assert_allclose(ratings.nash_average(payoff), sigmoid(s - 1.0), atol=1e-6)


def test_nash_average_of_full_support_equilibrium_is_the_value():
    # Against (¼, ½, ¼): R scores .5·.25 + .25·.5 + 1·.25 = .5, and so do P and S.
    np.testing.assert_allclose(ratings.nash_average(BIASED_RPS), [0.5, 0.5, 0.5], atol=1e-9)
    np.testing.assert_allclose(ratings.nash_average(BIASED_RPS, [1, 0, 0]), [0.5, 0.75, 0.0], atol=1e-12)


@pytest.mark.parametrize("seed", range(50))
def test_lp_value_is_a_minimax_certificate(seed):
    rng = np.random.default_rng(seed)
    rows, cols = rng.integers(2, 13), rng.integers(2, 13)
    n = max(rows, cols)
    payoff = rng.uniform(size=(n, n))
    strategy, value = ratings.nash(payoff)
    # The row strategy guarantees the value against every column ...
    assert np.min(strategy @ payoff) >= value - 1e-9
    assert strategy.min() >= 0 and strategy.sum() == pytest.approx(1.0, abs=1e-12)
    # ... and the column player's own LP (maximin of 1 − Pᵀ) holds the row to that value: max-min =
    # min-max. Its guarantee 1 − max_i (P t)_i is the column's value.
    column, column_value = ratings.nash(1.0 - payoff.T)
    assert np.max(payoff @ column) <= value + 1e-6
    assert 1.0 - column_value == pytest.approx(value, abs=1e-6)


@pytest.mark.parametrize("n", [2, 7, 30])
def test_symmetric_random_game_value_half_and_zero_exploitability(n):
    payoff = symmetric_random(np.random.default_rng(n), n)
    strategy, value = ratings.nash(payoff, symmetric=True)
    assert value == pytest.approx(0.5, abs=1e-7)
    assert ratings.exploitability(payoff, strategy) == pytest.approx(0.0, abs=1e-7)


def test_nash_iterative_general_50_agrees_with_lp_within_gap():
    payoff = np.random.default_rng(3).uniform(size=(50, 50))
    _, lp_value = ratings.nash(payoff)
    gaps = []
    for iters in (100, 1000, 5000):
        strategy, value, gap = ratings.nash_iterative(payoff, iters=iters, tol=0.0)
        assert abs(value - lp_value) <= gap / 2 + 1e-12
        assert np.min(strategy @ payoff) >= value - gap / 2 - 1e-12
        gaps.append(gap)
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 1e-4


def test_nash_iterative_symmetric_200_agrees_with_lp_within_gap():
    payoff = symmetric_random(np.random.default_rng(4), 200)
    strategy_lp, lp_value = ratings.nash(payoff, symmetric=True)
    gaps = []
    for iters in (50, 500, 3000):
        strategy, value, gap = ratings.nash_iterative(payoff, iters=iters, tol=0.0)
        assert abs(value - lp_value) <= gap / 2 + 1e-12
        # In a symmetric game s's exploitability is bounded by the certificate's gap.
        assert ratings.exploitability(payoff, strategy) <= gap + 1e-12
        gaps.append(gap)
    assert gaps[0] > gaps[1] > gaps[2]
    # The equilibrium of a random symmetric game is unique: the average iterate approaches it.
    assert np.abs(strategy - strategy_lp).sum() < 0.05


def test_nash_iterative_stops_at_tol_on_a_large_population():
    payoff = symmetric_random(np.random.default_rng(5), 1024)
    strategy, value, gap = ratings.nash_iterative(payoff, tol=1e-3)
    assert gap < 1e-3
    assert value == pytest.approx(0.5, abs=gap / 2 + 1e-12)
    assert 0.0 <= ratings.exploitability(payoff, strategy) < 1e-3


# ----------------------------------------------------------------------------- Wilson
def test_wilson_hand_computed():
    z2 = 1.959964**2
    # 0 of 10: lo 0, hi = (z²/10)/(1 + z²/10) = 0.277533.
    lo, hi = ratings.wilson_interval(0, 10)
    assert lo == pytest.approx(0.0, abs=1e-15) and hi == pytest.approx((z2 / 10) / (1 + z2 / 10), rel=1e-12)
    # 5 of 10: centre ½, half = z/(1 + z²/10)·sqrt(.025 + z²/400) = 0.263407.
    lo, hi = ratings.wilson_interval(5, 10)
    half = 1.959964 / (1 + z2 / 10) * np.sqrt(0.025 + z2 / 400)
    assert (lo, hi) == (pytest.approx(0.5 - half, rel=1e-12), pytest.approx(0.5 + half, rel=1e-12))
    assert half == pytest.approx(0.263407, abs=1e-6)


def test_wilson_broadcasts_and_handles_no_games_and_draws():
    lo, hi = ratings.wilson_interval(np.array([[0.0, 3.5], [2.0, 0.0]]), np.array([[0, 7], [4, 4]]))
    assert lo.shape == hi.shape == (2, 2)
    assert (lo[0, 0], hi[0, 0]) == (0.0, 1.0)  # nothing played
    # 3.5 of 7 (one draw) is a rate of ½, so the interval is centred on ½.
    assert lo[0, 1] + hi[0, 1] == pytest.approx(1.0, abs=1e-12)
    assert lo[1, 0] < 0.5 < hi[1, 0] and lo[1, 1] == 0.0


def test_wilson_coverage_is_close_to_95_percent():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.95, size=2000)
    wins = rng.binomial(100, p)
    lo, hi = ratings.wilson_interval(wins, 100)
    coverage = np.mean((lo <= p) & (p <= hi))
    assert 0.93 <= coverage <= 0.97, coverage


# ----------------------------------------------------------------------------- Bradley-Terry
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


def test_single_policy_and_no_games():
    assert ratings.nash([[0.5]], symmetric=True) == (pytest.approx([1.0]), 0.5)
    scores, intervals = ratings.bradley_terry([[0.0]])
    assert scores.tolist() == [1000.0] and intervals.tolist() == [[1000.0, 1000.0]]
    r, intervals = ratings.elo(np.zeros((0, 3)), 3, start=1200.0)
    assert r.tolist() == [1200.0] * 3 and intervals.tolist() == [[1200.0, 1200.0]] * 3
    assert ratings.games_from_wins(np.zeros((3, 3))).shape == (0, 3)


def test_bradley_terry_warns_when_not_converged(simulated_wins):
    with pytest.warns(RuntimeWarning, match="did not converge in max_iter=2 sweeps"):
        ratings.bradley_terry_strengths(simulated_wins, max_iter=2)


# ----------------------------------------------------------------------------- Elo
ELO_TRUTH = np.array([1000.0, 1100.0, 1200.0, 1300.0, 1400.0, 1500.0])


@pytest.fixture(scope="module")
def elo_games():
    log_strength = ELO_TRUTH * np.log(10.0) / 400.0
    return ratings.games_from_wins(simulate_wins(np.random.default_rng(1), log_strength, 40))


def test_elo_single_game_by_hand():
    # Both at 1000, expected ½: the winner gains 32·½ = 16, the loser drops 16 (1016 / 984); then
    # the anchor (the winner) is moved to 1000.
    r, intervals = ratings.elo([[1, 0, 1.0]], 2, n_shuffles=1, anchor=1, start=1000.0)
    np.testing.assert_allclose(r, [968.0, 1000.0])
    r, _ = ratings.elo([[1, 0, 0.5]], 2, n_shuffles=1)
    np.testing.assert_allclose(r, [1000.0, 1000.0])


def test_elo_average_over_shuffles_does_not_depend_on_input_order(elo_games):
    permuted = elo_games[np.random.default_rng(7).permutation(len(elo_games))]
    a, _ = ratings.elo(elo_games, 6, n_shuffles=2000)
    b, _ = ratings.elo(permuted, 6, n_shuffles=2000)
    # A single run's rating varies by ~60 points with the order, the mean of 2000 by ~1.5.
    np.testing.assert_allclose(a, b, atol=8.0)
    single_a, _ = ratings.elo(elo_games, 6, n_shuffles=1)
    single_b, _ = ratings.elo(permuted, 6, n_shuffles=1)
    assert np.max(np.abs(single_a - single_b)) > 20.0


def test_elo_ranks_simulated_policies_and_anchors(elo_games):
    r, intervals = ratings.elo(elo_games, 6, start=1200.0, anchor=2)
    assert r[2] == 1200.0 and np.all(intervals[2] == 1200.0)
    assert np.all(np.diff(r) > 0), r
    assert np.all(intervals[:, 0] <= r) and np.all(r <= intervals[:, 1])
    # Shuffle-averaged Elo lands near the truth (shifted to the anchor) and near Bradley-Terry.
    np.testing.assert_allclose(r - r[0], ELO_TRUTH - ELO_TRUTH[0], atol=60.0)


def test_games_from_wins_keeps_scores_and_draws():
    wins = np.array([[0, 2.5, 1], [1.5, 0, 0.5], [3, 3.5, 0.0]])
    games = ratings.games_from_wins(wins)
    # Pair (0, 1): 2 wins, 1 loss, 1 draw; (0, 2): 1 win, 3 losses; (1, 2): 3 losses, 1 draw.
    assert len(games) == 4 + 4 + 4
    for i, j in [(0, 1), (0, 2), (1, 2)]:
        mine = games[(games[:, 0] == i) & (games[:, 1] == j)]
        assert mine[:, 2].sum() == pytest.approx(wins[i, j]) and len(mine) == wins[i, j] + wins[j, i]
    assert np.count_nonzero(games[:, 2] == 0.5) == 2
    draws = np.array([[0, 1, 0], [1, 0, 2], [0, 2, 0]])
    games = ratings.games_from_wins([[0, 2, 0], [1, 0, 0], [0, 0, 0]], draws=draws)
    assert sorted(map(tuple, games)) == sorted([(0, 1, 1.0)] * 2 + [(0, 1, 0.0), (0, 1, 0.5)] + [(1, 2, 0.5)] * 2)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "payoff, pattern",
    [
        (np.full((2, 3), 0.5), r"square 2-D matrix float\[P, P\], got shape \(2, 3\)"),
        (np.full(3, 0.5), r"got shape \(3,\)"),
        (np.zeros((0, 0)), r"empty population"),
        ([[0.5, 1.5], [-0.5, 0.5]], r"payoff\[0, 1\] = 1.5 is outside \[0, 1\]"),
        ([[0.5, np.nan], [0.5, 0.5]], r"payoff\[0, 1\] = nan is not finite"),
    ],
)
def test_bad_payoff(payoff, pattern):
    with pytest.raises(ValueError, match=pattern):
        ratings.nash(payoff)
    with pytest.raises(ValueError, match=pattern):
        ratings.nash_iterative(payoff)


def test_asymmetric_payoff_rejected_when_symmetric():
    payoff = np.array([[0.5, 0.7, 0.5], [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]])
    with pytest.raises(ValueError, match=r"largest violation \|payoff\[0, 1\] \+ payoff\[1, 0\] - 1\| = 0.2"):
        ratings.nash(payoff, symmetric=True)
    ratings.nash(payoff)  # a general matrix game is fine
    with pytest.raises(ValueError, match=r"payoff\[1, 1\] \+ payoff\[1, 1\]"):
        ratings.check_payoff(np.array([[0.5, 0.5], [0.5, 0.6]]), symmetric=True)


@pytest.mark.parametrize(
    "strategy, pattern",
    [
        ([0.5, 0.5], r"strategy must have shape \(3,\).*got shape \(2,\)"),
        ([0.5, 0.4, 0.0], r"strategy must sum to 1.*got sum 0.9"),
        ([1.5, -0.5, 0.0], r"strategy\[1\] = -0.5 is negative"),
        ([np.nan, 0.5, 0.5], r"strategy must be finite"),
    ],
)
def test_bad_strategy(strategy, pattern):
    with pytest.raises(ValueError, match=pattern):
        ratings.exploitability(RPS, strategy)
    with pytest.raises(ValueError, match=pattern):
        ratings.nash_average(RPS, strategy)


@pytest.mark.parametrize(
    "wins, pattern",
    [
        ([[0, 3], [-1, 0]], r"wins\[1, 0\] = -1.0 is negative"),
        ([[0, 3, 1], [1, 0, 2]], r"wins must be a square.*got shape \(2, 3\)"),
        ([[0, np.inf], [1, 0]], r"wins\[0, 1\] = inf is not finite"),
        (np.zeros((0, 0)), r"wins: empty population"),
    ],
)
def test_bad_wins(wins, pattern):
    with pytest.raises(ValueError, match=pattern):
        ratings.bradley_terry(wins)
    with pytest.raises(ValueError, match=pattern):
        ratings.games_from_wins(wins)


@pytest.mark.parametrize(
    "call, pattern",
    [
        (lambda: ratings.elo([[0, 2, 1.0]], 2), r"games\[0, 1\] = 2.0 is not a policy index in \[0, 2\)"),
        (lambda: ratings.elo([[0, 1, 1.5]], 2), r"games\[0, 2\] = 1.5 is not an outcome in \[0, 1\]"),
        (lambda: ratings.elo([[0, 1]], 2), r"games must have shape \[G, 3\]"),
        (lambda: ratings.elo([[0, 1, 1.0]], 2, anchor=2), r"anchor must be a policy index in \[0, 2\), got 2"),
        (lambda: ratings.elo([[0, 1, 1.0]], 2, n_shuffles=0), r"n_shuffles must be an int >= 1, got 0"),
        (lambda: ratings.bradley_terry([[0, 1], [1, 0]], anchor=-1), r"anchor must be a policy index"),
        (lambda: ratings.bradley_terry([[0, 1], [1, 0]], prior=-1.0), r"prior must be a finite number >= 0"),
        (lambda: ratings.fit_bradley_terry([[0, 1], [1, 0]], method="mm"), r"method must be one of"),
        (lambda: ratings.wilson_interval(11, 10), r"successes must lie in \[0, n\], got successes 11.0 with n 10.0"),
        (lambda: ratings.wilson_interval(1, -1), r"n must be >= 0"),
        (lambda: ratings.games_from_wins([[0, 1.5], [1, 0]], draws=[[0, 1], [1, 0]]), r"whole counts"),
        (lambda: ratings.nash_iterative(RPS, iters=0), r"iters must be an int >= 1, got 0"),
    ],
)
def test_bad_arguments(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()
