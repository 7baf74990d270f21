"""The exact level: a policy is a probability vector over K responses, the judge a K×K matrix.

    result = tabular_selfplay("sppo", preference, reference, steps=1000, eta=0.1)
    result.last, result.average          # float32[K] each
    result.history                       # float32[steps + 1, K]: π_0 = reference, π_1, ..., π_T
    result.converged, result.residual    # did the last iterate settle? (spread of the last iterates)
    exploitability(preference, result.average)   # = algorithms.evaluation.nash.exploitability

Updates (docs/PREFERENCE.md#losses-and-updates), with P(y ≻ π) = (P π)_y:
- "sppo":    π_{t+1} ∝ π_t · exp(η P(y ≻ π_t))                       (multiplicative weights)
- "nash_md": π^μ ∝ π_t^{1−ητ} ρ^{ητ};  π_{t+1} ∝ π^μ · exp(η P(y ≻ π^μ))
- "inpo":    π_{t+1} ∝ π_t^{1−τ/η} ρ^{τ/η} exp(P(y ≻ π_t)/η)            (fixed point π*_τ)
- "dpo":     gradient descent (Adam) on the population DPO loss over pairs y, y' ~ μ (default ρ)
- "ipo":     the same with the IPO loss
Each step is one `lax.scan` iteration; the whole run is one compiled call. `average` is the mean of
π_1..π_T (the iterates the updates produced); for DPO and IPO, whose iterates are optimiser steps,
it is reported the same way but `last` is the answer.

INPO's step size: τ < η is necessary but not sufficient. Linearised at its fixed point π*_τ, the
map turns by the game's cycles and only contracts when η > (τ² + ω²)/(2τ) (`inpo_stability`);
below that a run oscillates or is chaotic, `tabular_selfplay` warns and `result.converged` is False.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from algorithms import validate
from algorithms.evaluation.nash import exploitability  # noqa: F401  (re-exported: exploitability(P, π))
from algorithms.preference.judges import check_preference

TABULAR_ALGORITHMS = ("sppo", "nash_md", "inpo", "dpo", "ipo")
PAIR_ALGORITHMS = ("dpo", "ipo")  # the algorithms that learn from pairs of a fixed distribution μ (`data`)
DEFAULTS = {
    "sppo": {"eta": 0.1},
    "nash_md": {"eta": 0.1, "tau": 0.1},
    "inpo": {"eta": 1.0, "tau": 0.1},
    "dpo": {"beta": 0.1, "learning_rate": 0.05},
    "ipo": {"tau": 0.1, "learning_rate": 0.05},
}
# `converged` compares the last iterate with the CONVERGENCE_WINDOW iterates before it (float32 iterates).
CONVERGENCE_WINDOW = 50
CONVERGENCE_TOL = 1e-5


@struct.dataclass
class SelfPlayResult:
    """Iterates of one tabular run.

    history: float32[T + 1, K]   π_0 (the reference) then every iterate
    last:    float32[K]          π_T
    average: float32[K]          mean of π_1..π_T
    log_last: float32[K]         log π_T (keeps the order of responses whose mass underflows)
    residual: float              max_t ‖π_t − π_T‖∞ over the last CONVERGENCE_WINDOW iterates (π_0 included
                                 when steps <= CONVERGENCE_WINDOW): how far the last iterate still moves
    converged: bool              residual < CONVERGENCE_TOL and, for INPO, the fixed point is stable
                                 (`inpo_stability`). It is about the LAST iterate: SPPO's last iterate
                                 cycles by design (read `average`), so its runs report False.
    """

    history: jax.Array
    last: jax.Array
    average: jax.Array
    log_last: jax.Array
    algorithm: str = struct.field(pytree_node=False, default="")
    residual: float = struct.field(pytree_node=False, default=float("nan"))
    converged: bool = struct.field(pytree_node=False, default=False)


def _normalise_log(logits: jax.Array) -> jax.Array:
    """log-probabilities float32[K] from unnormalised logits float32[K]."""
    return logits - jax.scipy.special.logsumexp(logits)


def sppo_step(log_pi: jax.Array, p: jax.Array, eta: float) -> jax.Array:
    """Multiplicative weights: log π_{t+1} = log π_t + η (P π_t), normalised. log_pi float32[K]."""
    return _normalise_log(log_pi + eta * (p @ jnp.exp(log_pi)))


def nash_md_step(log_pi: jax.Array, p: jax.Array, log_ref: jax.Array, eta: float, tau: float) -> jax.Array:
    """Mirror descent toward the geometric mixture π^μ ∝ π^{1−ητ} ρ^{ητ}, then a step of η P(· ≻ π^μ)."""
    log_mu = _normalise_log((1.0 - eta * tau) * log_pi + eta * tau * log_ref)
    return _normalise_log(log_mu + eta * (p @ jnp.exp(log_mu)))


def inpo_step(log_pi: jax.Array, p: jax.Array, log_ref: jax.Array, eta: float, tau: float) -> jax.Array:
    """π_{t+1} ∝ π_t^{1−τ/η} ρ^{τ/η} exp(P(· ≻ π_t)/η); its fixed point is π*_τ."""
    return _normalise_log((1.0 - tau / eta) * log_pi + (tau / eta) * log_ref + (p @ jnp.exp(log_pi)) / eta)


def pair_weights(p: jax.Array, data: jax.Array) -> jax.Array:
    """float32[K, K]: probability that a pair drawn from data ⊗ data has winner i and loser j,
    μ(i) μ(j) P(i ≻ j) (the population of labelled pairs DPO and IPO learn from)."""
    return data[:, None] * data[None, :] * p


def dpo_population_loss(logits: jax.Array, log_ref: jax.Array, weights: jax.Array, beta: float) -> jax.Array:
    """Σ_ij w_ij · −log σ(β h_ij), h_ij = r(i) − r(j), r = log π − log ρ. logits float32[K]."""
    r = _normalise_log(logits) - log_ref
    h = r[:, None] - r[None, :]
    return -jnp.sum(weights * jax.nn.log_sigmoid(beta * h))


def ipo_population_loss(logits: jax.Array, log_ref: jax.Array, weights: jax.Array, tau: float) -> jax.Array:
    """Σ_ij w_ij · (h_ij − 1/(2τ))²."""
    r = _normalise_log(logits) - log_ref
    h = r[:, None] - r[None, :]
    return jnp.sum(weights * jnp.square(h - 1.0 / (2.0 * tau)))


@functools.partial(jax.jit, static_argnames=("algorithm", "steps"))
def _run(algorithm: str, p: jax.Array, log_ref: jax.Array, data: jax.Array, steps: int, hyper: dict[str, Any]):
    """float32[steps, K] log-iterates of one run (compiled once per algorithm and length)."""
    if algorithm in ("dpo", "ipo"):
        weights = pair_weights(p, data)
        if algorithm == "dpo":
            loss = functools.partial(dpo_population_loss, log_ref=log_ref, weights=weights, beta=hyper["beta"])
        else:
            loss = functools.partial(ipo_population_loss, log_ref=log_ref, weights=weights, tau=hyper["tau"])
        tx = optax.adam(hyper["learning_rate"])

        def body(carry, _):
            logits, opt = carry
            grads = jax.grad(loss)(logits)
            updates, opt = tx.update(grads, opt)
            logits = optax.apply_updates(logits, updates)
            return (logits, opt), _normalise_log(logits)

        _, logs = jax.lax.scan(body, (log_ref, tx.init(log_ref)), None, length=steps)
        return logs

    step = {
        "sppo": lambda lp: sppo_step(lp, p, hyper["eta"]),
        "nash_md": lambda lp: nash_md_step(lp, p, log_ref, hyper["eta"], hyper["tau"]),
        "inpo": lambda lp: inpo_step(lp, p, log_ref, hyper["eta"], hyper["tau"]),
    }[algorithm]

    def body(log_pi, _):
        new = step(log_pi)
        return new, new

    _, logs = jax.lax.scan(body, log_ref, None, length=steps)
    return logs


def _check_hyper(algorithm: str, hyper: dict[str, Any]) -> dict[str, float]:
    """float hyper-parameters of `algorithm` (defaults filled in), or ValueError naming the bad one."""
    allowed = DEFAULTS[algorithm]
    unknown = sorted(set(hyper) - set(allowed))
    if unknown:
        raise ValueError(f"unknown hyper-parameter(s) {unknown} for {algorithm!r}; allowed: {sorted(allowed)}"
                         + (" and data" if algorithm in PAIR_ALGORITHMS else ""))
    values = {k: float(hyper.get(k, v)) for k, v in allowed.items()}
    for k, v in values.items():
        if not np.isfinite(v) or v <= 0:
            raise ValueError(f"{k} must be a finite number > 0, got {hyper.get(k)!r}")
    if algorithm == "inpo" and values["tau"] >= values["eta"]:
        raise ValueError(f"inpo needs tau < eta (π_t's exponent is 1 − τ/η), got tau={values['tau']}, "
                         f"eta={values['eta']}")
    if algorithm == "nash_md" and values["tau"] * values["eta"] >= 1:
        raise ValueError(f"nash_md needs eta·tau < 1, got {values['eta'] * values['tau']}")
    return values


def _check_distribution(name: str, value, k: int) -> np.ndarray:
    d = np.array(value, np.float64)
    if d.shape != (k,):
        raise ValueError(f"{name} must have shape ({k},) to match the preference matrix, got {d.shape}")
    if not np.all(np.isfinite(d)) or (d <= 0).any() or abs(d.sum() - 1.0) > 1e-6:
        raise ValueError(f"{name} must be a probability vector with every entry > 0, got {d.tolist()}")
    return d


def tabular_selfplay(algorithm: str, preference, reference=None, steps: int = 1000, **hyper) -> SelfPlayResult:
    """Run one algorithm exactly on a K×K preference matrix.

    preference: float[K, K] with P[i, j] = P(i ≻ j), antisymmetric (K >= 2); reference: float[K] ρ,
    all entries > 0 (default uniform); steps: T >= 1. Hyper-parameters (defaults in `DEFAULTS`):
    eta, tau, beta, learning_rate; DPO and IPO also take `data`, the distribution μ of the pairs
    (default ρ); the self-play methods learn from their own iterates and reject a `data` other than
    None (ValueError).

    INPO with an unstable step size (spectral radius of the linearised map at π*_τ >= 1, see
    `inpo_stability`) warns (RuntimeWarning naming eta, tau, the radius and the smallest stable eta)
    and still runs: the oscillating or chaotic iterates are a legitimate object of study at the
    exact level, so this is not an error, but `result.converged` is then False whatever the
    iterates do and the warning says that the last iterate is not π*_τ. Every result carries
    `converged` and `residual` (the spread of its last iterates), which also catch runs that are
    simply too short.
    """
    if algorithm not in TABULAR_ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}; allowed: {', '.join(TABULAR_ALGORITHMS)}")
    p = check_preference(preference)
    k = p.shape[0]
    ref = np.full(k, 1.0 / k) if reference is None else _check_distribution("reference", reference, k)
    hyper = dict(hyper)
    data = hyper.pop("data", None)
    if data is not None and algorithm not in PAIR_ALGORITHMS:
        raise ValueError(f"data (the distribution μ of the training pairs) is taken only by "
                         f"{' and '.join(PAIR_ALGORITHMS)}; {algorithm!r} learns from its own iterates and would "
                         f"ignore it: drop data= (got data={np.asarray(data).tolist()!r})")
    data = ref if data is None else _check_distribution("data", data, k)
    values = _check_hyper(algorithm, hyper)
    validate.integer("steps", steps, 1)
    stable = True
    if algorithm == "inpo":
        stability = inpo_stability(p, ref, eta=values["eta"], tau=values["tau"])
        stable = stability.radius < 1.0
        if not stable:
            warnings.warn(
                f"inpo with eta={values['eta']:g}, tau={values['tau']:g} is unstable at its fixed point π*_τ: "
                f"the linearised map has spectral radius {stability.radius:.4f} >= 1, so the iterates oscillate "
                f"or are chaotic and the last iterate is not π*_τ (result.converged is False); the smallest "
                f"stable eta for this preference, reference and tau is {stability.min_stable_eta:.4g} "
                f"(tau < eta is necessary, not sufficient)", RuntimeWarning, stacklevel=2)
    log_ref = jnp.asarray(np.log(ref), jnp.float32)
    logs = _run(algorithm, jnp.asarray(p, jnp.float32), log_ref, jnp.asarray(data, jnp.float32), int(steps),
                {h: jnp.float32(v) for h, v in values.items()})
    iterates = jnp.exp(logs)
    history = jnp.concatenate([jnp.exp(log_ref)[None], iterates], axis=0)
    chex.assert_shape(history, (steps + 1, k))
    tail = np.asarray(history[-(CONVERGENCE_WINDOW + 1):], np.float64)
    residual = float(np.abs(tail - tail[-1]).max())
    converged = bool(stable and np.isfinite(residual) and residual < CONVERGENCE_TOL)
    return SelfPlayResult(history=history, last=iterates[-1], average=iterates.mean(0), log_last=logs[-1],
                          algorithm=algorithm, residual=residual, converged=converged)


# ----------------------------------------------------------------------------- closed forms
def _reference(p: np.ndarray, reference) -> np.ndarray:
    k = p.shape[0]
    return np.full(k, 1.0 / k) if reference is None else _check_distribution("reference", reference, k)


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max())
    return e / e.sum()


def regularised_nash_residual(preference, policy, reference=None, tau: float = 0.1) -> float:
    """‖π − softmax(log ρ + P π / τ)‖∞: 0 exactly at π*_τ (float64 numpy). policy: float[K]."""
    p = check_preference(preference)
    ref = _reference(p, reference)
    tau = validate.positive("tau", tau)
    pi = _check_distribution("policy", policy, p.shape[0])
    return float(np.abs(pi - _softmax(np.log(ref) + p @ pi / tau)).max())


def kl_regularised_nash(preference, reference=None, tau: float = 0.1, tol: float = 1e-10,
                        iters: int = 200) -> np.ndarray:
    """float64[K]: π*_τ, the unique Nash of the τ-regularised game, π = softmax(log ρ + P π / τ).

    Solved by damped Newton on the logits z: F(z) = z − log ρ − P softmax(z)/τ = 0, whose root is
    z* = log ρ + P π*_τ/τ. Its Jacobian I − P C(z)/τ, with C = diag(π) − ππᵀ, has eigenvalues 1 and
    1 ∓ iω_k/τ (P C and C P = C S share their nonzero eigenvalues with C^½ S C^½, antisymmetric, for
    S = P − ½), so it is never singular:
    the Newton direction always descends ‖F‖², ‖F‖ grows without bound as ‖z‖ does (P π is bounded),
    and the backtracking iteration converges from z = log ρ for every τ > 0, quadratically at the end.
    tol: the returned π has ‖π − softmax(log ρ + P π/τ)‖∞ <= tol (ValueError stating the residual
    otherwise, after at most `iters` Newton steps; float64 rounding floors the residual near 1e-15 at
    τ = 0.01 and 1e-10 at τ = 1e-4). The residual is `regularised_nash_residual`.
    """
    p = check_preference(preference)
    ref = _reference(p, reference)
    tau = validate.positive("tau", tau)
    tol = validate.positive("tol", tol)
    iters = validate.integer("iters", iters, 1)
    log_ref = np.log(ref)
    eye = np.eye(p.shape[0])

    def f(z):
        pi = _softmax(z)
        return z - log_ref - p @ pi / tau, pi

    z = log_ref.copy()
    value, pi = f(z)
    done = 0
    for done in range(1, iters + 1):
        # aim 1e3 below tol (Newton's last steps are nearly free), accept tol if rounding stops it first
        if np.abs(pi - _softmax(log_ref + p @ pi / tau)).max() <= 1e-3 * tol:
            return pi
        jac = eye - p @ (np.diag(pi) - np.outer(pi, pi)) / tau
        step = np.linalg.solve(jac, -value)
        norm, t = float(value @ value), 1.0
        while t > 1e-10:  # Armijo backtracking on ‖F‖²; the Newton direction has slope −2‖F‖²
            new_value, new_pi = f(z + t * step)
            if float(new_value @ new_value) <= (1.0 - 1e-4 * t) * norm:
                break
            t *= 0.5
        else:
            break  # no decrease at rounding level: the residual below decides
        z, value, pi = z + t * step, new_value, new_pi
    residual = float(np.abs(pi - _softmax(log_ref + p @ pi / tau)).max())
    if residual <= tol:
        return pi
    raise ValueError(f"kl_regularised_nash did not converge for tau={tau:g}: fixed-point residual "
                     f"‖π − softmax(log ρ + Pπ/τ)‖∞ = {residual:.3g} > tol={tol:g} after {done} Newton steps (float64 "
                     f"rounding sets a floor that grows as tau shrinks, about 1e-10 at tau = 1e-4: pass a looser tol)")


class InpoStability(NamedTuple):
    """Local stability of INPO's exact map at its fixed point π*_τ (`inpo_stability`).

    radius: spectral radius of the linearised map on the simplex's tangent space (< 1: stable)
    min_stable_eta: (τ² + ω²)/(2τ), the radius is < 1 exactly for eta above it
    omega: ω, the largest |eigenvalue| of C S (purely imaginary), C = diag(π*) − π*π*ᵀ, S = P − ½
    fixed_point: float64[K] π*_τ
    """

    radius: float
    min_stable_eta: float
    omega: float
    fixed_point: np.ndarray


def inpo_stability(preference, reference=None, *, eta: float, tau: float) -> InpoStability:
    """Is INPO's map log π ← (1 − τ/η) log π + (τ/η) log ρ + P π/η (normalised) stable at π*_τ?

    Linearised at π* in log-coordinates (v with π*ᵀv = 0, the simplex's tangent space), the map is
        J v = (1 − τ/η) v + (1/η) (I − 1π*ᵀ) P diag(π*) v.
    With u = diag(π*) v the second term is C P u = C S u (C 1 = 0 and 1ᵀu = 0), C = diag(π*) − π*π*ᵀ,
    S = P − ½·11ᵀ antisymmetric; C S shares its nonzero eigenvalues with C^½ S C^½, antisymmetric, so
    they are ±iω_k. Hence
        eig(J) = 1 − τ/η ± iω_k/η,   radius = √((1 − τ/η)² + ω²/η²)   (ω = max_k ω_k),
    and radius < 1  ⇔  η > (τ² + ω²)/(2τ). The fastest local rate is at η = (τ² + ω²)/τ.
    Neither bound is τ: on biased rock-paper-scissors with τ = 0.1, ω = 0.179 and the map is unstable
    for η <= 0.211 (radius 1.027 at η = 0.2), although τ < η there. It is a local statement: a stable
    fixed point may still have a distant basin boundary, which `SelfPlayResult.converged` would show.
    """
    p = check_preference(preference)
    ref = _reference(p, reference)
    eta = validate.positive("eta", eta)
    tau = validate.positive("tau", tau)
    star = kl_regularised_nash(p, ref, tau, tol=1e-8)  # ample for the radius, reachable at any τ
    cov = np.diag(star) - np.outer(star, star)
    omega = float(np.abs(np.linalg.eigvals(cov @ (p - 0.5))).max())
    radius = float(np.hypot(1.0 - tau / eta, omega / eta))
    return InpoStability(radius=radius, min_stable_eta=(tau * tau + omega * omega) / (2.0 * tau), omega=omega,
                         fixed_point=star)


def ipo_optimum(preference, reference=None, data=None, tau: float = 0.1) -> np.ndarray:
    """float64[K]: π ∝ ρ · exp(P(y ≻ μ)/τ), IPO's population optimum for pairs drawn from μ (default ρ)."""
    p = check_preference(preference)
    k = p.shape[0]
    ref = np.full(k, 1.0 / k) if reference is None else _check_distribution("reference", reference, k)
    mu = ref if data is None else _check_distribution("data", data, k)
    logits = np.log(ref) + p @ mu / tau
    e = np.exp(logits - logits.max())
    return e / e.sum()


def dpo_optimum(preference, reference=None, data=None, beta: float = 0.1, iters: int = 100) -> np.ndarray:
    """float64[K]: π ∝ ρ · exp(r_BT/β), DPO's population optimum, with r_BT the Bradley–Terry fit
    of pairs drawn from μ (default ρ) and labelled by P: the maximiser of Σ_ij μ_i μ_j P_ij log σ(r_i − r_j),
    found by Newton's method in float64 numpy (the objective is concave; r is fixed by Σ r = 0)."""
    p = check_preference(preference)
    k = p.shape[0]
    ref = np.full(k, 1.0 / k) if reference is None else _check_distribution("reference", reference, k)
    mu = ref if data is None else _check_distribution("data", data, k)
    w = mu[:, None] * mu[None, :] * p
    np.fill_diagonal(w, 0.0)
    r = np.zeros(k)
    for _ in range(iters):
        s = 1.0 / (1.0 + np.exp(-(r[:, None] - r[None, :])))  # σ(r_i − r_j)
        grad = (w * (1 - s)).sum(1) - (w.T * s).sum(1)
        c = (w + w.T) * s * (1 - s)
        hess = -(np.diag(c.sum(1)) - c) - 1e-12 * np.eye(k) - np.ones((k, k)) / k  # fix Σ r = 0
        step = np.linalg.solve(hess, grad)
        r = r - step
        if np.abs(step).max() < 1e-13:
            break
    logits = np.log(ref) + r / beta
    e = np.exp(logits - logits.max())
    return e / e.sum()
