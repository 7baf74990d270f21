"""The preference losses (docs/PREFERENCE.md#losses-and-updates), each a small function of sequence log-probabilities.

Shapes: every argument is float32[B] over B sequences or pairs (w the preferred response, l the other
one); each returns the mean loss float32[]. Log-probabilities are summed over tokens unless named
`mean_*` (SimPO's per-token average). The pair losses take optional `weights` float32[B] >= 0 (the
loss is then Σ w·ℓ / Σ w): with every ordered pair (i, j) weighted by P(y_i ≻ y_j), this is the
expectation over the judge's labels ("soft" labels).
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp


def pair_margin(logp_w: jax.Array, logp_l: jax.Array, ref_w: jax.Array, ref_l: jax.Array) -> jax.Array:
    """h = r(y_w) − r(y_l), r = log π − log π_ref. float32[B]."""
    chex.assert_equal_shape([logp_w, logp_l, ref_w, ref_l])
    return (logp_w - ref_w) - (logp_l - ref_l)


def weighted_mean(values: jax.Array, weights: jax.Array | None = None) -> jax.Array:
    """mean(values), or Σ w·v / Σ w for weights float32[B] >= 0 (0 when every weight is 0)."""
    if weights is None:
        return jnp.mean(values)
    chex.assert_equal_shape([values, weights])
    return jnp.sum(weights * values) / jnp.maximum(jnp.sum(weights), 1e-12)


def dpo_loss(logp_w, logp_l, ref_w, ref_l, beta: float, weights=None) -> jax.Array:
    """DPO: mean −log σ(β h)."""
    return weighted_mean(-jax.nn.log_sigmoid(beta * pair_margin(logp_w, logp_l, ref_w, ref_l)), weights)


def rao_kupper_probabilities(h: jax.Array, beta: float, alpha: float) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(P(w ≻ l), P(tie), P(l ≻ w)) of the Rao–Kupper model on the DPO margin d = β h:
    σ(d − α), 1 − σ(d − α) − σ(−d − α), σ(−d − α). α = log ν >= 0 (0: no ties, plain Bradley–Terry)."""
    d = beta * h
    win, loss = jax.nn.sigmoid(d - alpha), jax.nn.sigmoid(-d - alpha)
    return win, 1.0 - win - loss, loss


def dpo_ties_loss(logp_w, logp_l, ref_w, ref_l, beta: float, alpha: float, tie, weights=None) -> jax.Array:
    """Tie-aware DPO (the Rao–Kupper extension): mean −log P(label) with P from
    `rao_kupper_probabilities`; `tie` float32[B] in {0, 1} marks pairs judged even (ternary labels:
    y_w ≻ y_l, or a tie, whose likelihood is highest at h = 0 and falls as |h| grows). alpha > 0."""
    h = pair_margin(logp_w, logp_l, ref_w, ref_l)
    d = beta * h
    log_win = jax.nn.log_sigmoid(d - alpha)
    # log P(tie) = log(1 − σ(d − α) − σ(−d − α)), written stably: P(tie) = σ(d−α)σ(−d−α)(e^{2α} − 1)
    log_tie = jax.nn.log_sigmoid(d - alpha) + jax.nn.log_sigmoid(-d - alpha) + jnp.log(jnp.expm1(2.0 * alpha))
    return weighted_mean(-jnp.where(tie > 0, log_tie, log_win), weights)


def ipo_loss(logp_w, logp_l, ref_w, ref_l, tau: float, weights=None) -> jax.Array:
    """IPO: mean (h − 1/(2τ))²."""
    return weighted_mean(jnp.square(pair_margin(logp_w, logp_l, ref_w, ref_l) - 1.0 / (2.0 * tau)), weights)


def simpo_loss(mean_logp_w, mean_logp_l, beta: float, gamma: float, weights=None) -> jax.Array:
    """SimPO: mean −log σ(β (mean-token log π(y_w) − mean-token log π(y_l)) − γ); no reference."""
    chex.assert_equal_shape([mean_logp_w, mean_logp_l])
    return weighted_mean(-jax.nn.log_sigmoid(beta * (mean_logp_w - mean_logp_l) - gamma), weights)


def sppo_loss(logp, logp_t, win_rate, eta: float) -> jax.Array:
    """SPPO's squared loss: mean (log π(y)/π_t(y) − η (P̂(y ≻ π_t) − ½))² over y ~ π_t.

    logp float32[B] under the trained policy, logp_t float32[B] under the frozen iterate π_t,
    win_rate float32[B] the estimate P̂(y ≻ π_t) in [0, 1].
    """
    chex.assert_equal_shape([logp, logp_t, win_rate])
    return jnp.mean(jnp.square(logp - logp_t - eta * (win_rate - 0.5)))


def nash_md_loss(logp, log_mu, win_rate, eta: float) -> jax.Array:
    """Nash-MD fitted like SPPO: mean (log π(y) − log π^μ(y) − η (P̂(y ≻ π^μ) − ½))² over y ~ π^μ.

    log_mu float32[B] is the normalised log-probability of the mixture the samples came from (the
    token-level π^μ(y_t | ·) ∝ π_t^{1−ητ} ρ^{ητ}, summed over tokens). The unnormalised sequence-level
    (1 − ητ) log π_t + ητ log ρ misses the per-token log-normalisers −Σ_t log Z_t, which are first
    order in ητ·KL(π_t‖ρ) (about 0.4 nats at ητ = 0.1 on the Bradley–Terry optimum, as large as the
    targets' range ±η/2) and differ from prefix to prefix, so the −½ centring cannot absorb them.
    """
    chex.assert_equal_shape([logp, log_mu, win_rate])
    return jnp.mean(jnp.square(logp - log_mu - eta * (win_rate - 0.5)))


def inpo_loss(logp_w, logp_l, ref_w, ref_l, old_w, old_l, eta: float, tau: float, weights=None) -> jax.Array:
    """INPO: mean (h_t − 1/(2η))² with
    h_t = log π(y_w)/π(y_l) − (τ/η) log ρ(y_w)/ρ(y_l) − ((η − τ)/η) log π_t(y_w)/π_t(y_l)."""
    chex.assert_equal_shape([logp_w, logp_l, ref_w, ref_l, old_w, old_l])
    h = (logp_w - logp_l) - (tau / eta) * (ref_w - ref_l) - ((eta - tau) / eta) * (old_w - old_l)
    return weighted_mean(jnp.square(h - 1.0 / (2.0 * eta)), weights)


def win_rates(p: jax.Array) -> jax.Array:
    """float32[..., K]: P̂(y_i ≻ π_t) = mean_{j ≠ i} P[..., i, j] from a judged matrix float32[..., K, K]
    of K samples of π_t (the self-pair, always ½, is excluded: it would shrink η by (K − 1)/K)."""
    k = p.shape[-1]
    off = 1.0 - jnp.eye(k, dtype=p.dtype)
    return (p * off).sum(-1) / (k - 1)
