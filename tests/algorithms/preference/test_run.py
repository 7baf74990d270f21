"""`run_selfplay`'s folder: every learner metric per iteration, the per-iteration datasets, and a
resumed run that ends exactly where an uninterrupted one does."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from algorithms import run_folder
from algorithms.preference import LearnerConfig, LMConfig, judges, lm, run_selfplay

SMALL = LMConfig(d_model=32, n_layers=1, d_mlp=64, n_heads=2, prefix_mod=3)
CYCLE = judges.class_cycle(16)
CFG = LearnerConfig(algorithm="dpo", prompts=4, k_samples=4, epochs=1, minibatches=2, pairs_from="policy")
REFERENCE = lm.init_params(jax.random.PRNGKey(1), SMALL)


def selfplay(out, iterations, cfg=CFG):
    return run_selfplay(SMALL, CYCLE, cfg, iterations, jax.random.PRNGKey(0), reference=REFERENCE,
                        eval_samples=64, out_dir=out)


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    out = tmp_path_factory.mktemp("straight")
    return selfplay(out, 3), out


def test_rows_keep_every_learner_metric(straight):
    result, out = straight
    rows = run_folder.read_rows(out / "metrics.jsonl")
    assert [r["iteration"] for r in rows] == [1, 2, 3]
    for key in ("loss", "margin", "accuracy", "chosen_logp", "rejected_logp", "chosen_log_ratio",
                "rejected_log_ratio", "grad_norm", "sample_win_rate_spread", "sample_length", "response_length",
                "exploitability", "win_rate_vs_reference", "kl_to_reference"):
        assert all(np.isfinite(r[key]) for r in rows), key
    assert all(r["response_length"] == r["sample_length"] == SMALL.length for r in rows)  # the toy model has no EOS
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in rows)
    # the first step's margin is 0 (π = ρ before any step); later ones move it
    assert rows[0]["chosen_log_ratio"] != rows[-1]["chosen_log_ratio"]


def test_each_iteration_saves_its_dataset(straight):
    result, out = straight
    rows = run_folder.read_rows(out / "data" / "iteration_0002.jsonl")
    arrays = np.load(out / "data" / "iteration_0002.npz")
    assert len(rows) == CFG.prompts and arrays["y"].shape == (CFG.prompts, CFG.k_samples, SMALL.length)
    for row, y, p, win in zip(rows, arrays["y"], arrays["p"], arrays["win"]):
        assert len(row["responses"]) == CFG.k_samples and row["tokens"] == y.tolist()
        # the judge's matrix of those responses, and P̂ its off-diagonal row means
        classes = y.sum(1) % 3
        np.testing.assert_allclose(p, judges.BIASED_RPS[classes][:, classes], atol=1e-6)
        np.testing.assert_allclose(win, (p.sum(1) - 0.5) / (CFG.k_samples - 1), atol=1e-6)
        assert row["chosen"] == int(np.argmax(win)) and row["rejected"] == int(np.argmin(win))


def test_a_killed_run_resumes_to_the_same_end(straight, tmp_path):
    result, _ = straight
    out = tmp_path / "resumed"
    selfplay(out, 2)
    # a kill after iteration 3's row was written but before its state was: the row is replayed
    run_folder.append_row(out / "metrics.jsonl", dict(iteration=3, loss=123.0))
    resumed = selfplay(out, 3)
    for a, b in zip(jax.tree_util.tree_leaves(resumed.iterates[-1]), jax.tree_util.tree_leaves(result.iterates[-1])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    rows = run_folder.read_rows(out / "metrics.jsonl")
    straight_rows = [dict(r, seconds=0) for r in result.metrics]
    assert [dict(r, seconds=0) for r in rows] == straight_rows
    assert len(resumed.iterates) == 4 and resumed.metrics[-1]["iteration"] == 3
    assert json.loads((out / "config.json").read_text())["learner"]["algorithm"] == "dpo"
    with pytest.raises(ValueError, match="holds a run with a different configuration .learner"):
        selfplay(out, 3, LearnerConfig(**{**CFG.__dict__, "beta": 0.2}))
