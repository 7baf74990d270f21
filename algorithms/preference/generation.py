"""Generation from a causal LM inside `jit`: left-padded prompts, a key/value cache, EOS, temperature, top-p.

    y = generate(config, params, prompt_tokens, prompt_mask, key, SamplingConfig(max_new_tokens=32),
                 eos_id=eos, pad_id=pad)
    y.tokens, y.logp, y.mask, y.sample_logp     # int32[B, L], float32[B, L] x 3 (`Sample`)
    response_logprobs(config, params, prompt_tokens, prompt_mask, y.tokens, eos_id=eos)   # = y.logp

One prefill of the prompts [B, P] fills the cache's first P slots; then one `lax.scan` over the L new
positions feeds one token at a time into slot P + t. Prompts are left-padded so every prompt's last
token sits in slot P − 1, and position ids count only real tokens (padding does not shift them).
A sequence that has emitted EOS keeps running (shapes are static) but its later positions get
`pad_id`, log-probability 0 and mask 0.

π is softmax(logits / temperature): its log-probability is what `logp` reports and what every loss
uses. Top-p < 1 samples from the nucleus of π (the smallest set of top tokens with mass >= top_p,
renormalised); `sample_logp` is the log-probability under that sampling distribution, so
Σ (logp − sample_logp) <= 0 measures how far from π the samples are.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from algorithms import validate
from algorithms.preference import causal_lm

class Sample(NamedTuple):
    """Responses to B prompts.

    tokens: int32[B, L]          the response, `pad_id` after its end
    logp: float32[B, L]          log π(y_t | x, y_<t) (0 after the end) under the policy's π
    mask: float32[B, L]          1 where a token was sampled (EOS included), 0 after the end
    sample_logp: float32[B, L]   log-probability under the sampling distribution (top-p applied)
    """

    tokens: jax.Array
    logp: jax.Array
    mask: jax.Array
    sample_logp: jax.Array


TOP_P_BISECTIONS = 30  # the nucleus threshold to 2^-30 of the top probability


@dataclasses.dataclass(frozen=True)
class SamplingConfig:
    """How responses are sampled (static): at most `max_new_tokens` tokens, temperature, top-p."""

    max_new_tokens: int = 32  # L: response positions (EOS included)
    temperature: float = 1.0  # π = softmax(logits / temperature)
    top_p: float = 1.0  # nucleus sampling: 1 samples from π itself

    def __post_init__(self):
        validate.integer("max_new_tokens", self.max_new_tokens, 1)
        validate.positive("temperature", self.temperature)
        validate.number("top_p", self.top_p, low=0.0, high=1.0, low_open=True)


def nucleus(log_probs: jax.Array, top_p: float) -> jax.Array:
    """float32[..., V]: log-probabilities of the top-p nucleus of each row of log_probs, renormalised
    (−inf outside). The nucleus is {v : p_v >= τ} for the largest τ whose set holds mass >= top_p:
    the top tokens of the sorted definition, found by bisection on τ without a sort (a sort and a
    cumulative sum over a 50 k vocabulary cost far more on CPU than 30 masked sums)."""
    if top_p >= 1.0:
        return log_probs
    p = jnp.exp(log_probs)
    mass_above = lambda tau: jnp.sum(jnp.where(p >= tau[..., None], p, 0.0), -1)  # noqa: E731

    def bisect(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        ok = mass_above(mid) >= top_p
        return jnp.where(ok, mid, lo), jnp.where(ok, hi, mid)

    top = p.max(-1)
    lo, _ = jax.lax.fori_loop(0, TOP_P_BISECTIONS, bisect, (jnp.zeros_like(top), top))
    keep = p >= jnp.minimum(lo, top)[..., None]  # the top token always stays
    kept = jnp.sum(jnp.where(keep, p, 0.0), -1, keepdims=True)
    return jnp.where(keep, log_probs - jnp.log(kept), -jnp.inf)


def response_mask(y: jax.Array, eos_id: int | None) -> jax.Array:
    """float32[B, L]: 1 up to and including each response's first EOS, 0 after (all 1 without EOS)."""
    if eos_id is None:
        return jnp.ones(y.shape, jnp.float32)
    is_eos = (y == eos_id).astype(jnp.int32)
    ended_before = jnp.cumsum(is_eos, axis=-1) - is_eos  # L is small: the O(L²) CPU cumsum is cheap here
    return (ended_before == 0).astype(jnp.float32)


def _step_log_probs(logits: jax.Array, temperature: float) -> jax.Array:
    return jax.nn.log_softmax(logits.astype(jnp.float32) / temperature)


def generate(config: causal_lm.CausalLMConfig, params, prompt_tokens: jax.Array, prompt_mask: jax.Array,
             key: jax.Array, sampling: SamplingConfig, *, eos_id: int | None, pad_id: int,
             mixture_params=None, mixture_weight: float = 0.0) -> Sample:
    """Sample one response per prompt (see the module docstring).

    prompt_tokens int32[B, P] and prompt_mask bool[B, P], left-padded (each row's last slot real).
    With `mixture_params`, samples the token-level geometric mixture
    π^μ(· | x, y_<t) ∝ π^{1−w} ρ^{w} (w = mixture_weight, ρ the mixture model, both tempered):
    Nash-MD's sampler, `logp` then normalised per token under π^μ.
    """
    b, p_len = prompt_tokens.shape
    steps = sampling.max_new_tokens
    slots = p_len + steps
    kv_mask = jnp.concatenate([prompt_mask.astype(bool), jnp.ones((b, steps), bool)], axis=1)
    positions = causal_lm.positions_from_mask(prompt_mask)
    prompt_len = prompt_mask.astype(jnp.int32).sum(-1)
    models = [params] if mixture_params is None else [params, mixture_params]

    def prefill(prm):
        logits, cache = causal_lm.forward(config, prm, prompt_tokens, positions, kv_mask,
                                          causal_lm.init_cache(config, b, slots), 0)
        return logits[:, -1], cache

    last, caches = zip(*[prefill(m) for m in models])

    def log_probs(last_logits):
        lp = _step_log_probs(last_logits[0], sampling.temperature)
        if mixture_params is not None:
            ref = _step_log_probs(last_logits[1], sampling.temperature)
            lp = jax.nn.log_softmax((1.0 - mixture_weight) * lp + mixture_weight * ref)
        return lp

    def step(carry, xs):
        caches, last_logits, done = carry
        t, k = xs
        lp = log_probs(last_logits)
        lq = nucleus(lp, sampling.top_p)
        token = jax.random.categorical(k, lq).astype(jnp.int32)
        live = ~done
        token = jnp.where(live, token, pad_id)
        pick = lambda a: jnp.take_along_axis(a, token[:, None], axis=-1)[:, 0]  # noqa: E731
        logp = jnp.where(live, pick(lp), 0.0)
        sample_logp = jnp.where(live, pick(lq), 0.0)
        done = done | (live & (token == eos_id)) if eos_id is not None else done
        pos = (prompt_len + t)[:, None]
        out = [causal_lm.forward(config, m, token[:, None], pos, kv_mask, c, p_len + t)
               for m, c in zip(models, caches)]
        new_last = tuple(o[0][:, 0] for o in out)
        new_caches = tuple(o[1] for o in out)
        return (new_caches, new_last, done), (token, logp, live.astype(jnp.float32), sample_logp)

    xs = (jnp.arange(steps, dtype=jnp.int32), jax.random.split(key, steps))
    init = (tuple(caches), tuple(last), jnp.zeros((b,), bool))
    _, (tokens, logp, mask, sample_logp) = jax.lax.scan(step, init, xs)
    return Sample(tokens.T, logp.T, mask.T, sample_logp.T)


def response_logprobs(config: causal_lm.CausalLMConfig, params, prompt_tokens: jax.Array, prompt_mask: jax.Array,
                      y: jax.Array, *, eos_id: int | None, temperature: float = 1.0) -> jax.Array:
    """float32[B, L]: log π(y_t | x, y_<t) under π = softmax(logits / temperature), 0 after each
    response's end; one forward pass (no cache) over [prompt, response]."""
    b, p_len = prompt_tokens.shape
    tokens = jnp.concatenate([prompt_tokens, y], axis=1)
    mask = response_mask(y, eos_id)
    kv_mask = jnp.concatenate([prompt_mask.astype(bool), mask > 0], axis=1)
    prompt_len = prompt_mask.astype(jnp.int32).sum(-1)
    positions = jnp.concatenate([causal_lm.positions_from_mask(prompt_mask),
                                 prompt_len[:, None] + jnp.arange(y.shape[1], dtype=jnp.int32)[None]], axis=1)
    logits, _ = causal_lm.forward(config, params, tokens, positions, kv_mask)
    lp = _step_log_probs(logits[:, p_len - 1:-1], temperature)  # slot P − 1 + t predicts y_t
    return jnp.take_along_axis(lp, y[..., None], axis=-1)[..., 0] * mask
