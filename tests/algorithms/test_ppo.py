"""PPO's mathematics, checked against hand-computed numbers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from algorithms import ppo


def test_gae_by_hand():
    # T = 3, one agent; the trajectory ends at t = 1 (death: bootstrap 0), then a new one starts.
    r = jnp.array([1.0, 0.0, 2.0])
    v = jnp.array([0.5, 0.4, 0.3])
    done = jnp.array([False, True, False])
    adv, ret = ppo.gae(r, v, done, jnp.zeros(3), jnp.float32(0.2), gamma=0.9, lam=0.8)
    # t=2: 2 + .9 * .2 - .3 = 1.88
    # t=1: done, bootstrap 0: 0 + 0 - .4 = -.4 (nothing flows back through the done step's successor)
    # t=0: 1 + .9 * .4 - .5 = .86; A = .86 + .9 * .8 * (-.4) = .572
    np.testing.assert_allclose(adv, [0.572, -0.4, 1.88], atol=1e-6)
    np.testing.assert_allclose(ret, np.asarray(adv) + np.asarray(v), atol=1e-6)


def test_gae_truncation_bootstraps_from_the_final_value():
    r = jnp.array([0.0, 0.0])
    v = jnp.array([0.4, 0.4])
    done = jnp.array([True, False])
    adv, _ = ppo.gae(r, v, done, jnp.array([0.7, 0.0]), jnp.float32(0.0), gamma=0.9, lam=0.8)
    # truncated at t = 0: delta = 0 + .9 * .7 - .4 = .23 (not -.4 as after a death)
    np.testing.assert_allclose(adv[0], 0.23, atol=1e-6)


def test_gae_agents_are_independent():
    """[T, B, N]: each agent's advantages equal those of its own one-agent scan."""
    key = jax.random.PRNGKey(0)
    k1, k2, k3, k4 = jax.random.split(key, 4)
    shape = (6, 3, 4)
    r, v = jax.random.normal(k1, shape), jax.random.normal(k2, shape)
    done = jax.random.uniform(k3, shape) < 0.3
    last = jax.random.normal(k4, shape[1:])
    adv, _ = ppo.gae(r, v, done, jnp.zeros(shape), last, 0.99, 0.95)
    for b in range(3):
        for n in range(4):
            one, _ = ppo.gae(r[:, b, n], v[:, b, n], done[:, b, n], jnp.zeros(6), last[b, n], 0.99, 0.95)
            np.testing.assert_allclose(adv[:, b, n], one, atol=1e-5)


def test_policy_loss_clips():
    adv = jnp.array([1.0, 1.0, -1.0, -1.0])
    old = jnp.zeros(4)
    new = jnp.log(jnp.array([1.5, 0.9, 0.5, 1.1]))
    loss, m = ppo.policy_loss(new, old, adv, clip_eps=0.2)
    # min(r A, clip(r) A): 1.2, 0.9, -0.8, -1.1 -> mean 0.05, loss -0.05
    np.testing.assert_allclose(loss, -0.05, atol=1e-6)
    np.testing.assert_allclose(m["clip_fraction"], 0.5)  # 1.5 and 0.5 lie outside [0.8, 1.2]
    assert m["approx_kl"] > 0
    masked, _ = ppo.policy_loss(new, old, adv, 0.2, mask=jnp.array([True, False, False, False]))
    np.testing.assert_allclose(masked, -1.2, atol=1e-6)


def test_value_loss_clipping_takes_the_worse_error():
    v, old, ret = jnp.array([2.0]), jnp.array([0.0]), jnp.array([2.0])
    assert float(ppo.value_loss(v, old, ret, None)) == 0.0
    # clipped value 0.2 is 1.8 from the return: 0.5 * 1.8^2
    np.testing.assert_allclose(ppo.value_loss(v, old, ret, 0.2), 0.5 * 1.8**2, rtol=1e-6)


def test_normalize_advantages_uses_only_the_mask():
    a = jnp.array([1.0, 3.0, 100.0])
    out = ppo.normalize_advantages(a, jnp.array([True, True, False]))
    np.testing.assert_allclose(out[:2], [-1.0, 1.0], atol=1e-5)


def test_minibatches_keep_time_env_and_agent_aligned():
    """The flatten/shuffle/cut around the update keeps every (t, b, n) entry with its own data
    (JaxMARL's MAPPO scrambled agent order exactly here)."""
    t, b, n = 4, 8, 3
    ids = (jnp.arange(t)[:, None, None] * 1000 + jnp.arange(b)[None, :, None] * 10 + jnp.arange(n)[None, None, :])
    ids = ids.astype(jnp.float32)
    obs = jnp.stack([ids, -ids], axis=-1)  # [T, B, N, 2]
    batch = ppo.Batch(inputs=obs, advantages=ids, returns=ids + 0.5, mask=ids >= 0)
    mb = ppo.minibatches(jax.random.PRNGKey(3), batch, 4)
    assert mb.inputs.shape == (4, t, b // 4, n, 2) and mb.advantages.shape == (4, t, b // 4, n)
    np.testing.assert_array_equal(mb.inputs[..., 0], mb.advantages)
    np.testing.assert_array_equal(mb.inputs[..., 1], -mb.advantages)
    np.testing.assert_array_equal(mb.returns, mb.advantages + 0.5)
    # agent index (the units digit) is still the last axis, time the second
    np.testing.assert_array_equal(np.asarray(mb.advantages) % 10, np.broadcast_to(np.arange(n), mb.advantages.shape))
    np.testing.assert_array_equal(np.asarray(mb.advantages) // 1000, np.broadcast_to(np.arange(t)[:, None, None], mb.advantages.shape[1:])[None].repeat(4, 0))
    assert sorted(np.asarray(mb.advantages).ravel().tolist()) == sorted(np.asarray(ids).ravel().tolist())


def test_ppo_update_reduces_the_loss_on_a_fixed_batch():
    import optax

    key = jax.random.PRNGKey(0)
    x = jax.random.normal(key, (2, 8, 1, 3))
    batch = ppo.Batch(inputs=x, advantages=jnp.zeros((2, 8, 1)), returns=x.sum(-1), mask=jnp.ones((2, 8, 1), bool))

    def loss_fn(w, mb):
        pred = mb.inputs @ w
        return jnp.mean(jnp.square(pred - mb.returns)), {}

    tx = optax.sgd(0.1)
    w0 = jnp.zeros(3)
    before = loss_fn(w0, batch)[0]
    w, _, metrics = ppo.ppo_update(key, w0, tx.init(w0), batch, loss_fn, tx, n_epochs=20, n_minibatches=2)
    assert float(loss_fn(w, batch)[0]) < 0.05 * float(before)
    assert set(metrics) >= {"loss", "grad_norm"}


def test_discrete_sample_follows_the_softmax_and_reports_its_log_prob():
    """Inverse-CDF sampling: action frequencies over 200 000 draws within 4 standard errors of the
    softmax, zero-probability actions never drawn, and the log-probability distrax's."""
    from algorithms.marl import networks

    logits = jnp.asarray([[2.0, 0.5, -1.0, 0.0, -jnp.inf, 1.0]], jnp.float32)
    n = 200_000
    keys = jax.random.split(jax.random.PRNGKey(0), n)
    actions, log_probs = jax.jit(jax.vmap(lambda k: networks.sample(k, logits, True)))(keys)
    p = np.asarray(jax.nn.softmax(logits[0]))
    freq = np.bincount(np.asarray(actions[:, 0]), minlength=6) / n
    assert np.all(np.abs(freq - p) <= 4 * np.sqrt(p * (1 - p) / n) + 1e-9)
    assert freq[4] == 0.0
    want = networks.distribution(logits, True).log_prob(actions[:, 0][:, None])
    np.testing.assert_allclose(np.asarray(log_probs), np.asarray(want), rtol=1e-5, atol=1e-6)
