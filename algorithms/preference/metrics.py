"""Measurements of language-model policies from samples: exploitability, win rate, KL.

    m = class_marginal(policy, params, judge, key, n=4096)        # float32[X, C] per prompt
    lm_exploitability(judge, m)                                  # mean over prompts of max_c (M m)_c − ½
    mixture_exploitability(judge, [m_1, ..., m_T])               # of the average of iterates (a mixture)
    win_rate(policy, params, other, judge, key, n)               # E P(y ≻ y'), y ~ π, y' ~ π_other
    kl_to(policy, params, ref_params, key, n)                    # E_{y~π} log π(y)/ρ(y)
    head_to_head(policy, params, other, judge, key, n)           # outcomes and lengths, for length control

`policy` is an `lm.LMConfig` (the toy model) or a `policy.Policy` (a real causal LM).

Exploitability on a class judge is exact given the class marginal (estimated to about ±0.01 from
4096 samples); on a judge with a known best response it is P(y* ≻ π) − ½ estimated from samples.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from algorithms.preference.policy import as_policy
from algorithms.preference.judges import Judge

MIN_EXPLOIT_SAMPLES = 4096


def _prompts(policy, n: int) -> jax.Array:
    """int32[X·n]: every prompt n times (X = n_prompts)."""
    return jnp.repeat(jnp.arange(policy.n_prompts, dtype=jnp.int32), n)


@functools.partial(jax.jit, static_argnames=("policy", "judge", "n"))
def _class_marginal(policy, params, judge, key, n):
    x = _prompts(policy, n)
    y = policy.judge_view(policy.sample(params, key, x).tokens)
    c = jax.vmap(judge.class_of)(x, y).reshape(policy.n_prompts, n)
    n_classes = judge.class_matrix.shape[0]
    return jax.nn.one_hot(c, n_classes).mean(1)  # [X, C]


def class_marginal(policy, params, judge: Judge, key: jax.Array, n: int = MIN_EXPLOIT_SAMPLES):
    """float32[X, C]: the policy's class distribution for each prompt, from n samples per prompt."""
    if judge.class_of is None:
        raise ValueError(f"judge {judge.name!r} has no class structure; class marginals need a class judge "
                         f"(class_cycle, possibly with noise or ties)")
    return _class_marginal(as_policy(policy), params, judge, key, int(n))


def lm_exploitability(judge: Judge, marginal) -> float:
    """Mean over prompts of max_c Σ_c' M[c, c'] m[c'] − ½ for marginals float[X, C] (or float[C])."""
    m = np.asarray(marginal, np.float64).reshape(-1, np.shape(marginal)[-1])
    matrix = np.asarray(judge.class_matrix, np.float64)
    return float(np.mean(np.max(m @ matrix.T, axis=1) - 0.5))


def mixture_exploitability(judge: Judge, marginals) -> float:
    """Exploitability of the uniform mixture of T policies from their marginals float[T, X, C]."""
    return lm_exploitability(judge, np.mean(np.asarray(marginals, np.float64), axis=0))


@functools.partial(jax.jit, static_argnames=("policy", "judge", "n"))
def _win_rate(policy, params, other, judge, key, n):
    k_a, k_b = jax.random.split(key)
    x = _prompts(policy, n)
    y = policy.judge_view(policy.sample(params, k_a, x).tokens)
    y2 = policy.judge_view(policy.sample(other, k_b, x).tokens)
    return judge.pairs(x, y, y2).mean()


def win_rate(policy, params, other, judge: Judge, key: jax.Array, n: int = 1024) -> float:
    """E[P(y ≻ y' | x)], y ~ π_params, y' ~ π_other, n pairs per prompt."""
    return float(_win_rate(as_policy(policy), params, other, judge, key, int(n)))


@functools.partial(jax.jit, static_argnames=("policy", "judge", "n"))
def _best_response_value(policy, params, judge, key, n):
    x = _prompts(policy, n)
    y = policy.judge_view(policy.sample(params, key, x).tokens)
    best = jax.vmap(judge.best_response)(x)
    return judge.pairs(x, best, y).mean()


def best_response_exploitability(policy, params, judge: Judge, key: jax.Array,
                                 n: int = MIN_EXPLOIT_SAMPLES) -> float:
    """P(y* ≻ π) − ½ for a judge with a known pointwise-dominant response y* (`Judge.best_response`)."""
    if judge.best_response is None:
        raise ValueError(f"judge {judge.name!r} has no known best response")
    return float(_best_response_value(as_policy(policy), params, judge, key, int(n))) - 0.5


def exploitability(policy, params, judge: Judge, key: jax.Array, n: int = MIN_EXPLOIT_SAMPLES):
    """Exploitability of one policy on a class judge or a judge with a known best response; None if neither."""
    if judge.class_of is not None:
        return lm_exploitability(judge, class_marginal(policy, params, judge, key, n))
    if judge.best_response is not None:
        return best_response_exploitability(policy, params, judge, key, n)
    return None


@functools.partial(jax.jit, static_argnames=("policy", "n"))
def _kl(policy, params, ref_params, key, n):
    x = _prompts(policy, n)
    s = policy.sample(params, key, x)
    return (s.logp.sum(-1) - policy.token_logprobs(ref_params, x, s.tokens).sum(-1)).mean()


def kl_to(policy, params, ref_params, key: jax.Array, n: int = 1024) -> float:
    """KL(π ‖ ρ) in nats, estimated as the mean of log π(y)/ρ(y) over n samples y ~ π per prompt."""
    return float(_kl(as_policy(policy), params, ref_params, key, int(n)))


@functools.partial(jax.jit, static_argnames=("policy", "n"))
def _expected_reward(policy, params, weights, key, n):
    x = _prompts(policy, n)
    s = policy.sample(params, key, x)
    return (weights[s.tokens] * s.mask).sum(-1).mean()


def expected_reward(policy, params, weights, key: jax.Array, n: int = 1024) -> float:
    """E_{y~π} Σ_t w[y_t] for per-token reward weights float[V] (the transitive testbed)."""
    return float(_expected_reward(as_policy(policy), params, jnp.asarray(weights, jnp.float32), key, int(n)))


@functools.partial(jax.jit, static_argnames=("policy", "judge", "n"))
def _head_to_head(policy, params, other, judge, key, n):
    k_a, k_b = jax.random.split(key)
    x = _prompts(policy, n)
    y = policy.sample(params, k_a, x).tokens
    y2 = policy.sample(other, k_b, x).tokens
    return judge.pairs(x, policy.judge_view(y), policy.judge_view(y2)), policy.lengths(y), policy.lengths(y2)


def head_to_head(policy, params, other, judge: Judge, key: jax.Array, n: int = 1024) -> dict[str, np.ndarray]:
    """Games of π_params against π_other, n per prompt: outcomes float[X·n] (P(y ≻ y')) and both
    responses' lengths int[X·n] (EOS excluded), for a length-controlled win rate."""
    outcome, len_a, len_b = _head_to_head(as_policy(policy), params, other, judge, key, int(n))
    return dict(outcome=np.asarray(outcome, np.float64), len_a=np.asarray(len_a), len_b=np.asarray(len_b))


@functools.partial(jax.jit, static_argnames=("policy", "n"))
def _mean_length(policy, params, key, n):
    return policy.lengths(policy.sample(params, key, _prompts(policy, n)).tokens).mean()


def mean_length(policy, params, key: jax.Array, n: int = 1024) -> float:
    """Mean response length in tokens (EOS excluded) over n samples per prompt."""
    return float(_mean_length(as_policy(policy), params, key, int(n)))
