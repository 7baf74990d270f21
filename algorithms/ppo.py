"""PPO's mathematics: GAE, the clipped surrogate, the value loss, and one update over a rollout.

Small pure functions, each testable alone (shapes in the docstrings). The battle learner
(`algorithms.marl`) and SPO in the preference game (`policy_loss`) both build on them.

Batching convention for a rollout: leading axes `[T, B, N]` (time, environment, agent in the
environment's order; the team of agent n is `env.teams[n]`). Nothing is flattened over agents: the
networks act on the trailing feature axis, so agent order is kept by construction.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax


# ----------------------------------------------------------------------------- advantages
def gae(rewards: jax.Array, values: jax.Array, dones: jax.Array, bootstrap: jax.Array, last_value: jax.Array,
        gamma: float, lam: float) -> tuple[jax.Array, jax.Array]:
    """Generalised advantage estimation over a rollout, scanning backwards in time.

    rewards, values: float32[T, ...]; dones: bool[T, ...], the step ended this agent's trajectory
    (the agent died, or its episode ended by termination or truncation); bootstrap: float32[T, ...],
    the value the trajectory continues with after a done step: 0 after death or termination,
    V(final observation) after truncation; last_value: float32[...], V of the state after the rollout.
    Returns (advantages, returns = advantages + values), float32[T, ...] each.

        delta_t = r_t + gamma * (done_t ? bootstrap_t : V_{t+1}) - V_t
        A_t     = delta_t + gamma * lam * (1 - done_t) * A_{t+1}
    """
    chex.assert_equal_shape([rewards, values, dones, bootstrap])
    chex.assert_equal_shape([values[0], last_value])
    next_values = jnp.concatenate([values[1:], last_value[None]], axis=0)
    cont = 1.0 - dones.astype(jnp.float32)
    target_next = jnp.where(dones, bootstrap, next_values)
    deltas = rewards + gamma * target_next - values

    def back(carry, x):
        delta, c = x
        adv = delta + gamma * lam * c * carry
        return adv, adv

    _, advantages = jax.lax.scan(back, jnp.zeros_like(last_value), (deltas, cont), reverse=True)
    return advantages, advantages + values


def normalize_advantages(advantages: jax.Array, mask: jax.Array | None = None, eps: float = 1e-8) -> jax.Array:
    """(A - mean) / (std + eps), the moments taken over the entries where `mask` is true."""
    if mask is None:
        mask = jnp.ones_like(advantages, dtype=bool)
    w = mask.astype(jnp.float32)
    count = jnp.maximum(w.sum(), 1.0)
    mean = (advantages * w).sum() / count
    var = (jnp.square(advantages - mean) * w).sum() / count
    return (advantages - mean) / (jnp.sqrt(var) + eps)


def _masked_mean(x: jax.Array, mask: jax.Array | None) -> jax.Array:
    if mask is None:
        return x.mean()
    w = mask.astype(jnp.float32)
    return (x * w).sum() / jnp.maximum(w.sum(), 1.0)


# ----------------------------------------------------------------------------- losses
def policy_loss(log_prob: jax.Array, old_log_prob: jax.Array, advantages: jax.Array, clip_eps: float,
                mask: jax.Array | None = None) -> tuple[jax.Array, dict[str, jax.Array]]:
    """PPO's clipped surrogate, to be minimised: -mean(min(rho * A, clip(rho, 1 +- eps) * A)).

    All inputs share one shape [...]; `mask` (bool, same shape) selects the entries that count.
    Returns (loss float32[], {"approx_kl", "clip_fraction"}), the metrics averaged like the loss.
    """
    chex.assert_equal_shape([log_prob, old_log_prob, advantages])
    log_ratio = log_prob - old_log_prob
    ratio = jnp.exp(log_ratio)
    unclipped = ratio * advantages
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantages
    loss = -_masked_mean(jnp.minimum(unclipped, clipped), mask)
    metrics = dict(
        approx_kl=_masked_mean((ratio - 1.0) - log_ratio, mask),  # the k3 estimator, >= 0
        clip_fraction=_masked_mean((jnp.abs(ratio - 1.0) > clip_eps).astype(jnp.float32), mask),
    )
    return loss, metrics


def value_loss(values: jax.Array, old_values: jax.Array, returns: jax.Array, clip_eps: float | None,
               mask: jax.Array | None = None) -> jax.Array:
    """0.5 * mean squared error to the returns; with `clip_eps`, PPO's clipped value loss (the worse
    of the clipped and unclipped errors, so the critic cannot move far from the rollout's values)."""
    chex.assert_equal_shape([values, old_values, returns])
    err = jnp.square(values - returns)
    if clip_eps is not None:
        clipped = old_values + jnp.clip(values - old_values, -clip_eps, clip_eps)
        err = jnp.maximum(err, jnp.square(clipped - returns))
    return 0.5 * _masked_mean(err, mask)


# ----------------------------------------------------------------------------- one update
class Batch(NamedTuple):
    """A rollout's training data, leading axes [T, B] (B, environments or teams, is cut into minibatches).

    `inputs` is whatever the loss function reads (observations, actions, old log-probs, ...), a pytree
    with leading axes [T, B]; advantages and returns are float32[T, B, N]; mask bool[T, B, N] marks
    the agent-steps the policy is trained on (alive agents on the learner's side), value_mask those
    the critic is trained on (`mask` where None).
    """

    inputs: object
    advantages: jax.Array
    returns: jax.Array
    mask: jax.Array
    value_mask: jax.Array | None = None


def minibatches(key: jax.Array, batch, n_minibatches: int):
    """Shuffle the second axis (environments, or teams) and cut it into minibatches: leaves [M, T, B/M, ...].

    batch: any pytree (a `Batch`, or a learner's own named batch) whose leaves have leading axes
    [T, B] ([1, B] for per-row constants). Whole rows (every step, every agent of an environment
    or a team) go together: trajectories stay intact for recurrent policies and a team stays
    together for its centralised critic.
    """
    b = jax.tree_util.tree_leaves(batch)[0].shape[1]
    perm = jax.random.permutation(key, b)

    def cut(x):
        x = jnp.take(x, perm, axis=1)
        x = x.reshape((x.shape[0], n_minibatches, b // n_minibatches) + x.shape[2:])
        return jnp.swapaxes(x, 0, 1)

    return jax.tree_util.tree_map(cut, batch)


def ppo_update(key: jax.Array, params, opt_state, batch, loss_fn: Callable, tx: optax.GradientTransformation,
               n_epochs: int, n_minibatches: int):
    """`n_epochs` passes of minibatch gradient steps over one rollout (batch: as in `minibatches`).

    `loss_fn(params, minibatch) -> (loss, metrics)`. Returns (params, opt_state, metrics averaged over
    every minibatch step).
    """
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def step(carry, mb):
        params, opt_state = carry
        (loss, metrics), grads = grad_fn(params, mb)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        metrics = dict(metrics, loss=loss, grad_norm=optax.global_norm(grads))
        return (params, opt_state), metrics

    def epoch(carry, k):
        carry, metrics = jax.lax.scan(step, carry, minibatches(k, batch, n_minibatches))
        return carry, metrics

    (params, opt_state), metrics = jax.lax.scan(epoch, (params, opt_state), jax.random.split(key, n_epochs))
    return params, opt_state, jax.tree_util.tree_map(jnp.mean, metrics)
