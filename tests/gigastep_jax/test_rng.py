"""The environment's counter-based uniforms: uniform, independent across keys and streams."""

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from gigastep_jax import rng


def test_uniform_passes_chi_square_and_moments():
    u = np.asarray(rng.uniform(jax.random.PRNGKey(0), (200_000,)))
    assert u.min() >= 0.0 and u.max() < 1.0
    counts, _ = np.histogram(u, bins=64, range=(0, 1))
    assert stats.chisquare(counts).pvalue > 1e-3
    assert abs(u.mean() - 0.5) < 4 * np.sqrt(1 / 12 / u.size)
    assert abs(u.var() - 1 / 12) < 0.002


def test_keys_and_streams_are_independent():
    keys = jax.random.split(jax.random.PRNGKey(1), 4000)
    a = np.asarray(jax.vmap(lambda k: rng.uniform(k, (8,), stream=1))(keys))
    b = np.asarray(jax.vmap(lambda k: rng.uniform(k, (8,), stream=2))(keys))
    # element 0 across keys, neighbouring elements within a key, and two streams of one key
    for x, y in [(a[:-1, 0], a[1:, 0]), (a[:, 0], a[:, 1]), (a[:, 3], b[:, 3])]:
        assert abs(np.corrcoef(x, y)[0, 1]) < 4 / np.sqrt(len(x))
    assert not np.array_equal(a, b)


def test_typed_keys_and_randint():
    typed = jax.random.key(3)
    u = rng.uniform(typed, (5,))
    assert u.shape == (5,) and u.dtype == jnp.float32
    r = np.asarray(rng.randint(jax.random.PRNGKey(2), (60_000,), 8))
    assert r.min() == 0 and r.max() == 7
    counts = np.bincount(r, minlength=8)
    assert stats.chisquare(counts).pvalue > 1e-3
