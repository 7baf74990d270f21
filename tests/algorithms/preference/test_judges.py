"""Judges written in code: probabilities, antisymmetry, composition, the learned judge, bad input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algorithms.preference import judges
from algorithms.preference.judges import BIASED_RPS, Judge, check_judge

KEY = jax.random.PRNGKey(0)


def seq(*tokens):
    return jnp.asarray(tokens, jnp.int32)


ALL = {
    "bt": judges.bradley_terry(16, length=8),
    "cycle": judges.class_cycle(16),
    "cycle_prompts": judges.class_cycle(16, permute_by_prompt=True),
    "skew": judges.skew_symmetric(jax.random.PRNGKey(1), 16),
    "noisy": judges.with_noise(judges.class_cycle(16), 0.1),
    "ties": judges.with_ties(judges.bradley_terry(16), 0.1),
    "mix": judges.mix([judges.class_cycle(16), judges.bradley_terry(16)], [0.5, 0.5]),
}


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_judge_is_a_probability_and_antisymmetric(name):
    check_judge(ALL[name], KEY, 8, n_prompts=6)


def test_class_cycle_values():
    cycle = ALL["cycle"]
    r, p, s = seq(0, 0, 0, 0, 0, 0, 0, 3), seq(1, 0, 0, 0, 0, 0, 0, 0), seq(1, 1, 0, 0, 0, 0, 0, 0)  # classes 0, 1, 2
    assert [int(cycle.class_of(0, y)) for y in (r, p, s)] == [0, 1, 2]
    expected = BIASED_RPS
    got = np.array([[float(cycle(0, a, b)) for b in (r, p, s)] for a in (r, p, s)])
    np.testing.assert_allclose(got, expected)
    assert float(cycle(0, r, seq(3, 3, 0, 0, 0, 0, 0, 0))) == 0.5  # same class: ½
    np.testing.assert_allclose(cycle.matrix(0, jnp.stack([r, p, s])), expected)


def test_prompts_permute_the_classes():
    cycle = ALL["cycle_prompts"]
    perms = judges.class_permutations(3)
    assert len(perms) == 6 and list(perms[0]) == [0, 1, 2]
    y = seq(1, 0, 0, 0, 0, 0, 0, 0)  # raw class 1
    assert [int(cycle.class_of(x, y)) for x in range(6)] == [int(p[1]) for p in perms]
    r, p = seq(0, 0, 0, 0, 0, 0, 0, 0), y
    # prompt 0: paper beats rock 0.75; under the permutation (1, 0, 2) they swap roles
    assert float(cycle(0, p, r)) == 0.75 and float(cycle(2, p, r)) == 0.25


def test_bradley_terry_noise_and_ties():
    bt = ALL["bt"]
    hi, lo = seq(*[15] * 8), seq(*[0] * 8)
    assert float(bt(0, hi, lo)) == pytest.approx(1 / (1 + np.exp(-16.0)), rel=1e-6)
    assert list(np.asarray(bt.best_response(0))) == [15] * 8
    noisy = judges.with_noise(judges.class_cycle(16), 0.1)
    np.testing.assert_allclose(noisy.class_matrix, 0.1 + 0.8 * BIASED_RPS, atol=1e-7)
    r, s = seq(0, 0, 0, 0, 0, 0, 0, 0), seq(1, 1, 0, 0, 0, 0, 0, 0)
    assert float(noisy(0, r, s)) == pytest.approx(0.9)
    tied = judges.with_ties(bt, 0.2)
    near = seq(1, 0, 0, 0, 0, 0, 0, 0)  # reward differs by 2/15: P = 0.533, a tie within 0.2
    assert float(tied(0, near, lo)) == 0.5 and float(tied(0, hi, lo)) == float(bt(0, hi, lo))


def bad_judge(prob, name="bad"):
    return Judge(prob=prob, vocab=16, name=name)


@pytest.mark.parametrize(
    "prob, message",
    [
        (lambda x, y, y2: jnp.float32(1.5), r"judge 'bad' is not a probability: P\(y ≻ y'\) = 1.5"),
        (lambda x, y, y2: jnp.float32(jnp.nan), "is not a probability"),
        (lambda x, y, y2: jax.nn.sigmoid(jnp.sum(y) - 0.5 * jnp.sum(y2)).astype(jnp.float32), "is not antisymmetric"),
        (lambda x, y, y2: jnp.float32(0.7) * (jnp.sum(y) >= 0), "is not antisymmetric"),
    ],
)
def test_bad_judges_are_rejected(prob, message):
    with pytest.raises(ValueError, match=message):
        check_judge(bad_judge(prob), KEY, 8)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: judges.class_cycle(16, [[0.5]]), "needs K >= 2 responses, got K = 1"),
        (lambda: judges.class_cycle(16, [[0.5, 0.9], [0.3, 0.5]]), "class matrix is not antisymmetric"),
        (lambda: judges.class_cycle(1), "vocab must be an int >= 2"),
        (lambda: judges.with_noise(judges.class_cycle(16), 0.7), r"label noise eps must be in \[0, 0.5\]"),
        (lambda: judges.with_ties(judges.class_cycle(16), 0.5), r"tie band must be in \[0, 0.5\)"),
        (lambda: judges.mix([judges.class_cycle(16), judges.class_cycle(8)], [0.5, 0.5]), "mismatched vocabularies"),
        (lambda: judges.mix([judges.class_cycle(16)], [0.4]), "must be >= 0 and sum to 1"),
        (lambda: judges.bradley_terry(16, weights=np.zeros(8)), r"weights must have shape \(16,\)"),
    ],
)
def test_bad_judge_construction(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_learned_judge_matches_its_teacher():
    from algorithms.preference.learned_judge import train_judge

    teacher = judges.bradley_terry(16, length=8)
    judge, report = train_judge(jax.random.PRNGKey(2), teacher, 8, steps=80, batch=128)
    check_judge(judge, KEY, 8)  # antisymmetric by construction
    assert report["accuracy"] >= 0.95, report
    assert judge.vocab == 16 and judge.name == "learned"
