"""The exact level against closed forms computed here from first principles (float64 numpy / scipy).

Nothing in this file trusts a number the code produced: fixed points are checked by their defining
equation, reference values come from scipy solvers (not the code's Newton iterations), and the
figures quoted in docs/PREFERENCE.md are asserted against both. Non-uniform references and data are
used wherever the reference term enters an update, so a dropped or sign-flipped ρ term fails.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from algorithms.preference import (
    BIASED_RPS,
    dpo_optimum,
    exploitability,
    ipo_optimum,
    kl_regularised_nash,
)
from algorithms.preference.tabular import inpo_stability, inpo_step, tabular_selfplay

PI_STAR = np.array([0.3255, 0.4588, 0.2157])  # π*_τ, τ = 0.1, uniform ρ (docs/PREFERENCE.md)
RHO = np.array([0.5, 0.2, 0.3])  # a non-uniform reference for the 3-response game
MU = np.array([0.2, 0.5, 0.3])  # non-uniform pair data, different from RHO
RHO5 = np.array([0.4, 0.1, 0.2, 0.25, 0.05])


def random_preference(k: int, seed: int) -> np.ndarray:
    """float64[K, K]: P_ij uniform in (0, 1) above the diagonal, P_ji = 1 − P_ij, ½ on the diagonal."""
    upper = np.triu(np.random.default_rng(seed).uniform(size=(k, k)), 1)
    p = upper + np.tril(1.0 - upper.T, -1)
    np.fill_diagonal(p, 0.5)
    return p


P5 = random_preference(5, seed=3)


def softmax(z):
    e = np.exp(z - np.max(z))
    return e / e.sum()


def fixed_point_residual(p, rho, tau, pi) -> float:
    """‖π − softmax(log ρ + P π / τ)‖∞, the defining equation of π*_τ."""
    pi = np.asarray(pi, np.float64)
    return float(np.abs(pi - softmax(np.log(rho) + p @ pi / tau)).max())


def scipy_regularised_nash(p, rho, tau) -> np.ndarray:
    """π*_τ by MINPACK's hybrid method (scipy.optimize.root) on z = log ρ + P softmax(z)/τ, continued
    from τ = 1 down to τ (each solve starts from the previous one). MINPACK may report "not making
    good progress" once it is at rounding level, so the defining equation is what is checked."""
    z = np.log(rho)
    for t in np.geomspace(1.0, tau, 12) if tau < 1.0 else [tau]:
        sol = scipy.optimize.root(lambda v, t=t: v - np.log(rho) - p @ softmax(v) / t, z, method="hybr", tol=1e-13)
        z = sol.x
    pi = softmax(z)
    assert fixed_point_residual(p, rho, tau, pi) < 1e-12
    return pi


def kl(p, q) -> float:
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    return float(np.sum(p * np.log(p / q)))


# ----------------------------------------------------------------------------- π*_τ
@pytest.mark.parametrize("tau", [0.01, 0.1, 1.0])
@pytest.mark.parametrize("game", ["biased_rps", "random5_nonuniform_ref"])
def test_kl_regularised_nash_solves_its_fixed_point(game, tau):
    p, rho = (BIASED_RPS, np.ones(3) / 3) if game == "biased_rps" else (P5, RHO5)
    pi = kl_regularised_nash(p, None if game == "biased_rps" else rho, tau=tau)
    assert pi.shape == (len(rho),) and abs(pi.sum() - 1.0) < 1e-12
    assert fixed_point_residual(p, rho, tau, pi) < 1e-9
    np.testing.assert_allclose(pi, scipy_regularised_nash(p, rho, tau), atol=1e-9)


def test_regularised_nash_of_the_testbed():
    np.testing.assert_allclose(kl_regularised_nash(BIASED_RPS, tau=0.1), PI_STAR, atol=1e-4)
    # the reference term matters: the non-uniform ρ moves π*_τ far from the uniform-ρ one
    star = kl_regularised_nash(BIASED_RPS, RHO, tau=0.1)
    assert np.abs(star - PI_STAR).max() > 0.05
    np.testing.assert_allclose(star, scipy_regularised_nash(BIASED_RPS, RHO, 0.1), atol=1e-10)


# ----------------------------------------------------------------------------- INPO's step size
INPO_STEP = jax.jit(inpo_step)  # one compilation; eta and tau are traced


def fd_jacobian_of_inpo_step(p, rho, star, eta, tau, h=1e-2) -> np.ndarray:
    """float64[K, K]: central differences of the code's `inpo_step` (float32) in log π at π*_τ."""
    k = len(star)

    def g(v):
        return np.asarray(INPO_STEP(jnp.asarray(np.log(star) + v, jnp.float32), jnp.asarray(p, jnp.float32),
                                    jnp.asarray(np.log(rho), jnp.float32), eta, tau), np.float64)

    return np.stack([(g(h * e) - g(-h * e)) / (2 * h) for e in np.eye(k)], axis=1)


@pytest.mark.parametrize("eta", [0.11, 0.2, 0.3, 1.0])
def test_inpo_stability_matches_a_finite_difference_jacobian(eta):
    tau = 0.1
    star = scipy_regularised_nash(BIASED_RPS, np.ones(3) / 3, tau)
    fixed = np.asarray(INPO_STEP(jnp.asarray(np.log(star), jnp.float32), jnp.asarray(BIASED_RPS, jnp.float32),
                                 jnp.full(3, -np.log(3.0), jnp.float32), eta, tau))
    np.testing.assert_allclose(np.exp(fixed), star, atol=1e-6)  # π*_τ is the map's fixed point
    jac = fd_jacobian_of_inpo_step(BIASED_RPS, np.ones(3) / 3, star, eta, tau)
    eig = np.linalg.eigvals(jac)
    radius = float(np.abs(eig).max())
    stability = inpo_stability(BIASED_RPS, eta=eta, tau=tau)
    assert stability.radius == pytest.approx(radius, abs=2e-4)
    assert (radius >= 1.0) == (eta in (0.11, 0.2))
    # the eigenvalues are 1 − τ/η ± iω/η: read ω off the finite differences, then η_min = (τ² + ω²)/(2τ)
    top = eig[np.argmax(np.abs(eig))]
    assert top.real == pytest.approx(1.0 - tau / eta, abs=2e-3)
    omega = eta * abs(top.imag)
    assert stability.min_stable_eta == pytest.approx((tau ** 2 + omega ** 2) / (2 * tau), abs=2e-3)
    assert 0.2 < stability.min_stable_eta < 0.3


def test_inpo_stability_with_a_nonuniform_reference():
    for eta, tau in [(0.15, 0.1), (1.0, 0.1), (0.5, 0.3)]:
        star = scipy_regularised_nash(BIASED_RPS, RHO, tau)
        radius = np.abs(np.linalg.eigvals(fd_jacobian_of_inpo_step(BIASED_RPS, RHO, star, eta, tau))).max()
        stability = inpo_stability(BIASED_RPS, RHO, eta=eta, tau=tau)
        assert stability.radius == pytest.approx(radius, abs=2e-4)
        np.testing.assert_allclose(stability.fixed_point, star, atol=1e-10)


@pytest.fixture(scope="module")
def inpo_runs():
    """Exact INPO on biased RPS (τ = 0.1, T = 2000) at each step size, with the warnings it raised."""
    runs = {}
    for eta in (0.11, 0.2, 0.3, 1.0):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            runs[eta] = tabular_selfplay("inpo", BIASED_RPS, None, steps=2000, eta=eta, tau=0.1), caught
    return runs


@pytest.mark.parametrize("eta", [0.11, 0.2])
def test_unstable_inpo_is_flagged(inpo_runs, eta):
    run, caught = inpo_runs[eta]
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1, messages
    assert f"eta={eta:g}, tau=0.1" in messages[0] and "smallest stable eta" in messages[0]
    # the radius (cross-checked against finite differences above) and η_min = 0.211 are named
    assert f"spectral radius {inpo_stability(BIASED_RPS, eta=eta, tau=0.1).radius:.4f}" in messages[0]
    assert "0.211" in messages[0]
    assert not run.converged and run.residual > 0.1
    # the iterates really do not settle: the exploitability of the last 50 keeps swinging
    tail = np.asarray(run.history[-50:], np.float64)
    expl = [exploitability(BIASED_RPS, t / t.sum()) for t in tail]
    assert max(expl) - min(expl) > 0.03 and max(expl) > 0.07


@pytest.mark.parametrize("eta", [0.3, 1.0])
def test_stable_inpo_reaches_the_regularised_nash(inpo_runs, eta):
    run, caught = inpo_runs[eta]
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert run.converged and run.residual < 1e-5
    np.testing.assert_allclose(run.last, PI_STAR, atol=1e-3)
    np.testing.assert_allclose(run.last, scipy_regularised_nash(BIASED_RPS, np.ones(3) / 3, 0.1), atol=1e-5)


# ----------------------------------------------------------------------------- non-uniform reference
def test_inpo_and_nash_md_reach_the_regularised_nash_of_a_nonuniform_reference():
    star = scipy_regularised_nash(BIASED_RPS, RHO, 0.1)
    inpo = tabular_selfplay("inpo", BIASED_RPS, RHO, steps=2000, eta=1.0, tau=0.1)
    assert inpo.converged
    np.testing.assert_allclose(inpo.history[0], RHO, atol=1e-7)  # π_0 = ρ
    np.testing.assert_allclose(inpo.last, star, atol=1e-5)
    nash_md = tabular_selfplay("nash_md", BIASED_RPS, RHO, steps=2000, eta=0.1, tau=0.1)
    assert nash_md.converged
    assert kl(star, nash_md.last) < 1e-4  # O(η) bias of a constant step
    np.testing.assert_allclose(nash_md.last, star, atol=3e-3)
    # the reference term matters here: the uniform-ρ answer is 0.07 away
    assert np.abs(np.asarray(nash_md.last) - PI_STAR).max() > 0.05


def bradley_terry_fit(p, mu) -> np.ndarray:
    """float64[K]: argmax_r Σ_ij μ_i μ_j P_ij log σ(r_i − r_j), r_0 = 0 (scipy BFGS on the concave
    log-likelihood), the reward DPO's population optimum exponentiates."""
    w = mu[:, None] * mu[None, :] * p
    np.fill_diagonal(w, 0.0)

    def nll(x):
        r = np.concatenate([[0.0], x])
        h = r[:, None] - r[None, :]
        value = np.sum(w * np.logaddexp(0.0, -h))
        g = w * -1.0 / (1.0 + np.exp(h))  # d/dh of log(1 + e^{−h})
        return value, (g.sum(1) - g.sum(0))[1:]

    res = scipy.optimize.minimize(nll, np.zeros(len(mu) - 1), jac=True, method="BFGS", options={"gtol": 1e-12})
    assert np.abs(res.jac).max() < 1e-8
    return np.concatenate([[0.0], res.x])


def ipo_least_squares(p, rho, mu, tau) -> np.ndarray:
    """float64[K]: argmin_π Σ_ij μ_i μ_j P_ij (h_ij − 1/(2τ))², h_ij = r_i − r_j, r = log π/ρ, as the
    linear least-squares problem in r it is (numpy lstsq; r is fixed up to a constant)."""
    k = len(rho)
    rows, rhs, weights = [], [], []
    for i in range(k):
        for j in range(k):
            row = np.zeros(k)
            row[i] += 1.0
            row[j] -= 1.0
            rows.append(row), rhs.append(1.0 / (2 * tau)), weights.append(mu[i] * mu[j] * p[i, j])
    sw = np.sqrt(np.array(weights))[:, None]
    r = np.linalg.lstsq(sw * np.array(rows), sw[:, 0] * np.array(rhs), rcond=None)[0]
    return softmax(np.log(rho) + r)


@pytest.mark.parametrize("strength", [0.1, 0.5])  # β for DPO, τ for IPO
def test_dpo_and_ipo_optima_with_nonuniform_reference_and_data(strength):
    dpo_closed = softmax(np.log(RHO) + bradley_terry_fit(BIASED_RPS, MU) / strength)
    ipo_closed = ipo_least_squares(BIASED_RPS, RHO, MU, strength)
    np.testing.assert_allclose(ipo_closed, softmax(np.log(RHO) + BIASED_RPS @ MU / strength), atol=1e-12)
    np.testing.assert_allclose(dpo_optimum(BIASED_RPS, RHO, MU, beta=strength), dpo_closed, atol=1e-8)
    np.testing.assert_allclose(ipo_optimum(BIASED_RPS, RHO, MU, tau=strength), ipo_closed, atol=1e-12)
    dpo = tabular_selfplay("dpo", BIASED_RPS, RHO, steps=2000, beta=strength, data=MU)
    np.testing.assert_allclose(dpo.last, dpo_closed, atol=1e-3)
    ipo = tabular_selfplay("ipo", BIASED_RPS, RHO, steps=2000, tau=strength, data=MU)
    np.testing.assert_allclose(ipo.last, ipo_closed, atol=1e-3)
    # ρ and μ both matter: with the uniform ρ, or with μ = ρ, the optimum is elsewhere
    for other in (softmax(bradley_terry_fit(BIASED_RPS, MU) / strength),
                  softmax(np.log(RHO) + bradley_terry_fit(BIASED_RPS, RHO) / strength)):
        assert np.abs(dpo_closed - other).max() > 0.05


# ----------------------------------------------------------------------------- SPPO's figures
def multiplicative_weights(p, rho, eta, steps):
    """(average of π_1..π_T, π_T) of π_{t+1} ∝ π_t exp(η P π_t), float64 numpy."""
    log_pi, total = np.log(rho), np.zeros(len(rho))
    for _ in range(steps):
        log_pi = log_pi + eta * (p @ np.exp(log_pi))
        log_pi -= np.logaddexp.reduce(log_pi)
        total += np.exp(log_pi)
    return total / steps, np.exp(log_pi)


@pytest.mark.parametrize("steps, quoted", [(1000, 0.0058), (10_000, 0.0008)])
def test_sppo_average_exploitability_figures(steps, quoted):
    avg, last = multiplicative_weights(BIASED_RPS, np.ones(3) / 3, 0.1, steps)
    expected = exploitability(BIASED_RPS, avg)
    assert expected == pytest.approx(quoted, abs=3e-4)  # docs/PREFERENCE.md, testbed a
    run = tabular_selfplay("sppo", BIASED_RPS, None, steps=steps, eta=0.1)
    assert exploitability(BIASED_RPS, run.average) == pytest.approx(expected, abs=1e-4)
    assert exploitability(BIASED_RPS, run.last) == pytest.approx(exploitability(BIASED_RPS, last), abs=1e-3)
    assert not run.converged  # the last iterate cycles outward; the average is the answer


# ----------------------------------------------------------------------------- the LM testbed's BT judge
LM_DPO = {0.5: (0.237, 4.752, 4.182), 1.0: (0.142, 2.814, 1.357)}  # docs/PREFERENCE.md, transitive variant


@pytest.mark.parametrize("beta", sorted(LM_DPO))
def test_dpo_optimum_of_the_per_token_bradley_terry_judge(beta):
    """r(y) = Σ_t w[y_t], w = linspace(−1, 1, 16), L = 8, P(y ≻ y') = σ(r(y) − r(y')), pairs from the
    uniform ρ. The BT fit of exact BT labels is r itself, so π ∝ ρ exp(r/β) = Π_t q(y_t) with
    q ∝ exp(w/β): top-token probability q[15], E[r] = L Σ q w, KL(π‖ρ) = L Σ q log(16 q)."""
    w, length, vocab = np.linspace(-1.0, 1.0, 16), 8, 16
    q = softmax(w / beta)
    top, reward, divergence = q[-1], length * q @ w, length * np.sum(q * np.log(vocab * q))
    np.testing.assert_allclose([top, reward, divergence], LM_DPO[beta], atol=1e-3)
    # the code's dpo_optimum on the one-token game (K = 16, P_ij = σ(w_i − w_j)) is that factor q
    token_game = 1.0 / (1.0 + np.exp(-(w[:, None] - w[None, :])))
    np.testing.assert_allclose(dpo_optimum(token_game, beta=beta), q, atol=1e-8)


def test_dpo_optimum_factorises_over_positions():
    """On a small sequence game (V = 4, L = 2: 16 sequences) the sequence-level optimum is the product
    of the per-token ones."""
    w = np.array([-1.0, -0.2, 0.3, 1.0])
    seqs = np.array([(a, b) for a in range(4) for b in range(4)])
    r = w[seqs].sum(1)
    game = 1.0 / (1.0 + np.exp(-(r[:, None] - r[None, :])))
    q = softmax(w / 0.5)
    np.testing.assert_allclose(dpo_optimum(game, beta=0.5), q[seqs[:, 0]] * q[seqs[:, 1]], atol=1e-8)
