"""The PPO loss over a named batch of trained teams."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algorithms.marl import loss, networks, rollout
from algorithms.marl.learner import make_learner
from tests.algorithms.marl.conftest import TINY


def test_the_loss_on_trained_teams_equals_the_loss_on_whole_environments(tiny, tiny_rollout):
    """Leaving the opponents' agents out of the batch changes nothing: the PPO loss of every trained
    team in one minibatch equals the masked loss computed over the whole [T, B, N] rollout."""
    from algorithms import ppo

    state = tiny.init(jax.random.PRNGKey(4))
    state, traj, _ = tiny_rollout(state, jnp.array([-1, 2], jnp.int32))
    params = state.params
    last_value = tiny.ac.values(params["critic"], state.obs)
    batch = loss.make_batch(tiny.teams, traj, tiny.ac.initial_memory((TINY.num_envs,)), last_value,
                            TINY.gamma, TINY.gae_lambda)
    total, metrics = jax.jit(functools.partial(loss.ppo_loss, tiny.ac, TINY))(params, batch)

    adv, ret = ppo.gae(traj.reward, traj.value, traj.done, traj.bootstrap, last_value, TINY.gamma, TINY.gae_lambda)
    adv = ppo.normalize_advantages(adv, traj.mask)
    out = tiny.ac.actor.apply(params["actor"], traj.obs, tiny.ac.feats)
    log_prob = networks.log_prob(out, traj.action, tiny.env.discrete)
    pi, _ = ppo.policy_loss(log_prob, traj.log_prob, adv, TINY.clip_eps, traj.mask)
    v = ppo.value_loss(tiny.ac.values(params["critic"], traj.obs), traj.value, ret, TINY.value_clip_eps, traj.value_mask)
    w = traj.mask.astype(jnp.float32)
    entropy = (networks.distribution(out, True).entropy() * w).sum() / w.sum()
    np.testing.assert_allclose(metrics["policy_loss"], pi, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(metrics["value_loss"], v, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(metrics["entropy"], entropy, rtol=1e-5)
    np.testing.assert_allclose(total, pi + TINY.value_coef * v - TINY.entropy_coef * entropy, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("recurrent", [False, True], ids=["feedforward", "gru"])
def test_the_loss_recomputes_the_rollouts_log_probs(recurrent, tiny, tiny_rollout):
    """Before any update the policy the loss sees is the one that acted: every log-ratio is 0. For the
    GRU this checks that the memory replayed over the rollout (resets at episode starts) is the one the
    rollout carried, on partial observations and a rollout long enough for episodes to restart. The
    feedforward policy is TINY's, whose compiled rollout the other tests share."""
    if recurrent:
        cfg = TINY.replace(scenario="identical_2_vs_2_pobs_vec_void_disc", recurrent=True, rollout_steps=24)
        learner = make_learner(cfg)
        roll = jax.jit(functools.partial(rollout.rollout, learner))
    else:
        learner, roll = tiny, tiny_rollout
    state = learner.init(jax.random.PRNGKey(2))
    memory0 = state.memory
    opponent = jnp.array([-1, 3], jnp.int32)
    _, traj, _ = roll(state, opponent)
    assert bool(traj.start.any()) or not recurrent  # some episode restarted inside the rollout
    out = jax.jit(learner.ac.sequence)(state.params["actor"], memory0, traj.obs, traj.start)
    log_prob = networks.log_prob(out, traj.action, learner.env.discrete)
    m = np.asarray(traj.mask)
    np.testing.assert_allclose(np.asarray(log_prob)[m], np.asarray(traj.log_prob)[m], atol=1e-4)
