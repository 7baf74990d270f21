"""Pretrained-style causal language models (GPT-2 and Llama families) as flax linen modules.

    config = CausalLMConfig(family="llama", vocab_size=300, n_layers=2, d_model=32, n_heads=4, n_kv_heads=2)
    params = init_params(config, key)                             # GPT-2 style N(0, 0.02) init
    out = logits(config, params, tokens, attention_mask)          # float32[B, T, V]
    cache = init_cache(config, batch=B, slots=S)                  # explicit key/value cache
    out, cache = forward(config, params, tokens, positions, kv_mask, cache, start)

`hf_format.load_causal_lm(path)` reads a Hugging Face folder (config.json, safetensors, tokenizer.json)
into a `CausalLM`; `hf_format.save_causal_lm` writes one back. The parameter names mirror the Hugging
Face tensor names (`h_0/attn/c_attn`, `layers_0/self_attn/q_proj`, ...) so the mapping stays one line
per tensor. Kernels are [in, out] as in flax; GPT-2's fused QKV kernel is float32[D, 3, D] (q, k, v
along axis 1) so that splitting its last axis splits heads, for q, k and v alike.

The key/value cache is an explicit pytree, dict(k=float32[L, B, S, Hkv, hd], v=...), rather than flax's
"cache" collection: a caller driving generation owns the slot arithmetic (prefill at `start=0`,
then one token at `start=t`), and can batch, copy or reorder caches as plain arrays.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from algorithms import validate

FAMILIES = ("gpt2", "llama")
# HF activation names for gelu_new: the same tanh approximation under two names
_GPT2_ACTIVATIONS = ("gelu_new", "gelu_pytorch_tanh")
_LLAMA_ACTIVATIONS = ("silu", "swish")


@dataclasses.dataclass(frozen=True)
class CausalLMConfig:
    """Static shapes of a causal LM (hashable: closed over by jit).

    n_kv_heads None → n_heads; d_ff None → 4·d_model; tie_embeddings None → True for gpt2 (its output
    head is always wte), False for llama. Token ids are ints in [0, vocab_size) or None.
    """

    family: str
    vocab_size: int
    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int | None = None
    d_ff: int | None = None
    max_positions: int = 1024
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    tie_embeddings: bool | None = None
    bos_id: int | None = None
    eos_id: int | None = None
    pad_id: int | None = None

    def __post_init__(self):
        validate.choice("CausalLMConfig.family", self.family, FAMILIES)
        # frozen: the defaults that depend on other fields are filled in place, once
        if self.n_kv_heads is None:
            object.__setattr__(self, "n_kv_heads", self.n_heads)
        if self.d_ff is None:
            object.__setattr__(self, "d_ff", 4 * self.d_model if isinstance(self.d_model, int) else self.d_model)
        if self.tie_embeddings is None:
            object.__setattr__(self, "tie_embeddings", self.family == "gpt2")
        for name in ("vocab_size", "n_layers", "d_model", "n_heads", "n_kv_heads", "d_ff", "max_positions"):
            object.__setattr__(self, name, validate.integer(f"CausalLMConfig.{name}", getattr(self, name), 1))
        object.__setattr__(self, "norm_eps", validate.number("CausalLMConfig.norm_eps", self.norm_eps, low=0.0,
                                                             low_open=True))
        object.__setattr__(self, "rope_theta", validate.number("CausalLMConfig.rope_theta", self.rope_theta,
                                                               low=1.0, low_open=True))
        if not isinstance(self.tie_embeddings, (bool, np.bool_)):
            raise ValueError(f"CausalLMConfig.tie_embeddings must be a bool, got {self.tie_embeddings!r}")
        object.__setattr__(self, "tie_embeddings", bool(self.tie_embeddings))
        for name in ("bos_id", "eos_id", "pad_id"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, validate.index(f"CausalLMConfig.{name}", value, self.vocab_size,
                                                              "a token id"))
        if self.d_model % self.n_heads:
            raise ValueError(f"CausalLMConfig.d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"CausalLMConfig.n_heads ({self.n_heads}) must be divisible by n_kv_heads "
                             f"({self.n_kv_heads}): each key/value head serves a whole group of query heads")
        if self.family == "gpt2":
            if self.n_kv_heads != self.n_heads:
                raise ValueError(f"CausalLMConfig.n_kv_heads must equal n_heads ({self.n_heads}) for gpt2 "
                                 f"(no grouped-query attention), got {self.n_kv_heads}")
            if not self.tie_embeddings:
                raise ValueError("CausalLMConfig.tie_embeddings must be True for gpt2 (its output head is wte)")
        elif self.head_dim % 2:
            raise ValueError(f"CausalLMConfig head_dim (d_model / n_heads = {self.head_dim}) must be even for "
                             "llama: RoPE rotates pairs of features")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    # ------------------------------------------------------------------ Hugging Face config.json
    @classmethod
    def from_hf(cls, hf: dict) -> CausalLMConfig:
        """The config of a Hugging Face config.json dict (model_type "gpt2" or "llama")."""
        if not isinstance(hf, dict):
            raise ValueError(f"a Hugging Face config must be a dict (config.json's object), got {type(hf).__name__}")
        model_type = hf.get("model_type")
        validate.choice("model_type", model_type, FAMILIES)

        def need(key):
            if key not in hf:
                raise ValueError(f"Hugging Face {model_type} config lacks {key!r}")
            return hf[key]

        ids = {f"{name}_id": _first_id(hf.get(f"{name}_token_id")) for name in ("bos", "eos", "pad")}
        if model_type == "gpt2":
            act = hf.get("activation_function", "gelu_new")
            if act not in _GPT2_ACTIVATIONS:
                raise ValueError(f"unsupported gpt2 activation_function {act!r}; allowed: "
                                 f"{', '.join(_GPT2_ACTIVATIONS)}")
            for key, ok in (("scale_attn_by_inverse_layer_idx", False), ("add_cross_attention", False),
                            ("scale_attn_weights", True), ("tie_word_embeddings", True)):
                if hf.get(key, ok) != ok:
                    raise ValueError(f"unsupported gpt2 config {key}={hf[key]!r}; only {ok} is implemented")
            d = need("n_embd")
            return cls(family="gpt2", vocab_size=need("vocab_size"), n_layers=need("n_layer"), d_model=d,
                       n_heads=need("n_head"), d_ff=hf.get("n_inner") or 4 * d,
                       max_positions=need("n_positions"), norm_eps=hf.get("layer_norm_epsilon", 1e-5), **ids)
        act = hf.get("hidden_act", "silu")
        if act not in _LLAMA_ACTIVATIONS:
            raise ValueError(f"unsupported llama hidden_act {act!r}; allowed: {', '.join(_LLAMA_ACTIVATIONS)}")
        if hf.get("rope_scaling") is not None:
            raise ValueError(f"unsupported llama rope_scaling {hf['rope_scaling']!r}; only None (plain RoPE) is "
                             "implemented")
        theta = hf.get("rope_theta", 10000.0)
        rope = hf.get("rope_parameters")  # transformers >= 5 keeps theta (and any scaling) here
        if rope is not None:
            if not isinstance(rope, dict) or rope.get("rope_type", "default") != "default":
                raise ValueError(f"unsupported llama rope_parameters {rope!r}; only rope_type 'default' is "
                                 "implemented")
            theta = rope.get("rope_theta", theta)
        for key in ("attention_bias", "mlp_bias"):
            if hf.get(key):
                raise ValueError(f"unsupported llama config {key}=True; only bias-free projections are implemented")
        d, n_heads = need("hidden_size"), need("num_attention_heads")
        head_dim = hf.get("head_dim")
        if head_dim is not None and isinstance(d, int) and isinstance(n_heads, int) and n_heads \
                and head_dim != d // n_heads:
            raise ValueError(f"unsupported llama head_dim {head_dim}; only hidden_size / num_attention_heads "
                             f"({d // n_heads}) is implemented")
        if hf.get("pretraining_tp", 1) not in (1, None):
            raise ValueError(f"unsupported llama pretraining_tp {hf['pretraining_tp']!r}; only 1 is implemented")
        return cls(family="llama", vocab_size=need("vocab_size"), n_layers=need("num_hidden_layers"), d_model=d,
                   n_heads=n_heads, n_kv_heads=hf.get("num_key_value_heads") or n_heads,
                   d_ff=need("intermediate_size"), max_positions=hf.get("max_position_embeddings", 2048),
                   norm_eps=hf.get("rms_norm_eps", 1e-6), rope_theta=theta,
                   tie_embeddings=bool(hf.get("tie_word_embeddings", False)), **ids)

    def to_hf(self) -> dict:
        """A Hugging Face config.json dict (what `from_hf` reads back to an equal config)."""
        ids = {f"{name}_token_id": getattr(self, f"{name}_id") for name in ("bos", "eos", "pad")}
        if self.family == "gpt2":
            return dict(model_type="gpt2", architectures=["GPT2LMHeadModel"], vocab_size=self.vocab_size,
                        n_embd=self.d_model, n_layer=self.n_layers, n_head=self.n_heads, n_inner=self.d_ff,
                        n_positions=self.max_positions, n_ctx=self.max_positions,
                        layer_norm_epsilon=self.norm_eps, activation_function="gelu_new",
                        tie_word_embeddings=True, scale_attn_weights=True, **ids)
        return dict(model_type="llama", architectures=["LlamaForCausalLM"], vocab_size=self.vocab_size,
                    hidden_size=self.d_model, num_hidden_layers=self.n_layers, num_attention_heads=self.n_heads,
                    num_key_value_heads=self.n_kv_heads, intermediate_size=self.d_ff,
                    max_position_embeddings=self.max_positions, rms_norm_eps=self.norm_eps,
                    rope_theta=self.rope_theta, rope_scaling=None, hidden_act="silu",
                    tie_word_embeddings=self.tie_embeddings, attention_bias=False, mlp_bias=False, **ids)


def _first_id(value):
    """A token id from config.json: an int, None, or (Llama 3's several eos ids) the first of a list."""
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    return value


# ----------------------------------------------------------------------------- modules
_INIT = nn.initializers.normal(0.02)


def _rope(x: jax.Array, positions: jax.Array, theta: float) -> jax.Array:
    """x float32[B, T, H, hd] rotated by positions int32[B, T], in HF's "rotate_half" layout: feature i
    pairs with i + hd/2 (HF checkpoints' q/k rows are permuted for that pairing, not interleaved)."""
    half = x.shape[-1] // 2
    inv_freq = 1.0 / (theta ** (np.arange(0, half, dtype=np.float32) * 2.0 / x.shape[-1]))
    angles = positions.astype(jnp.float32)[..., None] * inv_freq  # [B, T, hd/2]
    cos, sin = jnp.cos(angles)[:, :, None], jnp.sin(angles)[:, :, None]
    x1, x2 = x[..., :half], x[..., half:]
    return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)


def _dense(features, name, bias):
    return nn.Dense(features, use_bias=bias, kernel_init=_INIT, name=name)


class _Attention(nn.Module):
    """Causal self-attention over new tokens x float32[B, T, D] and (optionally) cached slots."""

    config: CausalLMConfig

    @nn.compact
    def __call__(self, x, positions, mask, cache_kv, start):
        c = self.config
        b, t, _ = x.shape
        h, kv, hd = c.n_heads, c.n_kv_heads, c.head_dim
        if c.family == "gpt2":
            qkv = nn.DenseGeneral((3, c.d_model), kernel_init=_INIT, name="c_attn")(x)  # [B, T, 3, D]
            q, k, v = (qkv[:, :, i].reshape(b, t, h, hd) for i in range(3))
        else:
            q = _dense(h * hd, "q_proj", False)(x).reshape(b, t, h, hd)
            k = _dense(kv * hd, "k_proj", False)(x).reshape(b, t, kv, hd)
            v = _dense(kv * hd, "v_proj", False)(x).reshape(b, t, kv, hd)
            q, k = _rope(q, positions, c.rope_theta), _rope(k, positions, c.rope_theta)
        new_kv = None
        if cache_kv is not None:
            k_cache, v_cache = cache_kv
            at = (0, start, 0, 0)
            k = jax.lax.dynamic_update_slice(k_cache, k.astype(k_cache.dtype), at)
            v = jax.lax.dynamic_update_slice(v_cache, v.astype(v_cache.dtype), at)
            new_kv = (k, v)
        q = q.reshape(b, t, kv, h // kv, hd)  # query head kv·G + g reads key head kv (HF's repeat_kv)
        scores = jnp.einsum("btkgd,bskd->bkgts", q.astype(jnp.float32), k.astype(jnp.float32)) / math.sqrt(hd)
        # finfo.min, not −inf: a row with no visible key (a padding query) stays finite (uniform), never NaN
        scores = jnp.where(mask[:, None, None], scores, jnp.finfo(jnp.float32).min)
        weights = jax.nn.softmax(scores, axis=-1)
        out = jnp.einsum("bkgts,bskd->btkgd", weights, v.astype(jnp.float32)).reshape(b, t, h * hd)
        if c.family == "gpt2":
            return _dense(c.d_model, "c_proj", True)(out), new_kv
        return _dense(c.d_model, "o_proj", False)(out), new_kv


class _Block(nn.Module):
    config: CausalLMConfig

    @nn.compact
    def __call__(self, x, positions, mask, cache_kv, start):
        c = self.config
        if c.family == "gpt2":
            norm = functools.partial(nn.LayerNorm, epsilon=c.norm_eps, use_fast_variance=False)
            a, new_kv = _Attention(c, name="attn")(norm(name="ln_1")(x), positions, mask, cache_kv, start)
            x = x + a
            h = norm(name="ln_2")(x)
            h = _GPT2MLP(c, name="mlp")(h)
            return x + h, new_kv
        norm = functools.partial(nn.RMSNorm, epsilon=c.norm_eps)
        a, new_kv = _Attention(c, name="self_attn")(norm(name="input_layernorm")(x), positions, mask, cache_kv,
                                                    start)
        x = x + a
        return x + _SwiGLU(c, name="mlp")(norm(name="post_attention_layernorm")(x)), new_kv


class _GPT2MLP(nn.Module):
    config: CausalLMConfig

    @nn.compact
    def __call__(self, x):
        h = jax.nn.gelu(_dense(self.config.d_ff, "c_fc", True)(x), approximate=True)  # gelu_new
        return _dense(self.config.d_model, "c_proj", True)(h)


class _SwiGLU(nn.Module):
    config: CausalLMConfig

    @nn.compact
    def __call__(self, x):
        c = self.config
        h = jax.nn.silu(_dense(c.d_ff, "gate_proj", False)(x)) * _dense(c.d_ff, "up_proj", False)(x)
        return _dense(c.d_model, "down_proj", False)(h)


class CausalTransformer(nn.Module):
    """(tokens int32[B, T], positions int32[B, T], mask bool[B, T, S], cache or None, start) ->
    (logits float32[B, T, V], new cache or None). Use `forward`, which builds the mask."""

    config: CausalLMConfig

    @nn.compact
    def __call__(self, tokens, positions, mask, cache, start):
        c = self.config
        embed = nn.Embed(c.vocab_size, c.d_model, embedding_init=_INIT,
                         name="wte" if c.family == "gpt2" else "embed_tokens")
        x = embed(tokens).astype(jnp.float32)
        if c.family == "gpt2":
            x = x + nn.Embed(c.max_positions, c.d_model, embedding_init=_INIT, name="wpe")(positions)
        new_k, new_v = [], []
        for i in range(c.n_layers):
            layer_kv = None if cache is None else (cache["k"][i], cache["v"][i])
            name = f"h_{i}" if c.family == "gpt2" else f"layers_{i}"
            x, kv = _Block(c, name=name)(x, positions, mask, layer_kv, start)
            if kv is not None:
                new_k.append(kv[0])
                new_v.append(kv[1])
        if c.family == "gpt2":
            x = nn.LayerNorm(epsilon=c.norm_eps, use_fast_variance=False, name="ln_f")(x)
        else:
            x = nn.RMSNorm(epsilon=c.norm_eps, name="norm")(x)
        if c.tie_embeddings:
            out = embed.attend(x)
        else:
            out = nn.Dense(c.vocab_size, use_bias=False, kernel_init=_INIT, name="lm_head")(x)
        new_cache = None if cache is None else dict(k=jnp.stack(new_k), v=jnp.stack(new_v))
        return out.astype(jnp.float32), new_cache


# ----------------------------------------------------------------------------- the pure-function API
def _check_config(config) -> CausalLMConfig:
    if not isinstance(config, CausalLMConfig):
        raise ValueError(f"config must be a CausalLMConfig, got {type(config).__name__}")
    return config


def init_params(config: CausalLMConfig, key: jax.Array):
    """Random parameters: kernels and embeddings N(0, 0.02) (GPT-2's init), biases 0, norm scales 1."""
    return _init(_check_config(config), key)


@functools.lru_cache(maxsize=32)
def param_shapes(config: CausalLMConfig):
    """The params pytree of `config` as jax.ShapeDtypeStruct leaves (traced once per config, nothing computed;
    shared: do not edit it)."""
    tokens = jnp.zeros((1, 1), jnp.int32)
    mask = jnp.ones((1, 1, 1), bool)
    init = lambda: CausalTransformer(config).init(jax.random.PRNGKey(0), tokens, tokens, mask, None, 0)["params"]
    return jax.eval_shape(init)


@functools.partial(jax.jit, static_argnums=0)
def _init(config: CausalLMConfig, key: jax.Array):
    # One normal draw sliced into the matrices rather than flax's init: the same distribution, but one
    # random op to compile instead of one per parameter (seconds on a small CPU).
    leaves, tree = jax.tree_util.tree_flatten_with_path(param_shapes(config))
    sizes = [int(np.prod(s.shape)) for path, s in leaves if path[-1].key not in ("scale", "bias")]
    noise = 0.02 * jax.random.normal(key, (sum(sizes),), jnp.float32)
    out, offset = [], 0
    for path, s in leaves:
        if path[-1].key == "scale":
            out.append(jnp.ones(s.shape, s.dtype))
        elif path[-1].key == "bias":
            out.append(jnp.zeros(s.shape, s.dtype))
        else:
            size = int(np.prod(s.shape))
            out.append(noise[offset:offset + size].reshape(s.shape))
            offset += size
    return jax.tree_util.tree_unflatten(tree, out)


def init_cache(config: CausalLMConfig, batch: int, slots: int, dtype=jnp.float32):
    """An empty key/value cache: dict(k=float32[n_layers, B, S, n_kv_heads, head_dim], v=same), S = slots."""
    _check_config(config)
    batch, slots = validate.integer("init_cache batch", batch, 1), validate.integer("init_cache slots", slots, 1)
    shape = (config.n_layers, batch, slots, config.n_kv_heads, config.head_dim)
    return dict(k=jnp.zeros(shape, dtype), v=jnp.zeros(shape, dtype))


def forward(config: CausalLMConfig, params, tokens: jax.Array, positions: jax.Array, kv_mask: jax.Array,
            cache=None, start=0):
    """(logits float32[B, T, V], new_cache) for tokens int32[B, T] at absolute positions int32[B, T].

    Without a cache, S == T and query i sees key j iff kv_mask[b, j] and j <= i. With a cache
    (`init_cache`, S slots) the T new keys/values go to slots [start, start + T) and query i (slot
    start + i) sees slot j iff kv_mask[b, j] and j <= start + i; `start` may be a traced int32 scalar
    (the caller keeps start + T <= S: `lax.dynamic_update_slice` would clamp, not fail). For left-padded
    prompts pass positions = cumsum(mask) − 1, so padding does not shift the real tokens' positions;
    negative positions (padding) are read as 0; GPT-2 positions >= max_positions have no embedding
    (NaN logits for the row: loud, not a silent clip). new_cache is None when cache is None.
    """
    _check_config(config)
    chex.assert_rank([tokens, positions, kv_mask], 2)
    chex.assert_equal_shape([tokens, positions])
    b, t = tokens.shape
    if cache is None:
        chex.assert_shape(kv_mask, (b, t))
        start = 0
    else:
        chex.assert_shape([cache["k"], cache["v"]],
                          (config.n_layers, b, kv_mask.shape[1], config.n_kv_heads, config.head_dim))
    s = kv_mask.shape[1]
    start = jnp.asarray(start, jnp.int32)
    visible = jnp.arange(s)[None, :] <= start + jnp.arange(t)[:, None]  # [T, S]
    mask = kv_mask.astype(bool)[:, None, :] & visible[None]
    positions = jnp.maximum(positions.astype(jnp.int32), 0)
    return CausalTransformer(config).apply({"params": params}, tokens.astype(jnp.int32), positions, mask, cache,
                                           start)


def positions_from_mask(attention_mask: jax.Array) -> jax.Array:
    """int32[B, T] position ids of a padded batch: cumsum(mask) − 1 clipped at 0, so each row's first real
    token is at 0 (left padding reads 0; right padding repeats the last position, masked out anyway)."""
    return jnp.maximum(jnp.cumsum(attention_mask.astype(jnp.int32), axis=-1) - 1, 0)


def logits(config: CausalLMConfig, params, tokens: jax.Array, attention_mask: jax.Array | None = None) -> jax.Array:
    """float32[B, T, V] next-token logits of tokens int32[B, T]; attention_mask bool/int[B, T] (1 = real),
    None = no padding. Positions come from the mask, so left padding shifts nothing. Not jitted itself:
    call it inside your jit, or use `CausalLM.logits`."""
    _check_config(config)
    chex.assert_rank(tokens, 2)
    if attention_mask is None:
        attention_mask = jnp.ones(tokens.shape, bool)
    chex.assert_equal_shape([tokens, attention_mask])
    if config.family == "gpt2" and tokens.shape[1] > config.max_positions:
        raise ValueError(f"sequence length {tokens.shape[1]} exceeds the gpt2 model's max_positions "
                         f"({config.max_positions})")
    out, _ = forward(config, params, tokens, positions_from_mask(attention_mask), attention_mask.astype(bool))
    return out


_jit_logits = jax.jit(logits, static_argnums=0)


def param_count(params) -> int:
    return int(sum(np.prod(np.shape(p)) for p in jax.tree_util.tree_leaves(params)))


class CausalLM:
    """A loaded model: config (static), params (pytree), tokenizer (`tokenizers.Tokenizer` or None) and
    the folder it came from. Equality is identity, so it is hashable and can be a jit static argument."""

    def __init__(self, config: CausalLMConfig, params: Any, tokenizer=None, path=None):
        self.config = _check_config(config)
        self.params = params
        self.tokenizer = tokenizer
        self.path = path

    def logits(self, tokens: jax.Array, attention_mask: jax.Array | None = None) -> jax.Array:
        """float32[B, T, V] for tokens int32[B, T] (one compilation per config and shape)."""
        tokens = jnp.asarray(tokens, jnp.int32)
        if attention_mask is None:
            attention_mask = jnp.ones(tokens.shape, bool)
        chex.assert_rank(tokens, 2)
        chex.assert_equal_shape([tokens, attention_mask])
        if self.config.family == "gpt2" and tokens.shape[1] > self.config.max_positions:
            raise ValueError(f"sequence length {tokens.shape[1]} exceeds the gpt2 model's max_positions "
                             f"({self.config.max_positions})")
        return _jit_logits(self.config, self.params, tokens, jnp.asarray(attention_mask, bool))

    def param_count(self) -> int:
        return param_count(self.params)

    def __repr__(self) -> str:
        c = self.config
        return (f"CausalLM({c.family}, {self.param_count():,} params, d_model={c.d_model}, n_layers={c.n_layers}, "
                f"vocab={c.vocab_size}, path={str(self.path)!r})")


# ----------------------------------------------------------------------------- sharding
def _model_axis(config: CausalLMConfig, path: tuple[str, ...], shape: tuple[int, ...], n: int):
    """The axis of a parameter to split over the "model" mesh axis (n devices), or None to replicate.

    Megatron-style: q/k/v, c_fc, gate and up split their output features (whole heads, d_ff columns);
    c_proj, o_proj and down split their input features, so each device's heads/columns feed its
    own rows and one all-reduce closes the block. Embeddings split the vocabulary. Everything else
    (norms, biases of row-parallel layers) is small and replicated.
    """
    name = path[-2] if len(path) >= 2 else ""
    leaf = path[-1]
    if leaf == "embedding" and name in ("wte", "embed_tokens"):
        return 0 if shape[0] % n == 0 else None
    if leaf == "kernel" and name == "lm_head":
        return 1 if shape[1] % n == 0 else None
    parent = path[-3] if len(path) >= 3 else ""
    heads = {"q_proj": config.n_heads, "k_proj": config.n_kv_heads, "v_proj": config.n_kv_heads,
             "c_attn": config.n_heads}
    if name in heads:
        return len(shape) - 1 if heads[name] % n == 0 else None  # kernel and bias: the features axis
    if name in ("gate_proj", "up_proj", "c_fc"):
        return len(shape) - 1 if config.d_ff % n == 0 else None
    if leaf == "kernel" and (name in ("o_proj", "down_proj") or (name == "c_proj" and parent in ("attn", "mlp"))):
        size = config.d_ff if parent == "mlp" else config.d_model
        groups = config.d_ff if parent == "mlp" else config.n_heads
        return 0 if shape[0] == size and groups % n == 0 else None
    return None


def shard_params(config: CausalLMConfig, params, mesh: jax.sharding.Mesh):
    """params placed on `mesh` (which has a "model" axis): big matrices split over it by heads or d_ff
    (see `_model_axis`), small ones replicated. Divisibility decides: a matrix whose heads or columns
    do not divide evenly over the axis is replicated rather than split mid-head."""
    _check_config(config)
    if "model" not in mesh.axis_names:
        raise ValueError(f"shard_params needs a mesh with a 'model' axis, got axes {mesh.axis_names}")
    n = mesh.shape["model"]
    explicit = [a for a, t in zip(mesh.axis_names, getattr(mesh, "axis_types", ()))
                if t == jax.sharding.AxisType.Explicit]
    if explicit:
        # explicit axes make every op spell out its output sharding; this model relies on the compiler's
        # propagation instead (GSPMD), which only Auto axes give
        raise ValueError(f"shard_params needs a mesh whose axes are AxisType.Auto, got Explicit axes {explicit}: "
                         "build it with jax.make_mesh(shape, names, axis_types=(jax.sharding.AxisType.Auto,) * n)")
    P = jax.sharding.PartitionSpec

    def place(path, leaf):
        keys = tuple(str(getattr(p, "key", p)) for p in path)
        axis = _model_axis(config, keys, np.shape(leaf), n)
        spec = [None] * np.ndim(leaf)
        if axis is not None:
            spec[axis] = "model"
        return jax.device_put(leaf, jax.sharding.NamedSharding(mesh, P(*spec)))

    return jax.tree_util.tree_map_with_path(place, params)
