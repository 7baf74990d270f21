"""Learned preference models, trained from a file of judged pairs; each is a `Judge` for any learner.

    write_pairs("pairs.jsonl", judges.class_cycle(16), key, n=4000, length=8)     # or your own data
    pairs = load_pairs("pairs.jsonl", pad_id=None)
    judge, report = train_preference_model("gpm", pairs, key, vocab=16, length=8, steps=400)
    save_preference_model("models/gpm", judge);  judge = load_preference_model("models/gpm")

Pair files: one JSON object per line,
    {"prompt": 3, "y": [5, 1, 9], "y2": [2, 2], "p": 0.8}      p = P(y ≻ y2 | prompt) in [0, 1]
    {"prompt": 3, "chosen": [5, 1, 9], "rejected": [2, 2]}     p = 1
and "label" (1, 0 or 0.5: y wins, y2 wins, a tie) may stand in for "p". Responses hold their content
only (no end-of-sequence token); they are padded with pad_id to a common length L when loaded.

Three models over one response encoder (`ResponseEncoder`):
- "bt": a Bradley–Terry reward model, P = σ(r(x, y) − r(x, y')). Its preferences are transitive, so
  on a 3-cycle of classes it gets at most 2 of the 3 class pairs right.
- "pairwise": a PairRM-style cross-encoder g(x, y, y') over both responses' encodings,
  antisymmetrised: logit = g(y, y') − g(y', y).
- "gpm": a general preference model (Zhang et al. 2024, "General Preference Modeling with
  Preference Representations"): v(x, y) ∈ R^{2k} and logit = scale·⟨R v(y), v(y')⟩ with R
  block-diagonal of k rotations [[0, −1], [1, 0]]. R is skew-symmetric, so the logit is antisymmetric
  and 0 on equal responses, and k blocks can hold k independent cycles, which no reward can.
All three are antisymmetric in float32 exactly (the logit is a difference of two equal computations
with the arguments swapped), so P(y ≻ y) = ½.

The encoder: token + position embeddings, a per-position MLP, then pooling over the content positions
(pad excluded) into [mean, sum / L, length / L], the prompt's embedding, and an MLP. The per-position
MLP is what lets pooling keep which token sits where (pooled additive embeddings lose it); the sum and
the length carry what a masked mean drops and what sum-of-reward and length-biased judges depend on.
It trains in a few hundred Adam steps on the testbeds; attention was not needed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import chex
import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax

from algorithms import validate
from algorithms.preference.judges import Judge, content_mask

KINDS = ("bt", "pairwise", "gpm")
FORMAT = "gigastep-jax preference model"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
PAIR_KEYS = ("prompt", "y", "y2", "chosen", "rejected", "p", "label")
TIE_TOL = 1e-6  # |p − ½| <= TIE_TOL: the pair is even, left out of accuracies


# ----------------------------------------------------------------------------- networks
class ResponseEncoder(nn.Module):
    """(x int32[], y int32[..., L]) -> float32[..., features]: an encoding of each response y to prompt x.

    Positions holding pad_id are left out of the pooling, so padding never changes the encoding.
    """

    vocab: int
    length: int
    n_prompts: int = 1
    features: int = 64
    pad_id: int | None = None

    @nn.compact
    def __call__(self, x, y):
        f = self.features
        e = nn.Embed(self.vocab, f, name="tokens")(y) + nn.Embed(self.length, f, name="positions")(
            jnp.arange(y.shape[-1]))
        h = nn.Dense(f, name="position_out")(nn.gelu(nn.Dense(f, name="position_in")(e)))
        mask = content_mask(y, self.pad_id).astype(jnp.float32)[..., None]
        total = (h * mask).sum(-2)
        n = mask.sum(-2)
        prompt = nn.Embed(self.n_prompts, f, name="prompts")(jnp.reshape(jnp.asarray(x, jnp.int32), (1,)))[0]
        prompt = jnp.broadcast_to(prompt, total.shape)
        pooled = jnp.concatenate([total / jnp.maximum(n, 1.0), total / self.length, n / self.length, prompt], -1)
        return nn.Dense(f, name="pooled_out")(nn.gelu(nn.Dense(f, name="pooled_in")(pooled)))


class BTRewardNet(nn.Module):
    """(x int32[], y int32[L], y2 int32[L]) -> logit float32[] = r(x, y) − r(x, y2)."""

    vocab: int
    length: int
    n_prompts: int = 1
    features: int = 64
    pad_id: int | None = None

    def setup(self):
        self.encoder = ResponseEncoder(self.vocab, self.length, self.n_prompts, self.features, self.pad_id)
        self.head = nn.Dense(1)

    def reward(self, x, y):
        """float32[...]: r(x, y) for y int32[..., L]."""
        return self.head(self.encoder(x, y))[..., 0]

    def __call__(self, x, y, y2):
        r = self.reward(x, jnp.stack([y, y2]))  # one encoder pass for both: half the program to compile
        return r[0] - r[1]


class PairwiseJudgeNet(nn.Module):
    """(x int32[], y int32[L], y2 int32[L]) -> logit float32[] of P(y ≻ y2 | x) = g(y, y2) − g(y2, y)."""

    vocab: int
    length: int
    n_prompts: int = 1
    features: int = 64
    pad_id: int | None = None

    def setup(self):
        self.encoder = ResponseEncoder(self.vocab, self.length, self.n_prompts, self.features, self.pad_id)
        self.score = nn.Sequential([nn.Dense(self.features), nn.gelu, nn.Dense(1)])

    def __call__(self, x, y, y2):
        a, b = self.encoder(x, jnp.stack([y, y2]))
        g = self.score(jnp.stack([jnp.concatenate([a, b, a * b]), jnp.concatenate([b, a, a * b])]))[:, 0]
        return g[0] - g[1]


class GPMNet(nn.Module):
    """(x int32[], y int32[L], y2 int32[L]) -> logit float32[] = scale·⟨R v(x, y), v(x, y2)⟩, v ∈ R^dims."""

    vocab: int
    length: int
    n_prompts: int = 1
    features: int = 64
    pad_id: int | None = None
    dims: int = 8
    scale: float = 1.0

    def setup(self):
        self.encoder = ResponseEncoder(self.vocab, self.length, self.n_prompts, self.features, self.pad_id)
        self.head = nn.Dense(self.dims)

    def representation(self, x, y):
        """float32[..., dims]: v(x, y) for y int32[..., L], read as dims / 2 planes (v_0, v_1), (v_2, v_3), ..."""
        return self.head(self.encoder(x, y))

    def __call__(self, x, y, y2):
        a, b = self.representation(x, jnp.stack([y, y2]))
        # per plane R v = (−v_1, v_0), so ⟨R a, b⟩ = Σ a_0 b_1 − Σ a_1 b_0 = g(a, b) − g(b, a). Written
        # as that difference the float32 result is exactly antisymmetric; Σ (a_0 b_1 − a_1 b_0) is
        # not once the compiler fuses a product and the subtraction into one FMA
        g = lambda u, v: jnp.sum(u[0::2] * v[1::2])  # noqa: E731
        return self.scale * (g(a, b) - g(b, a))


# ----------------------------------------------------------------------------- configuration
@dataclasses.dataclass(frozen=True)
class PreferenceModelConfig:
    """Static description of a preference model (hashable; the saved config.json holds its fields).

    kind: "bt", "pairwise" or "gpm"; responses int32[length] over `vocab` tokens, pad_id (or None)
    after their end; prompts in [0, n_prompts); features: encoder width; dims: gpm's representation
    size 2k (even); scale: gpm's logit scale.
    """

    kind: str
    vocab: int
    length: int
    n_prompts: int = 1
    pad_id: int | None = None
    features: int = 64
    dims: int = 8
    scale: float = 1.0

    def __post_init__(self):
        validate.choice("kind", self.kind, KINDS)
        validate.integer("vocab", self.vocab, 2)
        validate.integer("length", self.length, 1)
        validate.integer("n_prompts", self.n_prompts, 1)
        if self.pad_id is not None:
            validate.integer("pad_id", self.pad_id, 0, self.vocab - 1)
        validate.integer("features", self.features, 1)
        if validate.integer("dims", self.dims, 2) % 2:
            raise ValueError(f"dims must be even (pairs of coordinates rotated by R), got {self.dims}")
        validate.positive("scale", self.scale)

    def net(self) -> nn.Module:
        return _net(self)


@functools.lru_cache(maxsize=None)
def _net(config: PreferenceModelConfig) -> nn.Module:
    common = (config.vocab, config.length, config.n_prompts, config.features, config.pad_id)
    if config.kind == "bt":
        return BTRewardNet(*common)
    if config.kind == "pairwise":
        return PairwiseJudgeNet(*common)
    return GPMNet(*common, dims=config.dims, scale=float(config.scale))


def _config_of(net: nn.Module) -> PreferenceModelConfig:
    kind = {BTRewardNet: "bt", PairwiseJudgeNet: "pairwise", GPMNet: "gpm"}.get(type(net))
    if kind is None:
        raise ValueError(f"not a preference network: {type(net).__name__} (allowed: BTRewardNet, "
                         f"PairwiseJudgeNet, GPMNet)")
    extra = dict(dims=net.dims, scale=net.scale) if kind == "gpm" else {}
    return PreferenceModelConfig(kind, net.vocab, net.length, net.n_prompts, net.pad_id, net.features, **extra)


def numpy_rng(key: jax.Array) -> np.random.Generator:
    """A numpy generator seeded by a JAX key (the same key, the same draws).

    Host-side draws (initial parameters, data splits, random pairs to write) need no compiled
    program; op-by-op jax.random costs a compile per operation and shape, seconds in all.
    """
    key = jnp.asarray(key)
    data = jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    return np.random.default_rng(np.asarray(data, np.uint32).ravel().tolist())


def _init(net, key):
    dummy = jnp.zeros((net.length,), jnp.int32)
    return net.init(key, jnp.int32(0), dummy, dummy)["params"]


def init_params(config: PreferenceModelConfig, key: jax.Array):
    """A fresh parameter pytree of config's network, drawn in numpy from key: kernels N(0, 1/fan_in)
    (LeCun normal), embeddings N(0, 1/features), biases 0.

    Drawn outside XLA on purpose: compiling flax's init into the training program costs about 2 s
    of CPU, half of that program's compile time; the shapes come from tracing alone.
    """
    shapes = jax.eval_shape(lambda: _init(config.net(), jax.random.PRNGKey(0)))
    rng = numpy_rng(key)

    def draw(path, leaf):
        name, shape = path[-1].key, leaf.shape
        if name == "bias":
            return jnp.zeros(shape, jnp.float32)
        std = 1.0 / np.sqrt(shape[0] if name == "kernel" else shape[-1])
        return jnp.asarray(rng.normal(0.0, std, shape), jnp.float32)

    return jax.tree_util.tree_map_with_path(draw, shapes)


@dataclasses.dataclass(frozen=True, eq=False)
class PreferenceModel:
    """A trained model: callable as P(y ≻ y2 | x) (the `prob` of its Judge), saved by its config and
    params."""

    config: PreferenceModelConfig
    params: Any

    def logit(self, x, y, y2) -> jax.Array:
        """float32[]: logit P(y ≻ y2 | x) for x int32[], y, y2 int32[L]."""
        chex.assert_rank([y, y2], 1)
        chex.assert_equal_shape([y, y2])
        return self.config.net().apply({"params": self.params}, jnp.asarray(x, jnp.int32), y, y2)

    def __call__(self, x, y, y2) -> jax.Array:
        return jax.nn.sigmoid(self.logit(x, y, y2))

    def judge(self, name: str | None = None) -> Judge:
        """The model as a `Judge` (no class structure, no known best response)."""
        c = self.config
        return Judge(prob=self, vocab=c.vocab, name=name or f"learned-{c.kind}", length=c.length, pad_id=c.pad_id)


# ----------------------------------------------------------------------------- training
def _batch_loss(net, params, x, y, y2, p):
    logit = jax.vmap(lambda a, b, c: net.apply({"params": params}, a, b, c))(x, y, y2)
    return optax.sigmoid_binary_cross_entropy(logit, p).mean()


def _adam_scan(net, params, key, steps, learning_rate, sample):
    """`steps` Adam steps on soft-label cross-entropy, one lax.scan; sample(key) -> (x, y, y2, p)."""
    tx = optax.adam(learning_rate)

    def step(carry, k):
        params, opt = carry
        loss, grads = jax.value_and_grad(lambda q: _batch_loss(net, q, *sample(k)))(params)
        updates, opt = tx.update(grads, opt, params)
        return (optax.apply_updates(params, updates), opt), loss

    (params, _), losses = jax.lax.scan(step, (params, tx.init(params)), jax.random.split(key, steps))
    return params, losses


@functools.partial(jax.jit, static_argnames=("net", "steps", "batch", "learning_rate"))
def _fit_pairs(net, params, key, train, data, steps, batch, learning_rate):
    """(params, losses float32[steps], logits float32[N] of every pair in data after training).

    Training and evaluation are one program: each compile costs seconds on a CPU.
    """
    n = train["x"].shape[0]

    def sample(k):
        i = jax.random.randint(k, (batch,), 0, n)
        return train["x"][i], train["y"][i], train["y2"][i], train["p"][i]

    params, losses = _adam_scan(net, params, key, steps, learning_rate, sample)
    logits = jax.vmap(lambda a, b, c: net.apply({"params": params}, a, b, c))(data["x"], data["y"], data["y2"])
    return params, losses, logits


def _loss_and_accuracy(logit: np.ndarray, p: np.ndarray) -> tuple[float | None, float | None]:
    """(mean soft-label cross-entropy, sign agreement on pairs with p ≠ ½) of logits float[M] against
    labels p float[M]; None when there are no pairs (no decided pairs, for the accuracy)."""
    if logit.size == 0:
        return None, None
    logit, p = logit.astype(np.float64), p.astype(np.float64)
    loss = float(np.mean(np.logaddexp(0.0, logit) - p * logit))
    decided = np.abs(p - 0.5) > TIE_TOL
    accuracy = float(np.mean((logit[decided] > 0) == (p[decided] > 0.5))) if decided.any() else None
    return loss, accuracy


def _check_pairs(pairs: dict, vocab: int, length: int, n_prompts: int) -> dict:
    """The pairs as numpy arrays (int32, int32, int32, float32), or ValueError naming the bad entry."""
    missing = [k for k in ("x", "y", "y2", "p") if k not in pairs]
    if missing:
        raise ValueError(f"pairs lacks {missing} (needs x int32[N], y, y2 int32[N, L], p float32[N]; see load_pairs)")
    x, y, y2, p = (np.asarray(pairs[k]) for k in ("x", "y", "y2", "p"))
    n = x.shape[0] if x.ndim == 1 else -1
    if n < 1 or y.shape != (n, length) or y2.shape != (n, length) or p.shape != (n,):
        raise ValueError(f"pairs must hold x [N], y and y2 [N, length = {length}] and p [N] with N >= 1, got x "
                         f"{x.shape}, y {y.shape}, y2 {y2.shape}, p {p.shape} (load_pairs(..., length={length}) pads)")
    for name, a, hi in (("x", x, n_prompts), ("y", y, vocab), ("y2", y2, vocab)):
        if not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"pairs[{name!r}] must hold integers, got dtype {a.dtype}")
        bad = (a < 0) | (a >= hi)
        if bad.any():
            i = tuple(int(v) for v in np.argwhere(bad)[0])
            what = "n_prompts" if name == "x" else "vocab"
            raise ValueError(f"pairs[{name!r}]{list(i)} = {a[i]} is out of range (allowed: [0, {hi}) = [0, {what}))")
    bad = ~np.isfinite(p) | (p < 0) | (p > 1)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"pairs['p'][{i}] = {p[i]} is not a probability (allowed: [0, 1])")
    return dict(x=x.astype(np.int32), y=y.astype(np.int32), y2=y2.astype(np.int32), p=p.astype(np.float32))


def train_preference_model(kind: str, pairs: dict, key: jax.Array, *, vocab: int, length: int, n_prompts: int = 1,
                           pad_id: int | None = None, steps: int = 400, batch: int = 128,
                           learning_rate: float = 3e-3, holdout: float = 0.2, features: int = 64,
                           dims: int = 8) -> tuple[Judge, dict]:
    """Fit a preference model of `kind` to judged pairs; returns (its Judge, report).

    pairs: dict(x int32[N], y int32[N, length], y2 int32[N, length], p float32[N]) as `load_pairs`
    returns. A random `holdout` fraction of the pairs is held out; the rest trains the model by
    `steps` Adam steps (one compiled lax.scan) on minibatches of `batch` pairs drawn with
    replacement, loss = soft-label cross-entropy CE(p, P_model).

    report: kind, steps, n_train, n_heldout, train_loss and heldout_loss (mean cross-entropy after
    training, nats; it includes the labels' own entropy), heldout_accuracy (held-out pairs with
    p ≠ ½ on which the model and the label prefer the same response; None when there are none).
    """
    config = PreferenceModelConfig(kind, vocab, length, n_prompts, pad_id, features, dims)
    validate.integer("steps", steps, 1)
    validate.integer("batch", batch, 1)
    learning_rate = validate.positive("learning_rate", learning_rate)
    holdout = validate.number("holdout", holdout, low=0.0, high=1.0)
    data = _check_pairs(pairs, config.vocab, config.length, config.n_prompts)
    n = int(data["x"].shape[0])
    n_heldout = round(holdout * n)
    if n - n_heldout < 1:
        raise ValueError(f"holdout = {holdout:g} of {n} pairs leaves none to train on (allowed: holdout < 1 - 1/N)")
    k_split, k_init, k_fit = jax.random.split(key, 3)
    is_train = np.ones(n, bool)
    is_train[numpy_rng(k_split).permutation(n)[:n_heldout]] = False
    train = {k: v[is_train] for k, v in data.items()}
    params, _, logits = _fit_pairs(config.net(), init_params(config, k_init), k_fit, train, data, int(steps),
                                   int(batch), learning_rate)
    logits, p = np.asarray(logits), data["p"]
    train_loss, _ = _loss_and_accuracy(logits[is_train], p[is_train])
    heldout_loss, heldout_accuracy = _loss_and_accuracy(logits[~is_train], p[~is_train])
    report = dict(kind=kind, steps=int(steps), n_train=n - n_heldout, n_heldout=n_heldout, train_loss=train_loss,
                  heldout_loss=heldout_loss, heldout_accuracy=heldout_accuracy)
    return PreferenceModel(config, params).judge(), report


# ----------------------------------------------------------------------------- online fit to a judge
def _random_pairs(key, n, vocab, length, n_prompts):
    k_x, k_y, k_y2 = jax.random.split(key, 3)
    return (jax.random.randint(k_x, (n,), 0, n_prompts), jax.random.randint(k_y, (n, length), 0, vocab),
            jax.random.randint(k_y2, (n, length), 0, vocab))


@functools.partial(jax.jit, static_argnames=("net", "teacher", "steps", "batch", "learning_rate"))
def _fit(net, teacher, params, key, steps, batch, learning_rate):
    def sample(k):
        x, y, y2 = _random_pairs(k, batch, net.vocab, net.length, net.n_prompts)
        return x, y, y2, teacher.pairs(x, y, y2)

    return _adam_scan(net, params, key, steps, learning_rate, sample)


@functools.partial(jax.jit, static_argnames=("judges",))
def _judge_pairs(judges, x, y, y2):
    """float32[J, B]: P(y ≻ y2 | x) of each of a tuple of judges, as one program."""
    return jnp.stack([j.pairs(x, y, y2) for j in judges])


def learned_judge(net: nn.Module, params) -> Judge:
    """A trained network (`BTRewardNet`, `PairwiseJudgeNet` or `GPMNet`) and its params as a Judge
    named "learned"."""
    return PreferenceModel(_config_of(net), params).judge("learned")


def judge_accuracy(judge: Judge, teacher: Judge, key: jax.Array, length: int, n: int = 2048,
                   n_prompts: int = 1) -> float:
    """Fraction of random pairs the teacher does not call even (P ≠ ½) on which both judges prefer
    the same response."""
    rng = numpy_rng(key)
    x = rng.integers(0, n_prompts, n, dtype=np.int32)
    y, y2 = rng.integers(0, teacher.vocab, (2, n, length), dtype=np.int32)
    truth, guess = np.asarray(_judge_pairs((teacher, judge), x, y, y2))
    decided = np.abs(truth - 0.5) > TIE_TOL
    if not decided.any():
        raise ValueError(f"teacher {teacher.name!r} calls every sampled pair even; accuracy is undefined")
    return float(np.mean((truth[decided] > 0.5) == (guess[decided] > 0.5)))


def train_judge(key: jax.Array, teacher: Judge, length: int, *, steps: int = 300, batch: int = 256,
                learning_rate: float = 3e-3, n_prompts: int = 1, features: int = 64, eval_pairs: int = 2048,
                kind: str = "pairwise"):
    """Fit a model of `kind` (default a `PairwiseJudgeNet`) to `teacher` on fresh random pairs each
    step; returns (learned Judge, report) with report = {accuracy (held-out, `judge_accuracy`),
    final_loss, steps}."""
    validate.integer("steps", steps, 1)
    config = PreferenceModelConfig(kind, teacher.vocab, int(length), int(n_prompts), features=int(features))
    net = config.net()
    k_init, k_fit, k_eval = jax.random.split(key, 3)
    params, losses = _fit(net, teacher, init_params(config, k_init), k_fit, int(steps), int(batch),
                          float(learning_rate))
    judge = PreferenceModel(config, params).judge("learned")
    accuracy = judge_accuracy(judge, teacher, k_eval, int(length), eval_pairs, n_prompts)
    return judge, dict(accuracy=accuracy, final_loss=float(losses[-20:].mean()), steps=int(steps))


# ----------------------------------------------------------------------------- pair files
def _atomic_write(path: Path, data: bytes) -> Path:
    """Write to a temporary file in path's folder, flush it to disk, then rename it over path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def write_pairs(path: str | os.PathLike, judge: Judge, key: jax.Array, n: int, length: int, n_prompts: int = 1,
                pad_id: int | None = None, lengths: tuple[int, int] | None = None) -> Path:
    """Write n random pairs judged by `judge` as a pair file (atomically); returns its path.

    Prompts are uniform in [0, n_prompts), tokens uniform over the vocabulary (without pad_id when
    there is one). lengths = (lo, hi): each response's length is uniform in [lo, hi] (needs pad_id,
    default judge.pad_id); by default every response has `length` tokens. p = judge(x, y, y2) on the
    responses padded to `length`; the file holds the content only.
    """
    n = validate.integer("n", n, 1)
    length = validate.integer("length", length, 1)
    n_prompts = validate.integer("n_prompts", n_prompts, 1)
    if pad_id is not None and judge.pad_id is not None and pad_id != judge.pad_id:
        raise ValueError(f"pad_id {pad_id} differs from the pad_id {judge.pad_id} of judge {judge.name!r}")
    pad_id = judge.pad_id if pad_id is None else validate.integer("pad_id", pad_id, 0, judge.vocab - 1)
    if lengths is None:
        lo = hi = length
    else:
        if pad_id is None:
            raise ValueError("write_pairs with lengths needs a pad_id (to pad the shorter responses)")
        if len(tuple(lengths)) != 2:
            raise ValueError(f"lengths must be a pair (lo, hi), got {lengths!r}")
        lo = validate.integer("lengths[0]", lengths[0], 0, length)
        hi = validate.integer("lengths[1]", lengths[1], lo, length)
    rng = numpy_rng(key)
    x = rng.integers(0, n_prompts, n, dtype=np.int32)
    content = 1 if pad_id is None else 0  # draw from the vocab without pad_id, then skip over it
    tokens = rng.integers(0, judge.vocab - 1 + content, (2, n, length), dtype=np.int32)
    if pad_id is not None:
        tokens = tokens + (tokens >= pad_id)
    sizes = rng.integers(lo, hi + 1, (2, n))
    if pad_id is not None:
        tokens = np.where(np.arange(length) < sizes[..., None], tokens, pad_id)
    p = np.asarray(_judge_pairs((judge,), x, tokens[0], tokens[1])[0], np.float64)
    lines = [json.dumps(dict(prompt=int(x[i]), y=tokens[0, i, :sizes[0, i]].tolist(),
                             y2=tokens[1, i, :sizes[1, i]].tolist(), p=float(p[i]))) for i in range(n)]
    return _atomic_write(Path(path), ("\n".join(lines) + "\n").encode())


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _parse_pair(obj, where: str, pad_id: int | None) -> tuple[int, list, list, float]:
    """(prompt, y, y2, p) of one line's object, or ValueError prefixed with `where` (file:line)."""
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected a JSON object {{\"prompt\", \"y\", \"y2\", \"p\"}}, got {type(obj).__name__}")
    for key in obj:
        if key not in PAIR_KEYS:
            raise ValueError(f"{where}: unknown key {key!r} (allowed: {', '.join(PAIR_KEYS)})")
    if "prompt" not in obj:
        raise ValueError(f"{where}: missing key 'prompt' (an int prompt id >= 0)")
    prompt = obj["prompt"]
    if not _is_int(prompt) or prompt < 0:
        raise ValueError(f"{where}: prompt = {prompt!r} is not a prompt id (allowed: ints >= 0)")
    plain, chosen = ("y" in obj or "y2" in obj), ("chosen" in obj or "rejected" in obj)
    if plain and chosen:
        raise ValueError(f"{where}: give responses as 'y' and 'y2' or as 'chosen' and 'rejected', not both")
    names = ("chosen", "rejected") if chosen else ("y", "y2")
    for name in names:
        if name not in obj:
            raise ValueError(f"{where}: missing key {name!r} (a list of token ids)")
    if "p" in obj and "label" in obj:
        raise ValueError(f"{where}: give 'p' or 'label', not both")
    if "p" in obj:
        p = obj["p"]
        if not _is_number(p) or not 0.0 <= p <= 1.0:
            raise ValueError(f"{where}: p = {p!r} is not a probability (allowed: numbers in [0, 1])")
    elif "label" in obj:
        p = obj["label"]
        if not _is_number(p) or p not in (0, 0.5, 1):
            raise ValueError(f"{where}: label = {p!r} is not a label (allowed: 1 = y wins, 0 = y2 wins, 0.5 = tie)")
    elif chosen:
        p = 1.0
    else:
        raise ValueError(f"{where}: missing key 'p' (P(y ≻ y2) in [0, 1]) or 'label' (1, 0 or 0.5)")
    responses = []
    for name in names:
        tokens = obj[name]
        if not isinstance(tokens, list):
            raise ValueError(f"{where}: {name} = {tokens!r} is not a list of token ids")
        for i, t in enumerate(tokens):
            if not _is_int(t) or t < 0:
                raise ValueError(f"{where}: {name}[{i}] = {t!r} is not a token id (allowed: ints >= 0)")
        if pad_id is not None:
            end = len(tokens)
            while end and tokens[end - 1] == pad_id:  # trailing pads are padding already
                end -= 1
            if pad_id in tokens[:end]:
                i = tokens.index(pad_id)
                raise ValueError(f"{where}: {name}[{i}] = pad_id {pad_id} inside the response (pad may only follow "
                                 f"its end)")
            tokens = tokens[:end]
        responses.append(tokens)
    return prompt, responses[0], responses[1], float(p)


def load_pairs(path: str | os.PathLike, pad_id: int | None, length: int | None = None) -> dict:
    """The pairs of a pair file (format in the module docstring), padded with pad_id to length L.

    Returns dict(x int32[N], y int32[N, L], y2 int32[N, L], p float32[N]) of numpy arrays, with
    L = length, or the longest response (>= 1) when length is None. With pad_id None every response
    must have exactly L tokens. Blank lines are skipped. ValueError names the file and line of a bad
    entry: invalid JSON, an unknown or missing key, p out of [0, 1], a token that is not an int >= 0,
    pad_id inside a response, a response longer than L.
    """
    path = Path(path)
    if pad_id is not None:
        validate.integer("pad_id", pad_id, 0)
    if length is not None:
        validate.integer("length", length, 1)
    if not path.is_file():
        raise ValueError(f"no pair file at {path}")
    rows, lines = [], []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
            rows.append(_parse_pair(obj, where, pad_id))
            lines.append(lineno)
    if not rows:
        raise ValueError(f"{path} holds no pairs")
    size = length if length is not None else max(1, max(max(len(r[1]), len(r[2])) for r in rows))
    n = len(rows)
    y = np.full((2, n, size), 0 if pad_id is None else pad_id, np.int32)
    for i, ((_, a, b, _), lineno) in enumerate(zip(rows, lines)):
        for side, (name, tokens) in enumerate((("y", a), ("y2", b))):
            if pad_id is None and len(tokens) != size:
                raise ValueError(f"{path}:{lineno}: {name} has {len(tokens)} tokens, the responses have {size}; "
                                 f"give pad_id to load responses of different lengths")
            if len(tokens) > size:
                raise ValueError(f"{path}:{lineno}: {name} has {len(tokens)} tokens, more than length = {size}")
            y[side, i, :len(tokens)] = tokens
    return dict(x=np.array([r[0] for r in rows], np.int32), y=y[0], y2=y[1],
                p=np.array([r[3] for r in rows], np.float32))


# ----------------------------------------------------------------------------- saving
def _model_of(model) -> PreferenceModel:
    if isinstance(model, PreferenceModel):
        return model
    if isinstance(model, Judge) and isinstance(model.prob, PreferenceModel):
        return model.prob
    raise ValueError(f"save_preference_model needs a learned judge (from train_preference_model, train_judge or "
                     f"load_preference_model) or a PreferenceModel, got {getattr(model, 'name', model)!r}; a "
                     f"composed judge (with_noise, mix, ...) is a function, not a model")


def save_preference_model(directory: str | os.PathLike, model: Judge | PreferenceModel) -> Path:
    """Write a learned judge to `directory`: config.json and params-<hash>.msgpack. Returns the folder.

    Atomic: the params go to a new file named by their content hash, then config.json, which names
    that file, replaces the old one in one rename; a reader sees the old model or the new, never a
    mix. Stale params files are removed afterwards (so one writer per folder at a time).
    """
    m = _model_of(model)
    directory = Path(directory)
    params = jax.tree.map(np.asarray, m.params)
    blob = flax.serialization.to_bytes(params)
    name = f"params-{hashlib.sha256(blob).hexdigest()[:16]}.msgpack"
    _atomic_write(directory / name, blob)
    config = dict(format=FORMAT, version=FORMAT_VERSION, params_file=name, **dataclasses.asdict(m.config))
    _atomic_write(directory / CONFIG_FILE, json.dumps(config, indent=1).encode())
    for stale in directory.glob("params-*.msgpack"):
        if stale.name != name:
            with contextlib.suppress(OSError):  # already gone: nothing to clean
                stale.unlink()
    return directory


def load_preference_model(directory: str | os.PathLike, name: str | None = None) -> Judge:
    """The learned judge saved in `directory` by `save_preference_model`."""
    directory = Path(directory)
    config_path = directory / CONFIG_FILE
    if not config_path.is_file():
        raise ValueError(f"no preference model in {directory} (no {CONFIG_FILE}; save one with save_preference_model)")
    try:
        saved = json.loads(config_path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{config_path} is not valid JSON ({e.msg})") from None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise ValueError(f"{config_path} is not a preference model config (format {FORMAT!r})")
    if saved.get("version") != FORMAT_VERSION:
        raise ValueError(f"{config_path} has format version {saved.get('version')!r}; this code reads {FORMAT_VERSION}")
    fields = {f.name for f in dataclasses.fields(PreferenceModelConfig)}
    config = PreferenceModelConfig(**{k: v for k, v in saved.items() if k in fields})
    params_path = directory / str(saved.get("params_file"))
    if not params_path.is_file():
        raise ValueError(f"{directory}: its params file {params_path.name} is missing")
    params = flax.serialization.msgpack_restore(params_path.read_bytes())
    template = jax.eval_shape(lambda: _init(config.net(), jax.random.PRNGKey(0)))
    shapes = lambda tree: jax.tree_util.tree_map(lambda a: np.shape(a), tree)  # noqa: E731
    if shapes(template) != shapes(params):
        raise ValueError(f"{params_path} does not match the network described by {config_path}")
    params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params)
    return PreferenceModel(config, params).judge(name)
