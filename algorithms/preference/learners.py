"""Sample-based learners on a language-model policy: one jit-compiled update per iteration.

    learner = make_learner(policy, judge, LearnerConfig(algorithm="sppo"))   # policy: lm.LMConfig or a Policy
    state = learner.init(reference_params)            # LearnerState; the policy starts at ρ
    state, metrics = learner.update(state, key)       # one iteration t -> t + 1, one compiled call
    state, metrics, data = learner.update_with_data(state, key)   # and the iteration's dataset

An iteration freezes π_t (every log-probability under π_t is computed once, before any gradient
step), samples K responses for each of B prompts, judges every pair of them (float32[B, K, K]),
labels them (`labels`: the judge's probability, or one hard outcome per pair drawn from it or its
likelier side) and takes `epochs` × `minibatches` steps of a fresh optimiser on the algorithm's loss:
- "sppo":    squared loss toward η (P̂(y ≻ π_t) − ½), P̂ over the K − 1 other samples (no self-pair);
             `best_worst` keeps only each prompt's best and worst sample, as the reference code does
- "nash_md": the same regression from samples of the token-level mixture π^μ ∝ π_t^{1−ητ} ρ^{ητ},
             toward log π^μ(y) + η (P̂(y ≻ π^μ) − ½) with log π^μ the mixture's normalised log-probability
- "spo":     PPO's clipped surrogate (`algorithms.ppo.policy_loss`) on per-token ratios, the reward
             of a response its win rate against the other K − 1, normalised (`normalize_advantages`)
- "inpo", "dpo", "ipo", "simpo": pairs of each prompt's K samples weighted by their labels; DPO, IPO
             and SimPO draw their pairs from the reference by default (offline data), `pairs_from="policy"` from π_t
- "iterative_dpo", "iterative_ipo" (the SPPO paper's baselines) and "dno" (DNO's practical version):
             each iteration moves the reference to π_t and learns from π_t's own samples, on each
             prompt's best and worst response (by P̂); DNO keeps a pair only if P̂ differs by `dno_margin`

The optimiser starts afresh each iteration (`optimizer="reset"`, as the published pipelines do:
each iteration is a new fine-tuning run from π_t) with a linear warm-up over `warmup` of the
iteration's steps and a linear decay to 0; `optimizer="carry"` keeps Adam's moments and a constant
rate across iterations.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from algorithms import ppo, validate
from algorithms.preference import losses
from algorithms.preference.judges import Judge, check_vocab_match, judge_matrix_batch
from algorithms.preference.policy import as_policy

ALGORITHMS = ("sppo", "spo", "inpo", "nash_md", "dpo", "ipo", "simpo", "iterative_dpo", "iterative_ipo", "dno")
PAIR_ALGORITHMS = ("inpo", "dpo", "ipo", "simpo", "iterative_dpo", "iterative_ipo", "dno")
OFFLINE_ALGORITHMS = ("dpo", "ipo", "simpo")  # pairs from the reference unless pairs_from="policy"
MOVING_REFERENCE = ("iterative_dpo", "iterative_ipo", "dno")  # ρ := π_t at the start of each iteration
LABELS = ("soft", "sample", "argmax")
OPTIMIZERS = ("reset", "carry")


@dataclasses.dataclass(frozen=True)
class LearnerConfig:
    """Static settings of a learner (hashable, closed over by jit); checked when built."""

    algorithm: str = "sppo"  # sppo, spo, inpo, nash_md (self-play); dpo, ipo, simpo, iterative_dpo, iterative_ipo, dno
    prompts: int = 32  # B prompts per iteration
    k_samples: int = 8  # K responses sampled per prompt (>= 2: a win rate needs another sample)
    epochs: int = 8  # passes over an iteration's data
    minibatches: int = 4  # split the prompts (pair methods) or the sequences
    learning_rate: float = 3e-3  # Adam's (the peak of the schedule with optimizer=reset)
    optimizer: str = "reset"  # reset: a fresh Adam with warm-up and decay each iteration; carry: one Adam throughout
    warmup: float = 0.1  # with optimizer=reset: the fraction of an iteration's steps spent warming up
    eta: float = 1.0  # SPPO / Nash-MD step size, INPO's eta (> tau)
    tau: float = 0.1  # KL-regularisation strength of Nash-MD and INPO, IPO's tau
    beta: float = 0.1  # DPO's, DNO's and SimPO's beta
    gamma: float = 0.5  # SimPO's margin
    clip_eps: float = 0.2  # SPO's PPO clip
    best_worst: bool | None = None  # each prompt's best and worst sample only (None: yes for iterative_*/dno)
    dno_margin: float = 0.1  # DNO keeps a best/worst pair whose win rates differ by at least this
    tie_alpha: float = 0.0  # > 0: tie-aware DPO (Rao-Kupper, log nu = tie_alpha): pairs judged even (P = 1/2) are ties
    labels: str = "soft"  # soft: the judge's probability; sample: one drawn outcome per pair; argmax: its likelier side
    pairs_from: str | None = None  # policy or reference (None: reference for dpo/ipo/simpo, else policy)

    def __post_init__(self):
        validate.choice("algorithm", self.algorithm, ALGORITHMS)
        for name in ("prompts", "epochs", "minibatches"):
            validate.integer(name, getattr(self, name), 1)
        validate.integer("k_samples", self.k_samples, 2)
        for name in ("learning_rate", "eta", "tau", "beta", "clip_eps"):
            validate.positive(name, getattr(self, name))
        validate.choice("optimizer", self.optimizer, OPTIMIZERS)
        validate.number("warmup", self.warmup, low=0.0, high=1.0)
        validate.fraction("dno_margin", self.dno_margin)
        validate.positive("tie_alpha", self.tie_alpha, allow_zero=True)
        if self.tie_alpha and self.algorithm not in ("dpo", "iterative_dpo", "dno"):
            raise ValueError(f"tie_alpha makes DPO's loss tie-aware: it is for dpo, iterative_dpo and dno, not "
                             f"{self.algorithm}")
        if self.algorithm == "inpo" and self.tau >= self.eta:
            raise ValueError(f"inpo needs tau < eta, got tau={self.tau}, eta={self.eta}")
        if self.algorithm == "nash_md" and self.eta * self.tau >= 1.0:
            raise ValueError(f"nash_md needs eta·tau < 1, got {self.eta * self.tau}")
        validate.choice("labels", self.labels, LABELS)
        if self.pairs_from not in (None, "policy", "reference"):
            raise ValueError(f"pairs_from must be 'policy' or 'reference' (or None for the default), "
                             f"got {self.pairs_from!r}")
        if self.pairs_from == "reference" and self.algorithm not in OFFLINE_ALGORITHMS:
            raise ValueError(f"{self.algorithm} learns from its own samples; pairs_from='reference' is for "
                             f"{', '.join(OFFLINE_ALGORITHMS)}")
        if self.best_worst and self.algorithm in ("spo", "nash_md"):
            raise ValueError(f"best_worst is for sppo and the pair methods, not {self.algorithm}")
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
        return "reference" if self.algorithm in OFFLINE_ALGORITHMS else "policy"

    @property
    def uses_best_worst(self) -> bool:
        return self.algorithm in MOVING_REFERENCE if self.best_worst is None else bool(self.best_worst)

    @property
    def n_train(self) -> int:
        """Training examples per iteration: sequences, or prompts (each with its pairs) for the pair methods."""
        if self.algorithm in PAIR_ALGORITHMS:
            return self.prompts
        if self.algorithm == "sppo" and self.uses_best_worst:
            return 2 * self.prompts
        return self.prompts * self.k_samples

    @property
    def steps_per_iteration(self) -> int:
        return self.epochs * self.minibatches


@struct.dataclass
class LearnerState:
    """params: the policy π_θ; opt_state: the optimiser's; ref_params: ρ (π_t for the iterative
    methods); iteration: int32[]."""

    params: Any
    opt_state: Any
    ref_params: Any
    iteration: jax.Array


class Learner(NamedTuple):
    """init(ref_params) -> LearnerState; update(state, key) -> (state, metrics);
    update_with_data(state, key) -> (state, metrics, data) with the iteration's dataset (`iteration_data`)."""

    init: Callable
    update: Callable
    update_with_data: Callable
    config: LearnerConfig
    policy: Any

    @property
    def lm_config(self):  # the toy model's config, for code written before `Policy`
        return getattr(self.policy, "config", None)


def learning_rate_schedule(cfg: LearnerConfig) -> optax.Schedule:
    """The rate at each step of an iteration: with optimizer=reset a linear warm-up over `warmup` of
    the iteration's steps, then a linear decay to 0 at its end (the published pipelines' schedule);
    with optimizer=carry the constant `learning_rate`."""
    if cfg.optimizer == "carry":
        return optax.constant_schedule(cfg.learning_rate)
    total = cfg.steps_per_iteration
    warm = int(round(cfg.warmup * total))
    decay = optax.linear_schedule(cfg.learning_rate, 0.0, max(total - warm, 1))
    if not warm:
        return decay
    return optax.join_schedules([optax.linear_schedule(0.0, cfg.learning_rate, warm), decay], [warm])


def learning_rate_at(cfg: LearnerConfig, step: int) -> float:
    """The rate of step `step` (0-based) of an iteration."""
    return float(learning_rate_schedule(cfg)(step))


def make_optimizer(cfg: LearnerConfig) -> optax.GradientTransformation:
    """Adam on `learning_rate_schedule`; with optimizer=reset the learner re-initialises its state
    (moments and step count) at the start of every iteration."""
    return optax.adam(learning_rate_schedule(cfg))


# ----------------------------------------------------------------------------- labels
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


def labelled_win_rates(w: jax.Array) -> jax.Array:
    """float32[B, K]: P̂(y_i ≻ π_t) = Σ_{j ≠ i} W_ij / (K − 1) from labelled weights W [B, K, K]
    (`losses.win_rates` of the judge's matrix when the labels are soft)."""
    return w.sum(-1) / (w.shape[-1] - 1)


def best_and_worst(win: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(int32[B], int32[B]): each prompt's highest and lowest P̂ among its K samples (first on ties)."""
    return jnp.argmax(win, -1).astype(jnp.int32), jnp.argmin(win, -1).astype(jnp.int32)


# ----------------------------------------------------------------------------- iteration data
def _sequence_data(cfg: LearnerConfig, x, s, win) -> dict[str, jax.Array]:
    """Per-sequence training data of SPPO, Nash-MD and SPO: leading axis N (see `n_train`)."""
    b, k = cfg.prompts, cfg.k_samples
    win = win.reshape(b * k)
    data = dict(x=jnp.repeat(x, k), y=s.tokens, mask=s.mask, win=win, logp_t=s.logp.sum(-1), old_tok=s.logp)
    if cfg.algorithm == "spo":
        data["adv"] = ppo.normalize_advantages(win)
    if cfg.algorithm == "sppo" and cfg.uses_best_worst:
        best, worst = best_and_worst(win.reshape(b, k))
        pick = jnp.stack([best, worst], 1) + jnp.arange(b)[:, None] * k  # [B, 2]
        data = jax.tree_util.tree_map(lambda a: a[pick.reshape(-1)], data)
    return data


TIE_TOL = 1e-6  # a pair the judge calls even within this is a tie (ternary labels, `tie_alpha`)


def _pair_data(cfg: LearnerConfig, policy, state, x, s, p, w, win) -> dict[str, jax.Array]:
    """Per-prompt data of the pair methods: ordered pairs of the K samples weighted by their labels
    (all pairs, or each prompt's best-over-worst pair). Leading axis B: x [B], y, mask [B, K, L],
    ref, old [B, K], w and tie [B, K, K] (1 where the judge calls the pair even)."""
    b, k = cfg.prompts, cfg.k_samples
    ref = policy.token_logprobs(state.ref_params, jnp.repeat(x, k), s.tokens).sum(-1).reshape(b, k)
    if cfg.uses_best_worst:
        best, worst = best_and_worst(win)
        keep = best != worst
        if cfg.algorithm == "dno":
            keep &= jnp.take_along_axis(win, best[:, None], 1)[:, 0] - jnp.take_along_axis(win, worst[:, None], 1)[:, 0] \
                >= cfg.dno_margin
        w = (jax.nn.one_hot(best, k)[:, :, None] * jax.nn.one_hot(worst, k)[:, None, :]) * keep[:, None, None]
    return dict(x=x, y=s.tokens.reshape(b, k, -1), mask=s.mask.reshape(b, k, -1), ref=ref,
                old=s.logp.sum(-1).reshape(b, k), w=w, tie=(jnp.abs(p - 0.5) < TIE_TOL).astype(jnp.float32))


def _ordered_pairs(a: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(a_i, a_j) over every ordered pair of the K entries of a float32[M, K]: float32[M·K·K] each."""
    k = a.shape[-1]
    return (jnp.broadcast_to(a[:, :, None], a.shape + (k,)).reshape(-1),
            jnp.broadcast_to(a[:, None, :], a.shape[:1] + (k, k)).reshape(-1))


# ----------------------------------------------------------------------------- losses on a minibatch
def _pair_loss(cfg: LearnerConfig, policy, params, mb):
    m, k, length = mb["y"].shape
    tok = policy.token_logprobs(params, jnp.repeat(mb["x"], k), mb["y"].reshape(m * k, length))
    logp = tok.sum(-1).reshape(m, k)
    (w, l), (ref_w, ref_l), (old_w, old_l) = _ordered_pairs(logp), _ordered_pairs(mb["ref"]), _ordered_pairs(mb["old"])
    weights = mb["w"].reshape(-1)
    algorithm = cfg.algorithm
    if algorithm in ("dpo", "iterative_dpo", "dno") and cfg.tie_alpha:
        loss = losses.dpo_ties_loss(w, l, ref_w, ref_l, cfg.beta, cfg.tie_alpha, mb["tie"].reshape(-1), weights)
    elif algorithm in ("dpo", "iterative_dpo", "dno"):
        loss = losses.dpo_loss(w, l, ref_w, ref_l, cfg.beta, weights)
    elif algorithm in ("ipo", "iterative_ipo"):
        loss = losses.ipo_loss(w, l, ref_w, ref_l, cfg.tau, weights)
    elif algorithm == "inpo":
        loss = losses.inpo_loss(w, l, ref_w, ref_l, old_w, old_l, cfg.eta, cfg.tau, weights)
    else:  # SimPO: the per-token average over each response's own length
        n_tok = jnp.maximum(mb["mask"].reshape(m * k, length).sum(-1), 1.0).reshape(m, k)
        mean_w, mean_l = _ordered_pairs(logp / n_tok)
        loss = losses.simpo_loss(mean_w, mean_l, cfg.beta, cfg.gamma, weights)
    margin = losses.pair_margin(w, l, ref_w, ref_l)
    mean = lambda v: losses.weighted_mean(v, weights)  # noqa: E731  (TRL's rewards/* and logps/*)
    return loss, dict(margin=mean(margin), accuracy=mean((margin > 0).astype(jnp.float32)),
                      chosen_logp=mean(w), rejected_logp=mean(l), chosen_log_ratio=mean(w - ref_w),
                      rejected_log_ratio=mean(l - ref_l), pair_weight=jnp.sum(weights) / m)


def _loss(cfg: LearnerConfig, policy, params, mb) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The algorithm's loss on one minibatch (leaves [M, ...]) and its metrics."""
    if cfg.algorithm in PAIR_ALGORITHMS:
        return _pair_loss(cfg, policy, params, mb)
    tok = policy.token_logprobs(params, mb["x"], mb["y"])
    if cfg.algorithm == "spo":
        adv = jnp.broadcast_to(mb["adv"][:, None], tok.shape)
        return ppo.policy_loss(tok, mb["old_tok"], adv, cfg.clip_eps, mask=mb["mask"] > 0)
    logp = tok.sum(-1)
    log_ratio = logp - mb["logp_t"]
    if cfg.algorithm == "sppo":
        loss = losses.sppo_loss(logp, mb["logp_t"], mb["win"], cfg.eta)
    else:  # Nash-MD: logp_t holds log π^μ(y), the mixture the samples came from
        loss = losses.nash_md_loss(logp, mb["logp_t"], mb["win"], cfg.eta)
    return loss, dict(log_ratio=jnp.mean(log_ratio), abs_log_ratio=jnp.mean(jnp.abs(log_ratio)),
                      approx_kl=jnp.mean(jnp.expm1(log_ratio) - log_ratio))  # k3 estimate of KL(π_t‖π) on π_t's samples


def _train(cfg: LearnerConfig, policy, tx, params, opt_state, data, key):
    """`epochs` shuffled passes of `minibatches` optimiser steps over the iteration's data (one scan)."""
    n = cfg.n_train
    grad_fn = jax.value_and_grad(lambda prm, mb: _loss(cfg, policy, prm, mb), has_aux=True)

    def epoch(carry, k):
        perm = jax.random.permutation(k, n).reshape(cfg.minibatches, n // cfg.minibatches)

        def step(carry, idx):
            params, opt_state = carry
            mb = jax.tree_util.tree_map(lambda a: a[idx], data)
            (loss, metrics), grads = grad_fn(params, mb)
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), dict(metrics, loss=loss,
                                                                          grad_norm=optax.global_norm(grads))

        return jax.lax.scan(step, carry, perm)

    (params, opt_state), metrics = jax.lax.scan(epoch, (params, opt_state), jax.random.split(key, cfg.epochs))
    return params, opt_state, jax.tree_util.tree_map(jnp.mean, metrics)


def iteration_data(cfg: LearnerConfig, policy, judge: Judge, state: LearnerState, key: jax.Array):
    """One iteration's samples, judged and labelled: (training data, dataset, metrics of the samples).

    The training data's leading axis is `cfg.n_train`; for SPPO, Nash-MD and SPO its "logp_t" is the
    log-probability of each response under the distribution it was sampled from (π_t, or Nash-MD's
    normalised mixture π^μ). The dataset is what `run` saves: x int32[B], y int32[B, K, L], the
    judge's p float32[B, K, K], the win rates float32[B, K], chosen and rejected int32[B].
    """
    k_x, k_y, k_label = jax.random.split(key, 3)
    b, k = cfg.prompts, cfg.k_samples
    x = policy.random_prompts(k_x, b)
    xs = jnp.repeat(x, k)
    if cfg.algorithm == "nash_md":
        s = policy.sample_mixture(state.params, state.ref_params, cfg.eta * cfg.tau, k_y, xs)
    elif cfg.sample_source == "reference":
        s = policy.sample(state.ref_params, k_y, xs)
        s = s._replace(logp=policy.token_logprobs(state.params, xs, s.tokens))  # under π_t
    else:
        s = policy.sample(state.params, k_y, xs)
    p = judge_matrix_batch(judge, x, policy.judge_view(s.tokens).reshape(b, k, -1))  # [B, K, K]
    w = pair_label_weights(k_label, p, cfg.labels)
    win = labelled_win_rates(w)  # [B, K]
    if cfg.algorithm in PAIR_ALGORITHMS:
        data = _pair_data(cfg, policy, state, x, s, p, w, win)
    else:
        data = _sequence_data(cfg, x, s, win)
    best, worst = best_and_worst(win)
    dataset = dict(x=x, y=s.tokens.reshape(b, k, -1), p=p, win=win, chosen=best, rejected=worst)
    sample_metrics = dict(sample_win_rate_spread=jnp.std(win), sample_win_rate_range=jnp.mean(win.max(-1) - win.min(-1)),
                          sample_length=jnp.mean(s.mask.sum(-1)), sample_logp=jnp.mean(s.logp.sum(-1)))
    return data, dataset, sample_metrics


def make_learner(policy, judge: Judge, config: LearnerConfig) -> Learner:
    """The learner of `config.algorithm` for `policy` (an `lm.LMConfig` or a `policy.Policy`) judged by
    `judge`. Learners are cached by (policy, judge, config), so a second run with the same ones (a
    resumed run, a notebook cell run again) reuses the compiled update."""
    policy = as_policy(policy)
    check_vocab_match(judge, policy.vocab, "the language model")
    if judge.length is not None and judge.length != policy.length:
        raise ValueError(f"judge {judge.name!r} scores responses of length {judge.length}, the language model "
                         f"emits {policy.length}")
    return _make_learner(policy, judge, config)


@functools.lru_cache(maxsize=64)
def _make_learner(policy, judge: Judge, config: LearnerConfig) -> Learner:
    cfg = config
    tx = make_optimizer(cfg)
    if hasattr(policy, "trainable_labels"):  # LoRA: the base gets a zero update and no optimiser state
        tx = optax.multi_transform({"train": tx, "freeze": optax.set_to_zero()}, policy.trainable_labels)

    def init(ref_params) -> LearnerState:
        params = jax.tree_util.tree_map(jnp.array, ref_params)  # a copy: π_0 = ρ
        return LearnerState(params=params, opt_state=tx.init(params), ref_params=ref_params,
                            iteration=jnp.int32(0))

    def update_with_data(state: LearnerState, key: jax.Array):
        k_data, k_train = jax.random.split(key)
        if cfg.algorithm in MOVING_REFERENCE:
            state = state.replace(ref_params=state.params)
        data, dataset, sample_metrics = iteration_data(cfg, policy, judge, state, k_data)
        opt_state = tx.init(state.params) if cfg.optimizer == "reset" else state.opt_state
        params, opt_state, metrics = _train(cfg, policy, tx, state.params, opt_state, data, k_train)
        new = state.replace(params=params, opt_state=opt_state, iteration=state.iteration + 1)
        return new, dict(metrics, **sample_metrics), dataset

    def update(state, key):
        new, metrics, _ = update_with_data(state, key)
        return new, metrics

    return Learner(init=init, update=jax.jit(update), update_with_data=jax.jit(update_with_data), config=cfg,
                   policy=policy)
