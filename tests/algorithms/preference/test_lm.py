"""The small flax language model and the preference losses, number by number."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algorithms.preference import lm, losses

SMALL = lm.LMConfig(d_model=32, n_layers=1, d_mlp=64, n_heads=2, prefix_mod=3)


def test_default_size_and_uniform_start():
    shapes = jax.eval_shape(lambda: lm.init_params(jax.random.PRNGKey(0), lm.LMConfig()))
    assert 100_000 <= lm.param_count(shapes) <= 1_000_000  # vocab 16, length 8: about 0.1 M
    params = lm.init_params(jax.random.PRNGKey(0), SMALL)
    y = jax.random.randint(jax.random.PRNGKey(1), (4, 8), 0, 16)
    np.testing.assert_allclose(lm.sequence_logprob(SMALL, params, jnp.zeros(4, jnp.int32), y), -8 * np.log(16), rtol=1e-6)


@pytest.fixture(scope="module")
def trained():
    """A small model fine-tuned on data whose last token fixes the sum mod 3 (so it is not uniform)."""

    def data(key, batch):
        k_y, k_v = jax.random.split(key)
        y = jax.random.randint(k_y, (batch, SMALL.length), 0, SMALL.vocab)
        r = y[:, :-1].sum(1) % 3
        return jnp.zeros(batch, jnp.int32), y.at[:, -1].set(jax.random.randint(k_v, (batch,), 0, 5) * 3 + (3 - r) % 3)

    params = lm.init_params(jax.random.PRNGKey(0), SMALL)
    params, losses_ = lm.sft(SMALL, params, jax.random.PRNGKey(1), data, steps=120, batch=64, learning_rate=3e-3)
    return params, np.asarray(losses_), data


def test_sft_learns_generated_data(trained):
    params, sft_losses, data = trained
    assert sft_losses[:10].mean() == pytest.approx(np.log(16), abs=0.02)
    ideal = (7 * np.log(16) + np.log(16 / 3)) / 8  # 7 free tokens, then 1 of 5-6 valid ones
    assert sft_losses[-20:].mean() < ideal + 0.02  # the prefix_mod feature makes the class learnable
    y, _ = lm.sample(SMALL, params, jax.random.PRNGKey(3), jnp.zeros(2048, jnp.int32))
    assert (np.asarray(y).sum(1) % 3 == 0).mean() > 0.9


def test_sampled_logprobs_are_the_models(trained):
    params = trained[0]
    x = jnp.zeros(64, jnp.int32)
    y, logp = jax.jit(lambda k: lm.sample(SMALL, params, k, x))(jax.random.PRNGKey(4))
    assert y.shape == (64, 8) and y.dtype == jnp.int32 and logp.shape == (64, 8)
    np.testing.assert_allclose(logp, lm.token_logprobs(SMALL, params, x, y), atol=1e-4)
    ref = lm.init_params(jax.random.PRNGKey(9), SMALL)
    y, logp = lm.sample_mixture(SMALL, params, ref, 0.3, jax.random.PRNGKey(5), x)
    mixed = (0.7 * jax.nn.log_softmax(lm.logits(SMALL, params, x, lm.shift_right(SMALL, y)))
             + 0.3 * jax.nn.log_softmax(lm.logits(SMALL, ref, x, lm.shift_right(SMALL, y))))
    expected = jnp.take_along_axis(jax.nn.log_softmax(mixed), y[..., None], -1)[..., 0]
    np.testing.assert_allclose(logp, expected, atol=1e-4)


def test_bad_configs():
    with pytest.raises(ValueError, match="LMConfig.vocab must be an int >= 2"):
        lm.LMConfig(vocab=1)
    with pytest.raises(ValueError, match=r"d_model \(30\) must be divisible by n_heads \(4\)"):
        lm.LMConfig(d_model=30)
    with pytest.raises(ValueError, match="sft steps must be an int >= 1"):
        lm.sft(SMALL, None, jax.random.PRNGKey(0), lm.uniform_data(SMALL), steps=0)


def test_losses_by_hand():
    f = lambda *v: jnp.asarray(v, jnp.float32)  # noqa: E731
    # h = (−1 − −2) − (−3 − −2) = 1 − (−1) = 2
    w, l, rw, rl = f(-1.0), f(-3.0), f(-2.0), f(-2.0)
    assert float(losses.pair_margin(w, l, rw, rl)[0]) == 2.0
    assert float(losses.dpo_loss(w, l, rw, rl, 0.1)) == pytest.approx(np.log1p(np.exp(-0.2)), rel=1e-6)
    assert float(losses.ipo_loss(w, l, rw, rl, 0.1)) == pytest.approx((2 - 5) ** 2)
    assert float(losses.simpo_loss(f(-0.5), f(-1.0), 2.0, 0.5)) == pytest.approx(np.log1p(np.exp(-0.5)), rel=1e-6)
    # SPPO: log-ratio 0.3 against η (P̂ − ½) = 1 · 0.25
    assert float(losses.sppo_loss(f(-1.7), f(-2.0), f(0.75), 1.0)) == pytest.approx(0.05 ** 2, rel=1e-4)
    # INPO, η = 0.5, τ = 0.1: h = 2 − 0.2·1 − 0.8·0.5 = 1.4, target 1/(2η) = 1
    got = losses.inpo_loss(f(0.0), f(-2.0), f(0.0), f(-1.0), f(0.0), f(-0.5), 0.5, 0.1)
    assert float(got) == pytest.approx(0.4 ** 2, rel=1e-5)
    # Nash-MD, η = 1: log π^μ = −2.1; target −2.1 + 0.25 = −1.85
    got = losses.nash_md_loss(f(-1.8), f(-2.1), f(0.75), 1.0)
    assert float(got) == pytest.approx(0.05 ** 2, rel=1e-4)
    weighted = losses.ipo_loss(f(1.0, 0.0), f(0.0, 0.0), f(0.0, 0.0), f(0.0, 0.0), 0.5, weights=f(3.0, 1.0))
    assert float(weighted) == pytest.approx((3 * 0.0 + 1 * 1.0) / 4)


def test_win_rates_exclude_the_self_pair():
    p = jnp.asarray([[0.5, 1.0, 0.75], [0.0, 0.5, 0.25], [0.25, 0.75, 0.5]], jnp.float32)
    np.testing.assert_allclose(losses.win_rates(p), [0.875, 0.125, 0.5])


def test_tie_aware_dpo_by_hand():
    """Rao–Kupper on d = βh: P(win) = σ(d − α), P(loss) = σ(−d − α), P(tie) the rest; a tie's loss
    is −log P(tie), lowest at h = 0, a win's −log σ(d − α) (plain DPO's when α = 0)."""
    f = lambda *v: jnp.asarray(v, jnp.float32)  # noqa: E731
    h = f(-3.0, -1.0, 0.0, 0.5, 2.0)
    win, tie, loss = losses.rao_kupper_probabilities(h, 0.5, 0.4)
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    d = 0.5 * np.asarray(h)
    np.testing.assert_allclose(win, sig(d - 0.4), rtol=1e-6)
    np.testing.assert_allclose(tie, 1 - sig(d - 0.4) - sig(-d - 0.4), rtol=1e-5)
    zero = jnp.zeros(5)
    ties = [float(losses.dpo_ties_loss(h[i:i + 1], zero[:1], zero[:1], zero[:1], 0.5, 0.4, f(1.0))) for i in range(5)]
    np.testing.assert_allclose(ties, -np.log(1 - sig(d - 0.4) - sig(-d - 0.4)), rtol=1e-5)
    assert ties[2] == min(ties)  # a tie pulls the margin toward 0
    wins = float(losses.dpo_ties_loss(h, zero, zero, zero, 0.5, 0.4, zero))
    assert wins == pytest.approx(float(np.mean(-np.log(sig(d - 0.4)))), rel=1e-6)
    mixed = losses.dpo_ties_loss(h, zero, zero, zero, 0.5, 0.4, f(1, 0, 1, 0, 0), weights=f(1, 2, 0, 1, 1))
    expect = (ties[0] + 2 * -np.log(sig(d[1] - 0.4)) + -np.log(sig(d[3] - 0.4)) + -np.log(sig(d[4] - 0.4))) / 5
    assert float(mixed) == pytest.approx(expect, rel=1e-5)
