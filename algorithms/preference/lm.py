"""A small decoder-only transformer policy over short token sequences (flax.linen).

    config = LMConfig(vocab=16, length=8)          # frozen, hashable: closed over by jit
    params = init_params(key, config)              # ~0.1 M parameters by default
    y, logp = sample(config, params, key, prompt)  # prompt int32[B] -> y int32[B, L], logp float32[B, L]
    sequence_logprob(config, params, prompt, y)    # float32[B] = Σ_t log π(y_t | x, y_<t)
    params, losses = sft(config, params, key, uniform_data(config), steps=100)

A prompt is an id int32[] in [0, n_prompts) whose embedding is added at every position; the model
reads [BOS, y_0, ..., y_{L−2}] (BOS = vocab) and predicts y_0..y_{L−1}. The output layer starts at
zero, so a fresh model is exactly the uniform-token policy.

`prefix_mod = m > 0` adds one input feature: an embedding of the running sum of the response's tokens
modulo m. The class-cycle judge scores (Σ_t y_t) mod 3, a parity-like function of all the tokens
that gradient descent does not find from scratch at this scale (SFT on sequences whose last token
fixes the sum mod 3: no progress in 600 Adam steps at batch 128); with the feature the class is
one lookup away, as a pretrained model's features would make it. Off by default. Sampling is one `lax.scan` over the L
positions; each step runs the causal model over the whole (masked) buffer, which for L <= 16 costs
less than keeping a key/value cache.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from algorithms import validate


@dataclasses.dataclass(frozen=True)
class LMConfig:
    """Shapes of the policy (static): vocabulary V, response length L, prompts, transformer sizes."""

    vocab: int = 16  # V tokens
    length: int = 8  # L tokens per response
    n_prompts: int = 1  # distinct prompts
    d_model: int = 64  # transformer width
    n_layers: int = 2  # transformer blocks
    n_heads: int = 4  # attention heads (divide d_model)
    d_mlp: int = 256  # hidden width of each block's MLP
    prefix_mod: int = 0  # > 0: an input embedding of the running token sum modulo prefix_mod (see below)

    def __post_init__(self):
        for name in ("vocab", "length", "n_prompts", "d_model", "n_layers", "n_heads", "d_mlp", "prefix_mod"):
            validate.integer(f"LMConfig.{name}", getattr(self, name), {"vocab": 2, "prefix_mod": 0}.get(name, 1))
        if self.d_model % self.n_heads:
            raise ValueError(f"LMConfig.d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")

    @property
    def bos(self) -> int:
        return self.vocab


class _Block(nn.Module):
    """Pre-LayerNorm causal self-attention and MLP, residual. x float32[B, L, D]."""

    config: LMConfig
    decode: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, mask: jax.Array | None) -> jax.Array:
        c = self.config
        h = nn.LayerNorm()(x)
        attention = nn.MultiHeadDotProductAttention(num_heads=c.n_heads, qkv_features=c.d_model, decode=self.decode)
        x = x + attention(h, h, mask=mask)
        h = nn.LayerNorm()(x)
        h = nn.Dense(c.d_mlp)(h)
        return x + nn.Dense(c.d_model)(nn.gelu(h))


class TransformerLM(nn.Module):
    """(prompt int32[B], inputs int32[B, L'] with BOS first, positions int32[L']) -> next-token
    logits float32[B, L', V]. With decode=True the attention keeps a key/value cache ("cache"
    collection) and the inputs are one position at a time (L' = 1)."""

    config: LMConfig
    decode: bool = False

    @nn.compact
    def __call__(self, prompt: jax.Array, inputs: jax.Array, positions: jax.Array | None = None,
                 prefix_sum: jax.Array | None = None) -> jax.Array:
        c = self.config
        if positions is None:
            positions = jnp.arange(inputs.shape[-1])
        x = nn.Embed(c.vocab + 1, c.d_model, name="tokens")(inputs)
        x = x + nn.Embed(c.length, c.d_model, name="positions")(positions)[None]
        x = x + nn.Embed(c.n_prompts, c.d_model, name="prompts")(prompt)[:, None]
        if c.prefix_mod:
            if prefix_sum is None:  # full sequences: Σ of the tokens up to and including this input
                prefix_sum = jnp.cumsum(jnp.where(inputs == c.bos, 0, inputs), axis=-1)
            x = x + nn.Embed(c.prefix_mod, c.d_model, name="prefix_mod")(prefix_sum % c.prefix_mod)
        mask = None if self.decode else nn.make_causal_mask(inputs)
        for i in range(c.n_layers):
            x = _Block(c, self.decode, name=f"block_{i}")(x, mask)
        x = nn.LayerNorm()(x)
        return nn.Dense(c.vocab, kernel_init=nn.initializers.zeros, name="head")(x)


def init_params(key: jax.Array, config: LMConfig):
    """Fresh parameters (the uniform-token policy: the head starts at zero)."""
    dummy = jnp.zeros((1, config.length), jnp.int32)
    return TransformerLM(config).init(key, jnp.zeros((1,), jnp.int32), dummy)["params"]


def param_count(params) -> int:
    return int(sum(np.prod(np.shape(p)) for p in jax.tree_util.tree_leaves(params)))


def logits(config: LMConfig, params, prompt: jax.Array, inputs: jax.Array) -> jax.Array:
    """float32[B, L, V] next-token logits for inputs int32[B, L] (BOS first)."""
    return TransformerLM(config).apply({"params": params}, prompt, inputs)


def shift_right(config: LMConfig, y: jax.Array) -> jax.Array:
    """int32[B, L]: [BOS, y_0, ..., y_{L−2}], the model's inputs for targets y int32[B, L]."""
    bos = jnp.full(y.shape[:-1] + (1,), config.bos, y.dtype)
    return jnp.concatenate([bos, y[..., :-1]], axis=-1)


def token_logprobs(config: LMConfig, params, prompt: jax.Array, y: jax.Array) -> jax.Array:
    """float32[B, L]: log π(y_t | x, y_<t) for prompt int32[B], y int32[B, L]."""
    chex.assert_rank(y, 2)
    logp = jax.nn.log_softmax(logits(config, params, prompt, shift_right(config, y)))
    return jnp.take_along_axis(logp, y[..., None], axis=-1)[..., 0]


def sequence_logprob(config: LMConfig, params, prompt: jax.Array, y: jax.Array) -> jax.Array:
    """float32[B]: log π(y | x), summed over the L tokens."""
    return token_logprobs(config, params, prompt, y).sum(-1)


def _empty_cache(config: LMConfig, batch: int):
    """The decode model's key/value cache for `batch` sequences of config.length (all zeros)."""
    model = TransformerLM(config, decode=True)
    shapes = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((batch,), jnp.int32),
                                               jnp.zeros((batch, config.length), jnp.int32)))
    return jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shapes["cache"])


def sample_with(next_log_probs: Callable, n_models: int, config: LMConfig, key: jax.Array, prompt: jax.Array):
    """Sample responses token by token: one `lax.scan` over the L positions, each step one token
    through the cached decode model(s).

    next_log_probs(caches, prompt int32[B], token int32[B], t int32[], prefix_sum int32[B]) ->
    (log-probabilities float32[B, V] of y_t, new caches): one decode step of `n_models` models,
    caches a tuple of their key/value caches; prefix_sum is Σ_{s<t} y_s. Returns (y int32[B, L], logp float32[B, L], the sampled tokens' log-probabilities).
    """
    b = prompt.shape[0]
    caches = tuple(_empty_cache(config, b) for _ in range(n_models))

    def step(carry, xs):
        caches, previous, total = carry
        t, k = xs
        logp, caches = next_log_probs(caches, prompt, previous, t, total)
        token = jax.random.categorical(k, logp).astype(jnp.int32)
        chosen = jnp.take_along_axis(logp, token[:, None], axis=-1)[:, 0]
        return (caches, token, total + token), (token, chosen)

    start = jnp.full((b,), config.bos, jnp.int32)
    xs = (jnp.arange(config.length), jax.random.split(key, config.length))
    _, (tokens, logps) = jax.lax.scan(step, (caches, start, jnp.zeros((b,), jnp.int32)), xs)
    return tokens.T, logps.T


def decode_step(config: LMConfig, params, cache, prompt: jax.Array, token: jax.Array, t: jax.Array,
                prefix_sum: jax.Array):
    """(logits float32[B, V] of the next token, new cache) after feeding token int32[B] at position t;
    prefix_sum int32[B]: the sum of the tokens fed so far, this one included (BOS counts 0)."""
    out, variables = TransformerLM(config, decode=True).apply(
        {"params": params, "cache": cache}, prompt, token[:, None], t[None], prefix_sum[:, None], mutable=["cache"])
    return out[:, 0], variables["cache"]


def sample(config: LMConfig, params, key: jax.Array, prompt: jax.Array):
    """(y int32[B, L], logp float32[B, L]) sampled from π_params(· | prompt) for prompt int32[B]."""

    def next_log_probs(caches, x, token, t, total):
        out, cache = decode_step(config, params, caches[0], x, token, t, total)
        return jax.nn.log_softmax(out), (cache,)

    return sample_with(next_log_probs, 1, config, key, prompt)


def sample_mixture(config: LMConfig, params, ref_params, weight: float, key: jax.Array, prompt: jax.Array):
    """Sample from the token-level geometric mixture π^μ(y_t | ·) ∝ π^{1−w} ρ^{w} (Nash-MD's
    approximation of the sequence-level mixture). Returns (y int32[B, L], logp float32[B, L] under π^μ)."""

    def next_log_probs(caches, x, token, t, total):
        out, cache = decode_step(config, params, caches[0], x, token, t, total)
        out_ref, cache_ref = decode_step(config, ref_params, caches[1], x, token, t, total)
        mixed = (1.0 - weight) * jax.nn.log_softmax(out) + weight * jax.nn.log_softmax(out_ref)
        return jax.nn.log_softmax(mixed), (cache, cache_ref)

    return sample_with(next_log_probs, 2, config, key, prompt)


def random_prompts(config: LMConfig, key: jax.Array, n: int) -> jax.Array:
    """int32[n] prompts drawn uniformly from [0, n_prompts)."""
    return jax.random.randint(key, (n,), 0, config.n_prompts, jnp.int32)


# ----------------------------------------------------------------------------- SFT
def uniform_data(config: LMConfig) -> Callable:
    """data_fn(key, batch) -> (prompt int32[B], y int32[B, L]): uniform prompts and tokens."""

    def data(key, batch):
        k_x, k_y = jax.random.split(key)
        return random_prompts(config, k_x, batch), jax.random.randint(k_y, (batch, config.length), 0, config.vocab)

    return data


def sft_loss(config: LMConfig, params, prompt: jax.Array, y: jax.Array) -> jax.Array:
    """Mean next-token cross-entropy (nats per token) of y int32[B, L]."""
    return -token_logprobs(config, params, prompt, y).mean()


@functools.partial(jax.jit, static_argnames=("config", "data_fn", "steps", "batch", "learning_rate"))
def _sft(config, params, key, data_fn, steps, batch, learning_rate):
    tx = optax.adam(learning_rate)

    def step(carry, k):
        params, opt = carry
        prompt, y = data_fn(k, batch)
        loss, grads = jax.value_and_grad(lambda p: sft_loss(config, p, prompt, y))(params)
        updates, opt = tx.update(grads, opt, params)
        return (optax.apply_updates(params, updates), opt), loss

    (params, _), losses = jax.lax.scan(step, (params, tx.init(params)), jax.random.split(key, steps))
    return params, losses


def sft(config: LMConfig, params, key: jax.Array, data_fn: Callable, steps: int = 100, batch: int = 64,
        learning_rate: float = 1e-3):
    """Supervised fine-tuning on data generated in code: `steps` Adam steps on batches of data_fn.
    Returns (params, losses float32[steps]). The result is the reference policy ρ of the learners."""
    for name, value in (("steps", steps), ("batch", batch)):
        validate.integer(f"sft {name}", value, 1)
    return _sft(config, params, key, data_fn, int(steps), int(batch), float(learning_rate))
