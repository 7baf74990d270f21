"""Sample-based learners on the language-model policy: one jit-compiled update per iteration.

    learner = make_learner(lm_config, judge, LearnerConfig(algorithm="sppo"))
    state = learner.init(reference_params)            # LearnerState; the policy starts at ρ
    state, metrics = learner.update(state, key)       # one iteration t -> t + 1, one compiled call

An iteration freezes π_t (the current parameters: every log-probability under π_t is computed once,
before any gradient step), samples K responses for each of B prompts, judges every pair of them
(float32[B, K, K]) and takes `epochs` × `minibatches` Adam steps on the algorithm's loss:
- "sppo":    squared loss toward η (P̂(y ≻ π_t) − ½), P̂ over the K − 1 other samples (no self-pair);
             `best_worst` keeps only each prompt's best and worst sample, as the reference code does
- "nash_md": the same regression from samples of the token-level mixture π^μ ∝ π_t^{1−ητ} ρ^{ητ}
- "spo":     PPO's clipped surrogate (`algorithms.ppo.policy_loss`) on per-token ratios, the reward
             of a response its win rate against the other K − 1, normalised (`normalize_advantages`)
- "inpo", "dpo", "ipo", "simpo": every pair of each prompt's K samples, labelled by the judge:
             weighted by its probability (labels="soft", the expectation over labels), or one winner
             drawn from it ("sample"), or the likelier one ("argmax"); DPO, IPO and SimPO draw their
             pairs from the reference by default (offline data), `pairs_from="policy"` from π_t
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from algorithms import ppo, validate
from algorithms.preference import lm, losses
from algorithms.preference.judges import Judge, check_vocab_match, judge_matrix_batch

ALGORITHMS = ("sppo", "spo", "inpo", "nash_md", "dpo", "ipo", "simpo")
PAIR_ALGORITHMS = ("inpo", "dpo", "ipo", "simpo")
LABELS = ("soft", "sample", "argmax")


@dataclasses.dataclass(frozen=True)
class LearnerConfig:
    """Static settings of a learner (hashable, closed over by jit); checked when built."""

    algorithm: str = "sppo"  # sppo, spo, inpo, nash_md (self-play) or dpo, ipo, simpo (baselines)
    prompts: int = 32  # B prompts per iteration
    k_samples: int = 8  # K responses sampled per prompt (>= 2: a win rate needs another sample)
    epochs: int = 8  # passes over an iteration's data
    minibatches: int = 4  # split the prompts (pair methods) or the sequences
    learning_rate: float = 3e-3  # Adam's
    eta: float = 1.0  # SPPO / Nash-MD step size, INPO's eta (> tau)
    tau: float = 0.1  # KL-regularisation strength of Nash-MD and INPO, IPO's tau
    beta: float = 0.1  # DPO's and SimPO's beta
    gamma: float = 0.5  # SimPO's margin
    clip_eps: float = 0.2  # SPO's PPO clip
    best_worst: bool = False  # SPPO on the best and worst of the K samples only
    labels: str = "soft"  # how pairs are labelled: soft, sample or argmax (`pair_label_weights`)
    pairs_from: str | None = None  # policy or reference (None: reference for dpo/ipo/simpo, else policy)

    def __post_init__(self):
        validate.choice("algorithm", self.algorithm, ALGORITHMS)
        for name in ("prompts", "epochs", "minibatches"):
            validate.integer(name, getattr(self, name), 1)
        validate.integer("k_samples", self.k_samples, 2)
        for name in ("learning_rate", "eta", "tau", "beta", "clip_eps"):
            validate.positive(name, getattr(self, name))
        if self.algorithm == "inpo" and self.tau >= self.eta:
            raise ValueError(f"inpo needs tau < eta, got tau={self.tau}, eta={self.eta}")
        if self.algorithm == "nash_md" and self.eta * self.tau >= 1.0:
            raise ValueError(f"nash_md needs eta·tau < 1, got {self.eta * self.tau}")
        validate.choice("labels", self.labels, LABELS)
        if self.pairs_from not in (None, "policy", "reference"):
            raise ValueError(f"pairs_from must be 'policy' or 'reference' (or None for the default), "
                             f"got {self.pairs_from!r}")
        if self.pairs_from == "reference" and self.algorithm not in PAIR_ALGORITHMS:
            raise ValueError(f"{self.algorithm} learns from its own samples; pairs_from='reference' is for "
                             f"{', '.join(PAIR_ALGORITHMS)}")
        if self.n_train % self.minibatches:
            raise ValueError(f"{self.n_train} training examples per iteration do not split into "
                             f"{self.minibatches} minibatches")

    @property
    def sample_source(self) -> str:
        """Whose samples an iteration learns from: DPO, IPO and SimPO by default learn from pairs of
        the reference (the offline data of the DPO paper, whose optimum docs/PREFERENCE.md gives); every
        other method, and these with pairs_from="policy", from π_t (online)."""
        if self.pairs_from is not None:
            return self.pairs_from
        return "reference" if self.algorithm in ("dpo", "ipo", "simpo") else "policy"

    @property
    def n_train(self) -> int:
        """Training examples per iteration: sequences, or pairs for the pair methods."""
        if self.algorithm in PAIR_ALGORITHMS:
            return self.prompts
        if self.algorithm == "sppo" and self.best_worst:
            return 2 * self.prompts
        return self.prompts * self.k_samples


@struct.dataclass
class LearnerState:
    """params: the policy π_θ; opt_state: Adam's; ref_params: ρ (fixed); iteration: int32[]."""

    params: Any
    opt_state: Any
    ref_params: Any
    iteration: jax.Array


class Learner(NamedTuple):
    """An (init, update) pair: init(ref_params) -> LearnerState; update(state, key) -> (state, metrics)."""

    init: Callable
    update: Callable
    config: LearnerConfig
    lm_config: lm.LMConfig


# ----------------------------------------------------------------------------- iteration data
def _seq_logp(lm_config, params, x, y):
    return lm.sequence_logprob(lm_config, params, x, y)


def _sequence_data(cfg: LearnerConfig, lm_config, state, x, y, logp_tok, p) -> dict[str, jax.Array]:
    """Per-sequence training data of SPPO, Nash-MD and SPO: leading axis N (see `n_train`)."""
    b, k = cfg.prompts, cfg.k_samples
    win = losses.win_rates(p).reshape(b * k)  # P̂(y ≻ π_t), self-pair excluded
    xs = jnp.repeat(x, k)
    data = dict(x=xs, y=y, win=win, logp_t=logp_tok.sum(-1), old_tok=logp_tok)
    if cfg.algorithm == "nash_md":  # samples come from π^μ: log-probabilities under π_t and ρ apart
        data["logp_t"] = _seq_logp(lm_config, state.params, xs, y)
        data["logp_ref"] = _seq_logp(lm_config, state.ref_params, xs, y)
    if cfg.algorithm == "spo":
        data["adv"] = ppo.normalize_advantages(win)
    if cfg.algorithm == "sppo" and cfg.best_worst:
        w = win.reshape(b, k)
        pick = jnp.stack([jnp.argmax(w, 1), jnp.argmin(w, 1)], 1) + jnp.arange(b)[:, None] * k  # [B, 2]
        data = jax.tree_util.tree_map(lambda a: a[pick.reshape(-1)], data)
    return data


def pair_label_weights(key: jax.Array, p: jax.Array, labels: str) -> jax.Array:
    """float32[B, K, K]: the weight of ordered pair (i beats j) among each prompt's K samples.

    "soft": W_ij = P(y_i ≻ y_j) for i ≠ j (the expectation over the judge's labels); "sample": one
    winner per unordered pair drawn from the judge's probability, W_ij = 1 if i won; "argmax": the
    likelier winner (a fair coin at ½). Either way W_ij + W_ji = 1 off the diagonal and W_ii = 0.
    """
    k = p.shape[-1]
    off = 1.0 - jnp.eye(k, dtype=jnp.float32)
    if labels == "soft":
        return p * off
    if labels == "sample":
        first = jax.random.bernoulli(key, p)
    else:
        first = (p > 0.5) | ((p == 0.5) & jax.random.bernoulli(key, 0.5, p.shape))
    upper = jnp.triu(jnp.ones((k, k), bool), 1)
    won = jnp.where(upper, first, ~jnp.swapaxes(first, -1, -2))  # j's result against i mirrors i's
    return won.astype(jnp.float32) * off


def _pair_data(cfg: LearnerConfig, lm_config, state, key, x, y, logp_tok, p) -> dict[str, jax.Array]:
    """Per-prompt data of the pair methods: every ordered pair of the K samples, weighted by its
    label (`pair_label_weights`). Leading axis B: x [B], y [B, K, L], ref, old [B, K], w [B, K, K]."""
    b, k = cfg.prompts, cfg.k_samples
    ref = _seq_logp(lm_config, state.ref_params, jnp.repeat(x, k), y).reshape(b, k)
    return dict(x=x, y=y.reshape(b, k, -1), ref=ref, old=logp_tok.sum(-1).reshape(b, k),
                w=pair_label_weights(key, p, cfg.labels))


def _ordered_pairs(a: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(a_i, a_j) over every ordered pair of the K entries of a float32[M, K]: float32[M·K·K] each."""
    k = a.shape[-1]
    return (jnp.broadcast_to(a[:, :, None], a.shape + (k,)).reshape(-1),
            jnp.broadcast_to(a[:, None, :], a.shape[:1] + (k, k)).reshape(-1))


# ----------------------------------------------------------------------------- losses on a minibatch
def _loss(cfg: LearnerConfig, lm_config, params, mb) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The algorithm's loss on one minibatch (leaves [M, ...]) and its metrics."""
    if cfg.algorithm in PAIR_ALGORITHMS:
        m, k, length = mb["y"].shape
        tok = lm.token_logprobs(lm_config, params, jnp.repeat(mb["x"], k), mb["y"].reshape(m * k, length))
        logp = tok.sum(-1).reshape(m, k)
        (w, l), (ref_w, ref_l), (old_w, old_l) = _ordered_pairs(logp), _ordered_pairs(mb["ref"]), _ordered_pairs(mb["old"])
        weights = mb["w"].reshape(-1)
        if cfg.algorithm == "dpo":
            loss = losses.dpo_loss(w, l, ref_w, ref_l, cfg.beta, weights)
        elif cfg.algorithm == "ipo":
            loss = losses.ipo_loss(w, l, ref_w, ref_l, cfg.tau, weights)
        elif cfg.algorithm == "inpo":
            loss = losses.inpo_loss(w, l, ref_w, ref_l, old_w, old_l, cfg.eta, cfg.tau, weights)
        else:
            mean_w, mean_l = _ordered_pairs(tok.mean(-1).reshape(m, k))
            loss = losses.simpo_loss(mean_w, mean_l, cfg.beta, cfg.gamma, weights)
        margin = losses.weighted_mean(losses.pair_margin(w, l, ref_w, ref_l), weights)
        return loss, dict(margin=margin)
    if cfg.algorithm == "spo":
        tok = lm.token_logprobs(lm_config, params, mb["x"], mb["y"])
        adv = jnp.broadcast_to(mb["adv"][:, None], tok.shape)
        return ppo.policy_loss(tok, mb["old_tok"], adv, cfg.clip_eps)
    logp = _seq_logp(lm_config, params, mb["x"], mb["y"])
    if cfg.algorithm == "sppo":
        loss = losses.sppo_loss(logp, mb["logp_t"], mb["win"], cfg.eta)
    else:
        loss = losses.nash_md_loss(logp, mb["logp_t"], mb["logp_ref"], mb["win"], cfg.eta, cfg.tau)
    return loss, dict(log_ratio=jnp.mean(logp - mb["logp_t"]))


def _train(cfg: LearnerConfig, lm_config, tx, params, opt_state, data, key):
    """`epochs` shuffled passes of `minibatches` Adam steps over the iteration's data (one scan)."""
    n = cfg.n_train
    grad_fn = jax.value_and_grad(lambda prm, mb: _loss(cfg, lm_config, prm, mb), has_aux=True)

    def epoch(carry, k):
        perm = jax.random.permutation(k, n).reshape(cfg.minibatches, n // cfg.minibatches)

        def step(carry, idx):
            params, opt_state = carry
            mb = jax.tree_util.tree_map(lambda a: a[idx], data)
            (loss, metrics), grads = grad_fn(params, mb)
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), dict(metrics, loss=loss)

        return jax.lax.scan(step, carry, perm)

    (params, opt_state), metrics = jax.lax.scan(epoch, (params, opt_state), jax.random.split(key, cfg.epochs))
    return params, opt_state, jax.tree_util.tree_map(jnp.mean, metrics)


def make_learner(lm_config: lm.LMConfig, judge: Judge, config: LearnerConfig) -> Learner:
    """The (init, update) pair of `config.algorithm` for policies of `lm_config` judged by `judge`."""
    check_vocab_match(judge, lm_config.vocab, "the language model")
    if judge.length is not None and judge.length != lm_config.length:
        raise ValueError(f"judge {judge.name!r} scores responses of length {judge.length}, the language model "
                         f"emits {lm_config.length}")
    cfg = config
    tx = optax.adam(cfg.learning_rate)

    def init(ref_params) -> LearnerState:
        params = jax.tree_util.tree_map(jnp.array, ref_params)  # a copy: π_0 = ρ
        return LearnerState(params=params, opt_state=tx.init(params), ref_params=ref_params,
                            iteration=jnp.int32(0))

    def update(state: LearnerState, key: jax.Array):
        k_x, k_y, k_label, k_train = jax.random.split(key, 4)
        b, k = cfg.prompts, cfg.k_samples
        x = lm.random_prompts(lm_config, k_x, b)
        xs = jnp.repeat(x, k)
        if cfg.algorithm == "nash_md":
            y, logp_tok = lm.sample_mixture(lm_config, state.params, state.ref_params, cfg.eta * cfg.tau, k_y, xs)
        elif cfg.sample_source == "reference":
            y, _ = lm.sample(lm_config, state.ref_params, k_y, xs)
            logp_tok = lm.token_logprobs(lm_config, state.params, xs, y)  # under π_t
        else:
            y, logp_tok = lm.sample(lm_config, state.params, k_y, xs)
        p = judge_matrix_batch(judge, x, y.reshape(b, k, -1))  # [B, K, K]
        if cfg.algorithm in PAIR_ALGORITHMS:
            data = _pair_data(cfg, lm_config, state, k_label, x, y, logp_tok, p)
        else:
            data = _sequence_data(cfg, lm_config, state, x, y, logp_tok, p)
        params, opt_state, metrics = _train(cfg, lm_config, tx, state.params, state.opt_state, data, k_train)
        metrics = dict(metrics, sample_win_rate_spread=jnp.std(losses.win_rates(p)))
        new = state.replace(params=params, opt_state=opt_state, iteration=state.iteration + 1)
        return new, metrics

    return Learner(init=init, update=jax.jit(update), config=cfg, lm_config=lm_config)
