"""Learned preference models (bt, pairwise, gpm): pair files, antisymmetry, transitive and cyclic
teachers, saving and loading, bad input."""

from __future__ import annotations

import itertools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algorithms.preference import judges
from algorithms.preference import preference_models as pm
from algorithms.preference.judges import BIASED_RPS, check_judge

KEY = jax.random.PRNGKey(0)
VOCAB, LENGTH, N_PAIRS = 12, 6, 1500
STEPS, BATCH = 200, 128
# the cyclic teacher's class is the first token mod 3: a lookup an encoder learns in a few hundred
# steps (the testbed's Σ y_t mod 3 is parity-like and slow); with 12 tokens each class has mass ⅓
CYCLE = judges.class_cycle(VOCAB, class_fn=lambda y, mask: y[0])
TRANSITIVE = judges.bradley_terry(VOCAB, pad_id=0)  # w = linspace(−1, 1, 12); token 0 is the pad


def transitive_bound(matrix, q) -> float:
    """The best accuracy on decided pairs (M ≠ ½) of any ranking of the classes, classes drawn
    with probabilities q: brute force over the C! orders.

    No ranking of the responses does better on a 3-cycle: of the three pairs in any triple
    (y_0, y_1, y_2), one from each class, a ranking orders at most two as the cycle does, so the
    three class-pair accuracies sum to at most 2, and a class ranking attains that maximum.
    """
    m, q = np.asarray(matrix), np.asarray(q)
    decided = [(a, b) for a in range(len(q)) for b in range(len(q)) if a != b and abs(m[a, b] - 0.5) > 1e-9]
    total = sum(q[a] * q[b] for a, b in decided)
    best = 0.0
    for order in itertools.permutations(range(len(q))):
        rank = {c: i for i, c in enumerate(order)}  # lower rank: preferred
        right = sum(q[a] * q[b] for a, b in decided if (rank[a] < rank[b]) == (m[a, b] > 0.5))
        best = max(best, right / total)
    return best


def class_matrix(judge, seed: int, per_class: int = 16) -> np.ndarray:
    """float[3, 3]: the judge's mean P(y ≻ y') over random responses y, y' of classes c, c' of CYCLE."""
    y = np.random.default_rng(seed).integers(0, VOCAB, (3, per_class, LENGTH))
    y[:, :, 0] = (y[:, :, 0] // 3) * 3 + np.arange(3)[:, None]  # first token ≡ c (mod 3)
    p = jax.jit(judge.matrix)(jnp.int32(0), jnp.asarray(y.reshape(-1, LENGTH), jnp.int32))
    return np.asarray(p).reshape(3, per_class, 3, per_class).mean(axis=(1, 3))


def random_params(config: pm.PreferenceModelConfig, seed: int):
    """Arbitrary parameters N(0, 0.5²) of config's shapes, drawn in numpy (no compiled init)."""
    rng = np.random.default_rng(seed)
    shapes = pm.init_params(config, KEY)  # numpy draws: no compile
    return jax.tree.map(lambda s: jnp.asarray(rng.normal(0.0, 0.5, s.shape), jnp.float32), shapes)


@pytest.fixture(scope="module")
def cycle_pairs(tmp_path_factory):
    path = pm.write_pairs(tmp_path_factory.mktemp("pairs") / "cycle.jsonl", CYCLE, jax.random.PRNGKey(1), N_PAIRS,
                          LENGTH)
    return pm.load_pairs(path, pad_id=None)


@pytest.fixture(scope="module")
def gpm_on_cycle(cycle_pairs):
    return pm.train_preference_model("gpm", cycle_pairs, jax.random.PRNGKey(2), vocab=VOCAB, length=LENGTH,
                                     steps=STEPS, batch=BATCH)


# ----------------------------------------------------------------------------- pair files
def test_write_and_load_pairs_with_padding(tmp_path):
    path = pm.write_pairs(tmp_path / "bt.jsonl", TRANSITIVE, jax.random.PRNGKey(3), 64, LENGTH, n_prompts=3,
                          lengths=(1, LENGTH))
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 64 and {r["prompt"] for r in rows} <= {0, 1, 2}
    sizes = [len(r[k]) for r in rows for k in ("y", "y2")]
    assert min(sizes) >= 1 and max(sizes) <= LENGTH and len(set(sizes)) > 1
    assert all(0 not in r[k] for r in rows for k in ("y", "y2"))  # content never holds the pad
    pairs = pm.load_pairs(path, pad_id=0, length=LENGTH)
    assert pairs["y"].shape == (64, LENGTH) and pairs["y"].dtype == np.int32 and pairs["p"].dtype == np.float32
    np.testing.assert_array_equal(np.asarray(judges.response_length(pairs["y"], 0)), [len(r["y"]) for r in rows])
    # the file's p is σ(Σ w[y] − Σ w[y2]) over the content, w = linspace(−1, 1, 12)
    w = np.linspace(-1.0, 1.0, VOCAB)
    reward = lambda tokens: sum(w[t] for t in tokens)  # noqa: E731
    expected = [1.0 / (1.0 + np.exp(reward(r["y2"]) - reward(r["y"]))) for r in rows]
    np.testing.assert_allclose(pairs["p"], expected, atol=2e-6)
    assert not list(tmp_path.glob("*.tmp"))  # written through a temporary file, then renamed
    assert pm.load_pairs(path, pad_id=0)["y"].shape == (64, LENGTH)  # L = the longest response here


def write_lines(tmp_path, *lines) -> str:
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_load_pairs_formats(tmp_path):
    path = write_lines(tmp_path, '{"prompt": 0, "chosen": [1, 2], "rejected": [3]}', "",
                       '{"prompt": 2, "y": [4], "y2": [5, 6, 0], "label": 0.5}',
                       '{"prompt": 1, "y": [7, 8, 9], "y2": [1], "p": 0.25}')
    pairs = pm.load_pairs(path, pad_id=0, length=4)
    np.testing.assert_array_equal(pairs["x"], [0, 2, 1])
    np.testing.assert_array_equal(pairs["y"], [[1, 2, 0, 0], [4, 0, 0, 0], [7, 8, 9, 0]])
    np.testing.assert_array_equal(pairs["y2"], [[3, 0, 0, 0], [5, 6, 0, 0], [1, 0, 0, 0]])  # a trailing pad is padding
    np.testing.assert_array_equal(pairs["p"], [1.0, 0.5, 0.25])


@pytest.mark.parametrize(
    "line, kwargs, message",
    [
        ('{"prompt": 0, "y": [1], "y2": [2], "p": 0.5', {}, r"pairs.jsonl:2: not valid JSON"),
        ('{"prompt": 0, "y": [1], "y2": [2], "q": 0.5}', {}, r":2: unknown key 'q' \(allowed: prompt, y, y2"),
        ('{"prompt": 0, "y": [1], "y2": [2], "p": 1.5}', {}, r":2: p = 1.5 is not a probability"),
        ('{"prompt": 0, "y": [1], "y2": [2], "p": "0.5"}', {}, r":2: p = '0.5' is not a probability"),
        ('{"prompt": 0, "y": [1, "a"], "y2": [2], "p": 1}', {}, r":2: y\[1\] = 'a' is not a token id"),
        ('{"prompt": 0, "y": [1.5], "y2": [2], "p": 1}', {}, r":2: y\[0\] = 1.5 is not a token id"),
        ('{"prompt": 0, "y": [1], "y2": [true], "p": 1}', {}, r":2: y2\[0\] = True is not a token id"),
        ('{"prompt": 0, "y": [1], "y2": [-2], "p": 1}', {}, r":2: y2\[0\] = -2 is not a token id"),
        ('{"prompt": 0, "y": [1], "y2": 2, "p": 1}', {}, r":2: y2 = 2 is not a list of token ids"),
        ('{"prompt": -1, "y": [1], "y2": [2], "p": 1}', {}, r":2: prompt = -1 is not a prompt id"),
        ('{"y": [1], "y2": [2], "p": 1}', {}, r":2: missing key 'prompt'"),
        ('{"prompt": 0, "y": [1], "y2": [2]}', {}, r":2: missing key 'p'"),
        ('{"prompt": 0, "y": [1], "rejected": [2]}', {}, r":2: give responses as 'y' and 'y2' or as 'chosen'"),
        ('{"prompt": 0, "chosen": [1]}', {}, r":2: missing key 'rejected'"),
        ('{"prompt": 0, "y": [1], "y2": [2], "label": 0.3}', {}, r":2: label = 0.3 is not a label"),
        ('{"prompt": 0, "y": [1], "y2": [2], "label": 1, "p": 1}', {}, r":2: give 'p' or 'label', not both"),
        ('[0, [1], [2], 1]', {}, r":2: expected a JSON object"),
        ('{"prompt": 0, "y": [1, 0, 3], "y2": [2], "p": 1}', dict(pad_id=0), r":2: y\[1\] = pad_id 0 inside"),
        ('{"prompt": 0, "y": [1, 2, 3, 4, 5], "y2": [2], "p": 1}', dict(pad_id=0, length=4),
         r":2: y has 5 tokens, more than length = 4"),
        ('{"prompt": 0, "y": [1, 2], "y2": [2], "p": 1}', {}, r":2: y2 has 1 tokens, the responses have 2; give pad_id"),
    ],
)
def test_load_pairs_bad_input(tmp_path, line, kwargs, message):
    path = write_lines(tmp_path, '{"prompt": 0, "y": [1, 2], "y2": [3, 4], "p": 0.5}', line)
    with pytest.raises(ValueError, match=message):
        pm.load_pairs(path, **{"pad_id": None, **kwargs})


def test_load_pairs_empty_or_missing(tmp_path):
    with pytest.raises(ValueError, match="holds no pairs"):
        pm.load_pairs(write_lines(tmp_path, "", "  "), pad_id=None)
    with pytest.raises(ValueError, match="no pair file at"):
        pm.load_pairs(tmp_path / "absent.jsonl", pad_id=None)


# ----------------------------------------------------------------------------- models
@pytest.mark.parametrize("kind", pm.KINDS)
def test_every_kind_is_antisymmetric(kind):
    config = pm.PreferenceModelConfig(kind, VOCAB, LENGTH, n_prompts=3, pad_id=0)
    judge = pm.PreferenceModel(config, random_params(config, 4)).judge()
    # random responses here hold the pad anywhere, and equal ones are among them
    check_judge(judge, KEY, LENGTH, n_pairs=256, n_prompts=3, tol=1e-6)
    assert (judge.vocab, judge.length, judge.pad_id, judge.name) == (VOCAB, LENGTH, 0, f"learned-{kind}")


def test_pad_positions_do_not_reach_the_model():
    config = pm.PreferenceModelConfig("bt", VOCAB, LENGTH, pad_id=0)
    params = random_params(config, 5)
    # other embeddings for the pad token and for the positions a short response leaves to pad
    enc = params["encoder"]
    moved = {**params, "encoder": {**enc, "tokens": {"embedding": enc["tokens"]["embedding"].at[0].add(1.0)},
                                   "positions": {"embedding": enc["positions"]["embedding"].at[2:].add(1.0)}}}
    y = jnp.asarray([[3, 4, 0, 0, 0, 0], [3, 4, 5, 0, 0, 0]], jnp.int32)
    reward = jax.jit(lambda p: config.net().apply({"params": p}, 0, y, method=pm.BTRewardNet.reward))
    r, r_moved = np.asarray(reward(params)), np.asarray(reward(moved))
    assert r_moved[0] == r[0]  # length 2: nothing it reads moved
    assert abs(r_moved[1] - r[1]) > 1e-3  # length 3 reads position 2


def test_gpm_learns_the_cycle(gpm_on_cycle, tmp_path):
    judge, report = gpm_on_cycle
    bound = transitive_bound(BIASED_RPS, [1 / 3] * 3)
    assert bound == pytest.approx(2 / 3)
    assert report["kind"] == "gpm" and report["n_heldout"] == 300 and report["n_train"] == 1200
    assert report["heldout_accuracy"] > 0.9 > bound + 0.1
    # saved and loaded, it is the same model: the same network and the same parameters
    folder = pm.save_preference_model(tmp_path / "gpm", judge)
    loaded = pm.load_preference_model(folder)
    assert (loaded.vocab, loaded.length, loaded.pad_id, loaded.name) == (VOCAB, LENGTH, None, "learned-gpm")
    assert loaded.prob.config == judge.prob.config
    jax.tree.map(np.testing.assert_array_equal, loaded.prob.params, judge.prob.params)
    learned = class_matrix(judge, 6)
    # the teacher's cycle: P(c0 ≻ c1), P(c1 ≻ c2), P(c2 ≻ c0) are 0.25, 0.25, 0: all below ½
    cycle = [(0, 1), (1, 2), (2, 0)]
    assert all(BIASED_RPS[a, b] < 0.5 for a, b in cycle)
    assert all(learned[a, b] < 0.5 for a, b in cycle), learned
    np.testing.assert_allclose(learned, BIASED_RPS, atol=0.15)


def test_save_replaces_atomically(gpm_on_cycle, tmp_path):
    judge, _ = gpm_on_cycle
    folder = pm.save_preference_model(tmp_path / "gpm", judge)
    # a second save replaces the model in one rename and leaves one params file
    other = pm.PreferenceModel(judge.prob.config, jax.tree.map(np.ones_like, judge.prob.params))
    pm.save_preference_model(folder, other)
    assert len(list(folder.glob("params-*.msgpack"))) == 1 and not list(folder.glob("*.tmp"))
    assert all(np.all(np.asarray(a) == 1) for a in jax.tree.leaves(pm.load_preference_model(folder).prob.params))
    with pytest.raises(ValueError, match="needs a learned judge"):
        pm.save_preference_model(tmp_path / "noisy", judges.with_noise(judge, 0.1))
    with pytest.raises(ValueError, match="no preference model in"):
        pm.load_preference_model(tmp_path / "empty")
    config = json.loads((folder / pm.CONFIG_FILE).read_text())
    (folder / pm.CONFIG_FILE).write_text(json.dumps({**config, "features": 32}))
    with pytest.raises(ValueError, match="does not match the network"):
        pm.load_preference_model(folder)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(kind="rm"), "unknown kind 'rm'; allowed: bt, pairwise, gpm"),
        (dict(vocab=8), r"pairs\['y'\]\[.*\] = .* is out of range \(allowed: \[0, 8\)"),
        (dict(length=8), r"y and y2 \[N, length = 8\]"),
        (dict(holdout=1.0), "leaves none to train on"),
        (dict(steps=0), "steps must be an int >= 1"),
        (dict(pad_id=12), r"pad_id must be an int in \[0, 11\]"),
        (dict(dims=3), "dims must be even"),
    ],
)
def test_train_bad_input(cycle_pairs, change, message):
    args = {**dict(kind="gpm", vocab=VOCAB, length=LENGTH, steps=1, holdout=0.2), **change}
    kind = args.pop("kind")
    with pytest.raises(ValueError, match=message):
        pm.train_preference_model(kind, cycle_pairs, KEY, **args)


# ----------------------------------------------------------------------------- slow: every kind, both teachers
@pytest.fixture(scope="module")
def transitive_pairs(tmp_path_factory):
    path = pm.write_pairs(tmp_path_factory.mktemp("pairs") / "bt.jsonl", TRANSITIVE, jax.random.PRNGKey(7), N_PAIRS,
                          LENGTH, lengths=(1, LENGTH))
    return pm.load_pairs(path, pad_id=0, length=LENGTH)


@pytest.mark.slow
@pytest.mark.parametrize("kind", pm.KINDS)
def test_every_kind_learns_a_transitive_teacher(transitive_pairs, kind):
    judge, report = pm.train_preference_model(kind, transitive_pairs, jax.random.PRNGKey(8), vocab=VOCAB,
                                              length=LENGTH, pad_id=0, steps=STEPS, batch=BATCH)
    print(kind, report)
    assert report["heldout_accuracy"] > 0.9
    check_judge(judge, KEY, LENGTH, n_pairs=256, tol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["bt", "pairwise"])
def test_only_a_general_model_learns_the_cycle(cycle_pairs, kind):
    judge, report = pm.train_preference_model(kind, cycle_pairs, jax.random.PRNGKey(2), vocab=VOCAB, length=LENGTH,
                                              steps=STEPS, batch=BATCH)
    print(kind, report)
    bound = transitive_bound(BIASED_RPS, [1 / 3] * 3)
    decided = np.abs(cycle_pairs["p"] - 0.5) > 1e-6
    n_decided = decided.mean() * report["n_heldout"]
    slack = 3 * np.sqrt(bound * (1 - bound) / n_decided)  # three standard errors of a held-out accuracy
    if kind == "bt":
        assert report["heldout_accuracy"] <= bound + slack
    else:
        assert report["heldout_accuracy"] > 0.9
        learned = class_matrix(judge, 6)
        assert all(learned[a, b] < 0.5 for a, b in [(0, 1), (1, 2), (2, 0)]), learned
