"""Judges: pure JAX preference models P(y ≻ y' | x) over token sequences, built in code.

A `Judge` is a frozen (hashable) object closed over by `jit`:

    p = judge(x, y, y2)          # x int32[] prompt id, y / y2 int32[L] responses -> float32[] in [0, 1]
    P = judge.matrix(x, ys)      # ys int32[K, L] -> float32[K, K], P[i, j] = judge(x, ys[i], ys[j])

Every judge is a probability and antisymmetric: judge(x, y, y2) + judge(x, y2, y) = 1, so
judge(x, y, y) = ½ (`check_judge` verifies that on random pairs). Judges compose: `with_noise`
(labels flipped with probability ε), `with_ties` (near-even pairs become ties, ½), `mix` (a convex
combination), `length_biased` (a bonus per token of length difference, as LLM judges show).

Variable-length responses: a response is int32[L] in which every position after its end (the
end-of-sequence token included) holds `pad_id`. A judge built with `pad_id` ignores those positions:
they add nothing to rewards, class sums or histograms, so a padded response scores exactly like its
content. `response_length(y, pad_id)` counts the content positions. With pad_id None (the default)
every position is content.

Two kinds of structure let the exact exploitability of a policy be computed from samples:
- class judges (`class_cycle`): P(y ≻ y' | x) = M[c(x, y), c(x, y')] for a class map c and a
  class matrix M [C, C]; exploitability then only needs the policy's class marginal;
- judges with a known best response (`bradley_terry` over a per-token reward): a sequence y* with
  P(y* ≻ y') >= P(y ≻ y') for every y, y'.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Callable, Sequence

import chex
import jax
import jax.numpy as jnp
import numpy as np

from algorithms import validate

# P = ½ + A / 4 with A the biased rock-paper-scissors payoff
# (docs/PREFERENCE.md#testbed-a-biased-rock-paper-scissors-bandit).
BIASED_RPS = 0.5 + np.array([[0.0, -1.0, 2.0], [1.0, 0.0, -1.0], [-2.0, 1.0, 0.0]]) / 4.0
PROB_TOL = 1e-5  # tolerance of check_judge on P + P' = 1 and P in [0, 1] (float32 judges)


@dataclasses.dataclass(frozen=True, eq=False)
class Judge:
    """A preference model over sequences of `vocab` tokens.

    prob: (x int32[], y int32[L], y2 int32[L]) -> float32[] = P(y ≻ y2 | x)
    class_of: optional (x int32[], y int32[L]) -> int32[] in [0, C), with class_matrix float32[C, C]:
        then prob(x, y, y2) == class_matrix[class_of(x, y), class_of(x, y2)]
    best_response: optional (x int32[]) -> int32[L], a response that beats every other at least as
        often as any response does (pointwise dominant), e.g. the top-reward sequence of a BT judge
    pad_id: the token that fills the positions after a response's end (ignored by the judge), or
        None when every position is content
    """

    prob: Callable
    vocab: int
    name: str
    class_of: Callable | None = None
    class_matrix: jax.Array | None = None
    best_response: Callable | None = None
    length: int | None = None  # the response length the judge needs, when it needs one
    pad_id: int | None = None

    def __call__(self, x, y, y2) -> jax.Array:
        return self.prob(x, y, y2)

    def matrix(self, x: jax.Array, ys: jax.Array) -> jax.Array:
        """float32[K, K]: P[i, j] = P(ys[i] ≻ ys[j] | x) for ys int32[K, L]."""
        row = jax.vmap(lambda a: jax.vmap(lambda b: self.prob(x, a, b))(ys))
        return row(ys)

    def pairs(self, x: jax.Array, y: jax.Array, y2: jax.Array) -> jax.Array:
        """float32[B]: P(y[b] ≻ y2[b] | x[b]) for x int32[B], y, y2 int32[B, L]."""
        return jax.vmap(self.prob)(x, y, y2)


# ----------------------------------------------------------------------------- validation
def _check_vocab(vocab) -> int:
    return validate.integer("vocab", vocab, 2)


def _check_pad(pad_id, vocab: int) -> int | None:
    """None, or an int in [0, vocab): the pad token is one the policy can emit (its end of sequence)."""
    if pad_id is None:
        return None
    return validate.integer("pad_id", pad_id, 0, vocab - 1)


# ----------------------------------------------------------------------------- variable length
def content_mask(y: jax.Array, pad_id: int | None) -> jax.Array:
    """bool[..., L]: True at the positions of y int32[..., L] that are part of the response (not pad_id)."""
    y = jnp.asarray(y)
    if pad_id is None:
        return jnp.ones(y.shape, bool)
    return y != pad_id


def response_length(y: jax.Array, pad_id: int | None) -> jax.Array:
    """int32[...]: the number of non-pad positions of y int32[..., L] (L when pad_id is None)."""
    return content_mask(y, pad_id).sum(-1).astype(jnp.int32)


def check_preference(preference, name: str = "preference") -> np.ndarray:
    """float64[K, K] copy of a preference matrix P[i, j] = P(i ≻ j), or ValueError.

    Requires K >= 2, finite entries in [0, 1] and P + P.T = 1 within 1e-6 (antisymmetry; the
    diagonal is then ½).
    """
    p = np.array(preference, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != p.shape[1]:
        raise ValueError(f"{name} must be a square matrix float[K, K], got shape {p.shape}")
    if p.shape[0] < 2:
        raise ValueError(f"{name} needs K >= 2 responses, got K = {p.shape[0]}")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{name} has non-finite entries")
    bad = np.argwhere((p < 0.0) | (p > 1.0))
    if len(bad):
        i, j = bad[0]
        raise ValueError(f"{name}[{i}, {j}] = {p[i, j]:.6g} is not a probability (allowed: [0, 1])")
    violation = np.abs(p + p.T - 1.0)
    i, j = np.unravel_index(np.argmax(violation), violation.shape)
    if violation[i, j] > 1e-6:
        raise ValueError(f"{name} is not antisymmetric: P[{i}, {j}] + P[{j}, {i}] = {p[i, j] + p[j, i]:.6g}, "
                         f"must be 1 (within 1e-6)")
    return p


def check_judge(judge: Judge, key: jax.Array, length: int, *, n_pairs: int = 512, n_prompts: int = 1,
                tol: float = PROB_TOL) -> None:
    """ValueError unless `judge` is a probability and antisymmetric on n_pairs random pairs.

    Checks P(y ≻ y' | x) in [0, 1] and finite, |P(y ≻ y') + P(y' ≻ y) − 1| <= tol and P(y ≻ y) = ½
    for uniformly random prompts in [0, n_prompts) and responses int32[length] over judge.vocab.
    """
    k_x, k_y, k_y2 = jax.random.split(key, 3)
    x = jax.random.randint(k_x, (n_pairs,), 0, n_prompts)
    y = jax.random.randint(k_y, (n_pairs, length), 0, judge.vocab)
    y2 = jax.random.randint(k_y2, (n_pairs, length), 0, judge.vocab)
    y2 = y2.at[0].set(y[0])  # one pair of equal responses among the random ones
    pairs = jax.jit(judge.pairs)  # one compile for the three calls; op by op, a network judge takes seconds
    forward = np.asarray(pairs(x, y, y2), np.float64)
    backward = np.asarray(pairs(x, y2, y), np.float64)
    same = np.asarray(pairs(x, y, y), np.float64)
    for label, values in (("P(y ≻ y')", forward), ("P(y ≻ y)", same)):
        bad = ~np.isfinite(values) | (values < -tol) | (values > 1.0 + tol)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"judge {judge.name!r} is not a probability: {label} = {values[i]:.6g} for pair {i} "
                             f"(allowed: [0, 1])")
    gap = np.abs(forward + backward - 1.0)
    if gap.max() > tol:
        i = int(np.argmax(gap))
        raise ValueError(f"judge {judge.name!r} is not antisymmetric: P(y ≻ y') + P(y' ≻ y) = "
                         f"{forward[i] + backward[i]:.6g} for pair {i}, must be 1 (within {tol:g})")
    if np.abs(same - 0.5).max() > tol:
        i = int(np.argmax(np.abs(same - 0.5)))
        raise ValueError(f"judge {judge.name!r} gives P(y ≻ y) = {same[i]:.6g} for pair {i}, must be ½")


# ----------------------------------------------------------------------------- judges
def linear_reward(weights, pad_id: int | None = None) -> Callable:
    """r(x, y) = Σ_t w[y_t] over the content positions of y (all of them when pad_id is None), for
    weights float[V] (the transitive testbed uses linspace(−1, 1, 16))."""
    w = jnp.asarray(np.asarray(weights, np.float32))
    return lambda x, y: jnp.where(content_mask(y, pad_id), w[y], 0.0).sum()


def bradley_terry(vocab: int, reward: Callable | None = None, *, weights=None, scale: float = 1.0,
                  length: int | None = None, pad_id: int | None = None) -> Judge:
    """P(y ≻ y' | x) = σ(scale·(r(x, y) − r(x, y'))).

    Either `reward(x, y) -> float32[]` or per-token `weights` float[vocab] (default linspace(−1, 1,
    vocab)); with weights the best response is the top-weight token at every position (needs
    `length`, the response length). pad_id: positions holding it add nothing to the weights' reward
    (a `reward` given by the caller must ignore them itself; the judge only records pad_id). With
    pad_id, when no content token has a positive weight the empty response (all pad) is the best.
    """
    vocab = _check_vocab(vocab)
    pad_id = _check_pad(pad_id, vocab)
    best = None
    if reward is None:
        w = np.linspace(-1.0, 1.0, vocab) if weights is None else np.asarray(weights, np.float64)
        if w.shape != (vocab,):
            raise ValueError(f"weights must have shape ({vocab},) = (vocab,), got {w.shape}")
        reward = linear_reward(w, pad_id)
        if length is not None:
            content = w if pad_id is None else np.where(np.arange(vocab) == pad_id, -np.inf, w)
            top = int(np.argmax(content))
            # a pad position scores 0, so with pad_id an extra token is worth writing only if w[top] >= 0
            fill = top if pad_id is None or w[top] >= 0 else pad_id
            best = lambda x: jnp.full((length,), fill, jnp.int32)  # noqa: E731
    scale = float(scale)

    def prob(x, y, y2):
        return jax.nn.sigmoid(scale * (reward(x, y) - reward(x, y2)))

    return Judge(prob=prob, vocab=vocab, name="bt", best_response=best, length=length, pad_id=pad_id)


def class_permutations(n_classes: int) -> np.ndarray:
    """int32[C!, C]: every permutation of the classes; prompt x uses row x mod C! (row 0: identity)."""
    return np.array(list(itertools.permutations(range(n_classes))), np.int32)


def sum_class(y: jax.Array, mask: jax.Array) -> jax.Array:
    """int32[]: Σ_t y_t over the content positions (mask bool[L]) of y int32[L]; testbed (b)'s class
    before the mod C."""
    return jnp.where(mask, y, 0).sum()


def class_cycle(vocab: int = 16, matrix=None, *, permute_by_prompt: bool = False, pad_id: int | None = None,
                class_fn: Callable | None = None) -> Judge:
    """Testbed (b): class c(y) = (Σ_t y_t) mod C, P(y ≻ y' | x) = M[c, c'] (½ within a class).

    matrix: float[C, C], default the biased rock-paper-scissors `BIASED_RPS` (C = 3); checked to be a
    probability and antisymmetric. permute_by_prompt: prompt x relabels the classes by permutation
    x mod C! (prompt 0 is the identity), so the Nash equilibrium differs per prompt. pad_id: the sum
    runs over content positions only. class_fn: (y int32[L], mask bool[L] of content positions) ->
    int32[], taken mod C, replaces the sum (default `sum_class`); e.g. `lambda y, mask: y[0]`, a class
    a small learned encoder finds in a few hundred steps where the parity-like sum mod 3 is slow.
    """
    vocab = _check_vocab(vocab)
    pad_id = _check_pad(pad_id, vocab)
    if class_fn is not None and not callable(class_fn):
        raise ValueError(f"class_fn must be a function (y int32[L], mask bool[L]) -> int32[], got {class_fn!r}")
    raw_class = sum_class if class_fn is None else class_fn
    m = check_preference(BIASED_RPS if matrix is None else matrix, "class matrix")
    n = m.shape[0]
    perms = jnp.asarray(class_permutations(n) if permute_by_prompt else np.arange(n, dtype=np.int32)[None])
    m32 = jnp.asarray(m, jnp.float32)

    def class_of(x, y):
        raw = jnp.asarray(raw_class(y, content_mask(y, pad_id)), jnp.int32) % n
        return perms[x % perms.shape[0], raw]

    def prob(x, y, y2):
        return m32[class_of(x, y), class_of(x, y2)]

    return Judge(prob=prob, vocab=vocab, name="cycle", class_of=class_of, class_matrix=m32, pad_id=pad_id)


def token_histogram(y: jax.Array, vocab: int, pad_id: int | None = None) -> jax.Array:
    """float32[V]: the fraction of content positions holding each token, for y int32[L]. Pad
    positions count for nothing; an empty response (all pad) has the zero histogram."""
    mask = content_mask(y, pad_id)
    counts = jnp.zeros(vocab, jnp.float32).at[y].add(mask.astype(jnp.float32))
    return counts / jnp.maximum(mask.sum(), 1)


def skew_symmetric(key: jax.Array, vocab: int, *, scale: float = 4.0, pad_id: int | None = None) -> Judge:
    """An intransitive judge: P(y ≻ y') = σ(scale·φ(y)ᵀ A φ(y')) with A a random skew-symmetric
    matrix [V, V] (entries N(0, 1), A = (B − Bᵀ)/√2) and φ the token histogram (`token_histogram`,
    over the content positions when pad_id is given)."""
    vocab = _check_vocab(vocab)
    pad_id = _check_pad(pad_id, vocab)
    b = jax.random.normal(key, (vocab, vocab), jnp.float32)
    a = (b - b.T) / jnp.sqrt(2.0)

    def prob(x, y, y2):
        return jax.nn.sigmoid(scale * token_histogram(y, vocab, pad_id) @ a @ token_histogram(y2, vocab, pad_id))

    return Judge(prob=prob, vocab=vocab, name="skew", pad_id=pad_id)


# ----------------------------------------------------------------------------- composition
def with_noise(judge: Judge, eps: float) -> Judge:
    """Labels flipped with probability ε: P' = ε + (1 − 2ε)·P (ε in [0, ½]). Keeps the class
    structure (M' = ε + (1 − 2ε)·M) and the best response."""
    eps = float(eps)
    if not 0.0 <= eps <= 0.5:
        raise ValueError(f"label noise eps must be in [0, 0.5], got {eps}")

    def prob(x, y, y2):
        return eps + (1.0 - 2.0 * eps) * judge.prob(x, y, y2)

    matrix = None if judge.class_matrix is None else eps + (1.0 - 2.0 * eps) * judge.class_matrix
    return dataclasses.replace(judge, prob=prob, name=f"noisy({judge.name}, {eps:g})", class_matrix=matrix)


def with_ties(judge: Judge, band: float) -> Judge:
    """Ties: a pair with |P − ½| <= band is judged even (P' = ½); others keep P. band in [0, ½).
    Antisymmetry is kept (the rule is symmetric about ½); so is the class structure."""
    band = float(band)
    if not 0.0 <= band < 0.5:
        raise ValueError(f"tie band must be in [0, 0.5), got {band}")

    def tie(p):
        return jnp.where(jnp.abs(p - 0.5) <= band, 0.5, p)

    matrix = None if judge.class_matrix is None else tie(judge.class_matrix)
    return dataclasses.replace(judge, prob=lambda x, y, y2: tie(judge.prob(x, y, y2)),
                               name=f"ties({judge.name}, {band:g})", class_matrix=matrix, best_response=None)


def mix(judges: Sequence[Judge], weights: Sequence[float]) -> Judge:
    """Convex combination Σ_i w_i·P_i of judges over one vocabulary (w >= 0, Σ w = 1)."""
    judges = list(judges)
    w = np.asarray(weights, np.float64)
    if not judges or w.shape != (len(judges),):
        raise ValueError(f"mix needs one weight per judge, got {len(judges)} judges and weights of shape {w.shape}")
    if (w < 0).any() or abs(w.sum() - 1.0) > 1e-6:
        raise ValueError(f"mix weights must be >= 0 and sum to 1, got {w.tolist()}")
    vocabs = {j.vocab for j in judges}
    if len(vocabs) > 1:
        raise ValueError(f"mismatched vocabularies: cannot mix judges over vocabularies {sorted(vocabs)}")
    # judges that disagree on where a response ends (None: nowhere) would score different responses
    pads = {j.pad_id for j in judges}
    if len(pads) > 1:
        raise ValueError(f"mismatched pad ids: cannot mix judges with pad_id {sorted(pads, key=str)}; build them "
                         f"with one pad_id")
    w32 = jnp.asarray(w, jnp.float32)

    def prob(x, y, y2):
        return sum(w32[i] * j.prob(x, y, y2) for i, j in enumerate(judges))

    return Judge(prob=prob, vocab=judges[0].vocab, name="mix(" + ", ".join(j.name for j in judges) + ")",
                 pad_id=judges[0].pad_id)


CLIP = 1e-6  # length_biased clips P into [CLIP, 1 − CLIP] before the logit


def length_biased(judge: Judge, weight: float, pad_id: int | None = None) -> Judge:
    """A judge that favours longer responses: P'(y ≻ y') = σ(ℓ(y, y') + weight·(len(y) − len(y'))).

    ℓ(y, y') = ½(logit P(y ≻ y') − logit P(y' ≻ y)) with P clipped into [1e-6, 1 − 1e-6]: for an
    antisymmetric judge that is logit P(y ≻ y'); taking both orders makes ℓ exactly antisymmetric in
    float32, where logit(1 − P) and −logit(P) differ by up to P's rounding over P(1 − P).
    len = `response_length` with pad_id (default judge.pad_id; one of them must be given; a judge
    built without pad_id reads the pads as tokens). weight in logits per token (> 0 favours length).
    The class structure and the best response are dropped: the bias depends on the length, not on
    the class.
    """
    weight = validate.number("length weight", weight)
    if pad_id is not None and judge.pad_id is not None and pad_id != judge.pad_id:
        raise ValueError(f"pad_id {pad_id} differs from the pad_id {judge.pad_id} of judge {judge.name!r}")
    pad_id = judge.pad_id if pad_id is None else _check_pad(pad_id, judge.vocab)
    if pad_id is None:
        raise ValueError(f"length_biased needs a pad_id (the judge {judge.name!r} has none): without one "
                         f"every response has the full length and the bias is 0")

    def logit(p):
        p = jnp.clip(p, CLIP, 1.0 - CLIP)
        return jnp.log(p) - jnp.log1p(-p)

    def prob(x, y, y2):
        base = 0.5 * (logit(judge.prob(x, y, y2)) - logit(judge.prob(x, y2, y)))
        gap = (response_length(y, pad_id) - response_length(y2, pad_id)).astype(jnp.float32)
        return jax.nn.sigmoid(base + weight * gap)

    return dataclasses.replace(judge, prob=prob, name=f"length({judge.name}, {weight:g})", class_of=None,
                               class_matrix=None, best_response=None, pad_id=pad_id)


def check_vocab_match(judge: Judge, vocab: int, what: str = "the policy") -> None:
    """ValueError when the judge and the policy disagree on the vocabulary."""
    if judge.vocab != vocab:
        raise ValueError(f"mismatched vocabularies: judge {judge.name!r} scores sequences over {judge.vocab} tokens, "
                         f"{what} emits {vocab}")


def judge_matrix_batch(judge: Judge, x: jax.Array, ys: jax.Array) -> jax.Array:
    """float32[B, K, K]: `judge.matrix` for each prompt x int32[B] and its responses ys int32[B, K, L]."""
    chex.assert_rank(ys, 3)
    return jax.vmap(judge.matrix)(x, ys)
