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
    "bt_pad": judges.bradley_terry(16, length=8, pad_id=0),
    "skew_pad": judges.skew_symmetric(jax.random.PRNGKey(1), 16, pad_id=0),
    "length": judges.length_biased(judges.class_cycle(16, pad_id=0), 0.5),
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


# ----------------------------------------------------------------------------- variable-length responses
def test_response_length():
    y = jnp.asarray([[3, 5, 0, 0], [0, 0, 0, 0], [1, 2, 3, 4]], jnp.int32)
    assert np.asarray(judges.response_length(y, 0)).tolist() == [2, 0, 4]
    assert np.asarray(judges.response_length(y, None)).tolist() == [4, 4, 4]
    assert int(judges.response_length(y[0], 5)) == 3 and judges.response_length(y[0], 0).dtype == jnp.int32


def test_bradley_terry_ignores_pad():
    bt = judges.bradley_terry(16, pad_id=0)  # w = linspace(−1, 1, 16): w[t] = −1 + 2t/15, so w[0] = −1 is pad
    w = lambda t: -1.0 + 2.0 * t / 15.0  # noqa: E731
    y, y2 = seq(15, 3, 0, 0), seq(7, 0, 0, 0)
    expected = 1.0 / (1.0 + np.exp(-((w(15) + w(3)) - w(7))))  # σ(7/15): the pads add nothing
    assert float(bt(0, y, y2)) == pytest.approx(expected, rel=1e-6)
    # the same content padded to another length, and the pad-free judge on the content alone
    assert float(bt(0, seq(15, 3, 0, 0, 0, 0), seq(7, 0, 0, 0, 0, 0))) == pytest.approx(expected, rel=1e-6)
    plain = judges.bradley_terry(16)
    assert float(bt(0, seq(15, 3, 0), seq(7, 9, 0))) == pytest.approx(float(plain(0, seq(15, 3), seq(7, 9))), rel=1e-6)
    assert bt.pad_id == 0 and plain.pad_id is None


def test_bradley_terry_best_response_with_pad():
    assert list(np.asarray(judges.bradley_terry(16, length=4, pad_id=15).best_response(0))) == [14] * 4
    # every content token has a negative weight: the empty response (all pad, reward 0) is the best
    w = -np.linspace(0.1, 1.0, 8)
    empty = judges.bradley_terry(8, weights=w, length=4, pad_id=3)
    best = empty.best_response(0)
    assert list(np.asarray(best)) == [3] * 4
    assert float(empty(0, best, seq(0, 3, 3, 3))) == pytest.approx(1.0 / (1.0 + np.exp(-0.1)), rel=1e-6)


def test_class_cycle_ignores_pad_and_takes_a_class_function():
    cycle = judges.class_cycle(16, pad_id=2)
    y, y2 = seq(1, 2, 2), seq(0, 0, 2)  # content sums 1 and 0 (with the pads counted: 5 and 2, classes 2 and 2)
    assert int(cycle.class_of(0, y)) == 1 and int(cycle.class_of(0, y2)) == 0
    assert float(cycle(0, y, y2)) == BIASED_RPS[1, 0] == 0.75
    assert float(judges.class_cycle(16)(0, y, y2)) == 0.5
    first = judges.class_cycle(16, class_fn=lambda y, mask: y[0])
    assert [int(first.class_of(0, seq(t, 5, 5))) for t in (0, 1, 2, 3, 7)] == [0, 1, 2, 0, 1]  # y_0 mod 3
    with pytest.raises(ValueError, match="class_fn must be a function"):
        judges.class_cycle(16, class_fn=3)


def test_token_histogram_and_skew_ignore_pad():
    hist = np.asarray(judges.token_histogram(seq(3, 3, 5, 0, 0), 8, pad_id=0))
    np.testing.assert_allclose(hist, [0, 0, 0, 2 / 3, 0, 1 / 3, 0, 0], rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(judges.token_histogram(seq(0, 0, 0), 8, pad_id=0)), np.zeros(8))
    skew, plain = (judges.skew_symmetric(jax.random.PRNGKey(1), 16, pad_id=p) for p in (0, None))
    y, y2 = seq(3, 3, 5), seq(9, 4, 4)
    expected = float(plain(0, y, y2))
    assert float(skew(0, seq(3, 3, 5, 0, 0), seq(9, 4, 4, 0, 0))) == pytest.approx(expected, rel=1e-6)
    assert float(skew(0, seq(3, 3, 5, 0), seq(9, 4, 4, 0, 0, 0, 0)[:4])) == pytest.approx(expected, rel=1e-6)


def test_composition_keeps_pad_id():
    bt = judges.bradley_terry(16, pad_id=0)
    assert judges.with_noise(bt, 0.1).pad_id == 0 and judges.with_ties(bt, 0.1).pad_id == 0
    assert judges.mix([bt, judges.class_cycle(16, pad_id=0)], [0.5, 0.5]).pad_id == 0
    with pytest.raises(ValueError, match=r"mismatched pad ids: cannot mix judges with pad_id \[0, 1\]"):
        judges.mix([bt, judges.class_cycle(16, pad_id=1)], [0.5, 0.5])
    with pytest.raises(ValueError, match=r"mismatched pad ids: cannot mix judges with pad_id \[0, None\]"):
        judges.mix([bt, judges.class_cycle(16)], [0.5, 0.5])
    with pytest.raises(ValueError, match=r"pad_id must be an int in \[0, 15\], got 16"):
        judges.bradley_terry(16, pad_id=16)


def test_length_biased_values():
    bt = judges.bradley_terry(16, pad_id=0)
    biased = judges.length_biased(bt, 0.3)
    y, y2 = seq(15, 15, 8, 0), seq(8, 0, 0, 0)  # lengths 3 and 1; rewards 2 + 1/15 and 1/15
    assert float(biased(0, y, y2)) == pytest.approx(1.0 / (1.0 + np.exp(-(2.0 + 0.3 * 2))), rel=1e-5)
    assert float(biased(0, y2, y)) == pytest.approx(1.0 / (1.0 + np.exp(2.0 + 0.3 * 2)), rel=1e-5)
    # on the cycle paper beats rock 0.75 = σ(ln 3); a rock two tokens longer at weight ln(3)/2 evens it
    cycle = judges.length_biased(judges.class_cycle(16, pad_id=0), np.log(3.0) / 2)
    assert float(cycle(0, seq(1, 0, 0, 0), seq(3, 3, 3, 0))) == pytest.approx(0.5, abs=1e-6)
    # P = 1 (rock over scissors) is clipped to 1 − 1e-6 before the logit
    clipped = np.log((1 - judges.CLIP) / judges.CLIP)
    got = float(cycle(0, seq(3, 0, 0, 0), seq(2, 0, 0, 0)))
    assert got == pytest.approx(1.0 / (1.0 + np.exp(-clipped)), rel=1e-6)
    assert cycle.class_of is None and cycle.class_matrix is None and cycle.best_response is None
    assert cycle.pad_id == 0 and judges.length_biased(judges.class_cycle(16), 0.1, pad_id=4).pad_id == 4
    with pytest.raises(ValueError, match="pad_id 4 differs from the pad_id 0 of judge 'bt'"):
        judges.length_biased(bt, 0.1, pad_id=4)
    with pytest.raises(ValueError, match="length_biased needs a pad_id"):
        judges.length_biased(judges.class_cycle(16), 0.1)
    with pytest.raises(ValueError, match="length weight must be a finite number"):
        judges.length_biased(bt, float("nan"))
