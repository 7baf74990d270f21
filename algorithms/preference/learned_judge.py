"""A learned judge: a small flax pairwise model trained on judged samples (PairRM's role for SPPO).

    judge, report = train_judge(key, teacher, length=8, steps=300)
    report["accuracy"]        # held-out pairs where the learned and the teacher's preferred side agree

The model scores a pair by g(x, y, y') − g(x, y', y) with g an MLP over the two responses' pooled
embeddings, and P(y ≻ y' | x) = σ of that: antisymmetric and ½ on equal responses by construction.
It is trained by cross-entropy against the teacher's probability (soft labels) on random pairs.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from algorithms import validate
from algorithms.preference.judges import Judge


class PairwiseJudgeNet(nn.Module):
    """(x int32[], y int32[L], y2 int32[L]) -> logit float32[] of P(y ≻ y2 | x), antisymmetric."""

    vocab: int
    length: int
    n_prompts: int = 1
    features: int = 64

    def setup(self):
        self.tokens = nn.Embed(self.vocab, self.features)
        self.positions = nn.Embed(self.length, self.features)
        self.prompts = nn.Embed(self.n_prompts, self.features)
        self.encode = nn.Sequential([nn.Dense(self.features), nn.gelu, nn.Dense(self.features)])
        self.score = nn.Sequential([nn.Dense(self.features), nn.gelu, nn.Dense(1)])

    def features_of(self, x, y):
        """float32[F]: pooled embedding of response y int32[L] to prompt x."""
        e = self.tokens(y) + self.positions(jnp.arange(y.shape[-1]))
        return self.encode(e.mean(0) + self.prompts(jnp.reshape(x, (1,)))[0])

    def __call__(self, x, y, y2):
        a, b = self.features_of(x, y), self.features_of(x, y2)
        g = lambda u, v: self.score(jnp.concatenate([u, v, u * v]))[0]  # noqa: E731
        return g(a, b) - g(b, a)


def _random_pairs(key, n, vocab, length, n_prompts):
    k_x, k_y, k_y2 = jax.random.split(key, 3)
    return (jax.random.randint(k_x, (n,), 0, n_prompts), jax.random.randint(k_y, (n, length), 0, vocab),
            jax.random.randint(k_y2, (n, length), 0, vocab))


@functools.partial(jax.jit, static_argnames=("net", "teacher", "steps", "batch", "learning_rate"))
def _fit(net, teacher, params, key, steps, batch, learning_rate):
    tx = optax.adam(learning_rate)

    def loss_fn(params, x, y, y2):
        target = teacher.pairs(x, y, y2)
        logit = jax.vmap(lambda a, b, c: net.apply({"params": params}, a, b, c))(x, y, y2)
        return optax.sigmoid_binary_cross_entropy(logit, target).mean()

    def step(carry, k):
        params, opt = carry
        x, y, y2 = _random_pairs(k, batch, net.vocab, net.length, net.n_prompts)
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y, y2)
        updates, opt = tx.update(grads, opt, params)
        return (optax.apply_updates(params, updates), opt), loss

    (params, _), losses = jax.lax.scan(step, (params, tx.init(params)), jax.random.split(key, steps))
    return params, losses


def learned_judge(net: PairwiseJudgeNet, params) -> Judge:
    """The trained model as a `Judge` (no class structure, no known best response)."""

    def prob(x, y, y2):
        return jax.nn.sigmoid(net.apply({"params": params}, x, y, y2))

    return Judge(prob=prob, vocab=net.vocab, name="learned")


def judge_accuracy(judge: Judge, teacher: Judge, key: jax.Array, length: int, n: int = 2048,
                   n_prompts: int = 1) -> float:
    """Fraction of random pairs the teacher does not call even (P ≠ ½) on which both judges prefer
    the same response."""
    x, y, y2 = _random_pairs(key, n, teacher.vocab, length, n_prompts)
    truth, guess = np.asarray(teacher.pairs(x, y, y2)), np.asarray(judge.pairs(x, y, y2))
    decided = np.abs(truth - 0.5) > 1e-6
    if not decided.any():
        raise ValueError(f"teacher {teacher.name!r} calls every sampled pair even; accuracy is undefined")
    return float(np.mean((truth[decided] > 0.5) == (guess[decided] > 0.5)))


def train_judge(key: jax.Array, teacher: Judge, length: int, *, steps: int = 300, batch: int = 256,
                learning_rate: float = 3e-3, n_prompts: int = 1, features: int = 64, eval_pairs: int = 2048):
    """Fit a `PairwiseJudgeNet` to `teacher` on random pairs; returns (learned Judge, report) with
    report = {accuracy (held-out, `judge_accuracy`), final_loss, steps}."""
    validate.integer("steps", steps, 1)
    net = PairwiseJudgeNet(teacher.vocab, int(length), int(n_prompts), int(features))
    k_init, k_fit, k_eval = jax.random.split(key, 3)
    dummy = jnp.zeros((int(length),), jnp.int32)
    params = net.init(k_init, jnp.int32(0), dummy, dummy)["params"]
    params, losses = _fit(net, teacher, params, k_fit, int(steps), int(batch), float(learning_rate))
    judge = learned_judge(net, params)
    accuracy = judge_accuracy(judge, teacher, k_eval, int(length), eval_pairs, n_prompts)
    return judge, dict(accuracy=accuracy, final_loss=float(losses[-20:].mean()), steps=int(steps))
