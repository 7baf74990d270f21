"""Length-controlled win rate: a win rate with the judge's preference for longer answers taken out.

    report = length_controlled_win_rate(outcomes, len_a, len_b)
    report["win_rate"], report["lc_win_rate"], report["length_coef"]

outcomes float[N] in [0, 1] are per-game scores of policy A against policy B (1 win, 0 loss, ½ tie,
or a judge's probability), len_a / len_b the two responses' lengths (`judges.response_length`).

The model, after AlpacaEval 2's length-controlled win rate (Dubois et al. 2024), reduced to one pair
of policies and no per-instruction term:

    P(A ≻ B | Δ) = σ(θ0 + θ1·f(Δ / s)),  Δ = len_a − len_b,  s = std(Δ),

fitted by maximum likelihood with the outcomes as soft targets. The length-controlled win rate is
the prediction at zero length difference, σ(θ0): what A scores against B when both answer equally
long. f = tanh by default, as AlpacaEval does: it saturates, so a few very long answers cannot
dominate the fit and the length term's effect stays within ±θ1; f = identity ("linear") gives the
plain logistic regression on the standardised difference. Both agree at Δ = 0.
"""

from __future__ import annotations

import numpy as np

from algorithms import validate

TRANSFORMS = ("tanh", "linear")
RIDGE = 1e-6  # L2 penalty per game on θ: keeps the fit finite when length separates wins from losses
NEWTON_STEPS = 100


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # = 1 / (1 + e^-z) without overflow


def _fit_logistic(features: np.ndarray, targets: np.ndarray, ridge: float) -> np.ndarray:
    """θ float64[D] minimising Σ_n CE(targets[n], σ(features[n]·θ)) + ½·ridge·|θ|² by Newton's method
    (the objective is convex; step halving keeps each step a decrease)."""
    d = features.shape[1]

    def objective(theta):
        z = features @ theta
        # CE with soft targets t: t·softplus(−z) + (1 − t)·softplus(z) = softplus(z) − t·z
        return np.sum(np.logaddexp(0.0, z) - targets * z) + 0.5 * ridge * theta @ theta

    theta = np.zeros(d)
    value = objective(theta)
    for _ in range(NEWTON_STEPS):
        p = _sigmoid(features @ theta)
        grad = features.T @ (p - targets) + ridge * theta
        hess = (features * (p * (1.0 - p))[:, None]).T @ features + ridge * np.eye(d)
        step = np.linalg.solve(hess, grad)
        size = 1.0
        while size > 1e-10:
            candidate = theta - size * step
            new = objective(candidate)
            if new <= value:
                break
            size *= 0.5
        else:
            break
        theta, value = candidate, new
        if np.max(np.abs(size * step)) < 1e-10:
            break
    return theta


def _as_vector(name: str, values, n: int | None = None) -> np.ndarray:
    v = np.asarray(values, np.float64)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-d array float[N], got shape {v.shape}")
    if n is not None and v.size != n:
        raise ValueError(f"{name} has {v.size} entries, outcomes has {n}: one per game is needed")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} has non-finite entries (at index {int(np.argmax(~np.isfinite(v)))})")
    return v


def length_controlled_win_rate(outcomes, len_a, len_b, *, transform: str = "tanh", ridge: float = RIDGE) -> dict:
    """The raw and the length-controlled win rate of A against B.

    outcomes float[N] in [0, 1]: A's score in each game; len_a, len_b float[N] >= 0: the lengths of
    A's and B's responses in that game. transform: "tanh" (AlpacaEval's) or "linear", f in the
    module docstring. ridge: the L2 penalty on (θ0, θ1) per game.

    Returns dict(win_rate = mean outcome, lc_win_rate = σ(θ0), length_coef = θ1, intercept = θ0,
    length_scale = s (the std of Δ), n = N, even_share = the fraction of games with |Δ| <= 1).
    When every game has Δ = 0 the length term is undefined: θ1 = 0 and lc_win_rate = σ(θ0) is the
    intercept-only fit of the win rate. The prediction at Δ = 0 rests on games near it: when
    even_share is small (one policy always answers longer), lc_win_rate is an extrapolation, and
    with tanh a biased one (the feature saturates and cannot separate the intercept from the
    length effect; AlpacaEval's method shares this). Report even_share beside it.
    """
    t = _as_vector("outcomes", outcomes)
    n = t.size
    if np.any((t < 0.0) | (t > 1.0)):
        i = int(np.argmax((t < 0.0) | (t > 1.0)))
        raise ValueError(f"outcomes[{i}] = {t[i]:.6g} is not a score (allowed: [0, 1])")
    a, b = _as_vector("len_a", len_a, n), _as_vector("len_b", len_b, n)
    for name, v in (("len_a", a), ("len_b", b)):
        if np.any(v < 0):
            i = int(np.argmax(v < 0))
            raise ValueError(f"{name}[{i}] = {v[i]:.6g} is not a length (allowed: >= 0)")
    validate.choice("transform", transform, TRANSFORMS)
    ridge = validate.positive("ridge", ridge, allow_zero=True)
    delta = a - b
    scale = float(delta.std())
    if scale > 0.0:
        z = delta / scale
        z = np.tanh(z) if transform == "tanh" else z
        features = np.stack([np.ones(n), z], axis=1)
    else:
        features = np.ones((n, 1))
    theta = _fit_logistic(features, t, ridge * n)
    return dict(win_rate=float(t.mean()), lc_win_rate=float(_sigmoid(theta[0])),
                length_coef=float(theta[1]) if theta.size > 1 else 0.0, intercept=float(theta[0]),
                length_scale=scale, n=int(n), even_share=float(np.mean(np.abs(delta) <= 1.0)))
