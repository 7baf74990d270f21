"""The exact level: a policy is a probability vector over K responses, the judge a K×K matrix.

    result = tabular_selfplay("sppo", preference, reference, steps=1000, eta=0.1)
    result.last, result.average          # float32[K] each
    result.history                       # float32[steps + 1, K]: π_0 = reference, π_1, ..., π_T
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
"""

from __future__ import annotations

import functools
from typing import Any

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
DEFAULTS = {
    "sppo": dict(eta=0.1),
    "nash_md": dict(eta=0.1, tau=0.1),
    "inpo": dict(eta=1.0, tau=0.1),
    "dpo": dict(beta=0.1, learning_rate=0.05),
    "ipo": dict(tau=0.1, learning_rate=0.05),
}


@struct.dataclass
class SelfPlayResult:
    """Iterates of one tabular run.

    history: float32[T + 1, K]   π_0 (the reference) then every iterate
    last:    float32[K]          π_T
    average: float32[K]          mean of π_1..π_T
    log_last: float32[K]         log π_T (keeps the order of responses whose mass underflows)
    """

    history: jax.Array
    last: jax.Array
    average: jax.Array
    log_last: jax.Array
    algorithm: str = struct.field(pytree_node=False, default="")


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
    allowed = DEFAULTS[algorithm]
    unknown = sorted(set(hyper) - set(allowed) - {"data"})
    if unknown:
        raise ValueError(f"unknown hyper-parameter(s) {unknown} for {algorithm!r}; allowed: {sorted(allowed)}"
                         + (" and data" if algorithm in ("dpo", "ipo") else ""))
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
    eta, tau, beta, learning_rate; DPO and IPO also take `data`, the distribution μ of the pairs (default ρ).
    """
    if algorithm not in TABULAR_ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}; allowed: {', '.join(TABULAR_ALGORITHMS)}")
    p = check_preference(preference)
    k = p.shape[0]
    ref = np.full(k, 1.0 / k) if reference is None else _check_distribution("reference", reference, k)
    data = ref if hyper.get("data") is None else _check_distribution("data", hyper["data"], k)
    values = _check_hyper(algorithm, {h: v for h, v in hyper.items() if h != "data"})
    validate.integer("steps", steps, 1)
    log_ref = jnp.asarray(np.log(ref), jnp.float32)
    logs = _run(algorithm, jnp.asarray(p, jnp.float32), log_ref, jnp.asarray(data, jnp.float32), int(steps),
                {h: jnp.float32(v) for h, v in values.items()})
    iterates = jnp.exp(logs)
    history = jnp.concatenate([jnp.exp(log_ref)[None], iterates], axis=0)
    chex.assert_shape(history, (steps + 1, k))
    return SelfPlayResult(history=history, last=iterates[-1], average=iterates.mean(0), log_last=logs[-1],
                          algorithm=algorithm)


# ----------------------------------------------------------------------------- closed forms
def kl_regularised_nash(preference, reference=None, tau: float = 0.1, iters: int = 20_000) -> np.ndarray:
    """float64[K]: π*_τ, the unique Nash of the τ-regularised game, π = softmax(log ρ + P π / τ),
    by damped fixed-point iteration in float64 numpy (a reference value for tests)."""
    p = check_preference(preference)
    k = p.shape[0]
    ref = np.full(k, 1.0 / k) if reference is None else _check_distribution("reference", reference, k)
    pi = ref.copy()
    damp = min(1.0, tau)
    for _ in range(iters):
        logits = np.log(ref) + p @ pi / tau
        target = np.exp(logits - logits.max())
        pi = (1 - damp) * pi + damp * target / target.sum()
    return pi


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
