"""`gigastep-jax prefgame`: iterates, JSON-lines metrics, curves and the payoff matrix over iterates."""

from __future__ import annotations

import json

import pytest

from algorithms import loggers
from algorithms.cli import main


# slow since 2026-12-07 (the default suite's time budget): the command line, its rows, curves, payoff
# matrix and data/ run by default in tests/algorithms/preference/test_real_model.py (on a real model,
# resumed) and test_prefgame_with_a_learned_judge below (SPO, with its clip fraction); the
# TensorBoard rows in tests/algorithms/test_loggers.py
@pytest.mark.slow
def test_prefgame_spo_on_the_cycle(tmp_path, capsys):
    out = tmp_path / "pg"
    args = ["prefgame", "--algorithm", "spo", "--judge", "noisy", "--iterations", "3", "--batch-prompts", "8", "--k", "4",
            "--epochs", "2", "--minibatches", "2", "--d-model", "32", "--layers", "1", "--sft-steps", "0",
            "--eval-samples", "256", "--payoff-games", "16", "--payoff-iterates", "3", "--out", str(out),
            "--tensorboard"]
    assert main(args) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [1, 2, 3]
    seen = loggers.read_tensorboard(out / "tensorboard")  # the same rows, for TensorBoard
    assert seen["exploitability"] == [(r["iteration"], pytest.approx(r["exploitability"])) for r in rows]
    assert seen["loss"] == [(r["iteration"], pytest.approx(r["loss"])) for r in rows]
    for r in rows:
        assert r["algorithm"] == "spo"
        assert 0.0 <= r["exploitability"] <= 0.5 * 0.8 + 1e-6  # noise 0.1 shrinks the game by 1 - 2·0.1
        assert 0.0 <= r["win_rate_vs_reference"] <= 1.0 and r["kl_to_reference"] > -0.05
        assert len(r["class_marginal"]) == 3
    assert sorted(p.name for p in (out / "iterates").iterdir()) == [f"iterate_{t:04d}" for t in range(4)]
    for name in ("curves.png", "payoff_heatmap.png", "ratings.png", "nash_mixture.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    report = json.loads((out / "report.json").read_text())
    assert report["names"] == ["t0", "t2", "t3"]  # 3 evenly spaced iterates of 0..3
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["final"]["iteration"] == 3 and summary["payoff"]["names"] == report["names"]
    config = json.loads((out / "config.json").read_text())
    assert config["learner"]["algorithm"] == "spo" and config["policy"]["prefix_mod"] == 3
    assert sorted(p.name for p in (out / "data").iterdir()) == [f"iteration_{t:04d}.{e}" for t in (1, 2, 3)
                                                               for e in ("jsonl", "npz")]


def test_prefgame_with_a_learned_judge(tmp_path):
    """--judge-model: a general preference model trained from a JSON-lines file of pairs labelled by
    the class cycle, saved, and used as the judge of a run."""
    import jax

    from algorithms.preference import judges, load_pairs, save_preference_model, train_preference_model, write_pairs

    pairs = write_pairs(tmp_path / "pairs.jsonl", judges.class_cycle(16), jax.random.PRNGKey(0), 256, 8)
    judge, report = train_preference_model("gpm", load_pairs(pairs, None), jax.random.PRNGKey(1), vocab=16, length=8,
                                           steps=20, batch=64)
    assert report["n_train"] + report["n_heldout"] == 256
    save_preference_model(tmp_path / "gpm", judge)
    out = tmp_path / "pg"
    args = ["prefgame", "--judge-model", str(tmp_path / "gpm"), "--algo", "spo", "--iterations", "1",
            "--batch-prompts", "4", "--k", "4", "--epochs", "1", "--minibatches", "2", "--d-model", "32", "--layers",
            "1", "--sft-steps", "0", "--eval-samples", "64", "--payoff-games", "0", "--out", str(out)]
    assert main(args) == 0
    row = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert row["algorithm"] == "spo" and 0.0 <= row["clip_fraction"] <= 1.0 and row["approx_kl"] >= 0.0
    assert "exploitability" not in row  # a learned judge has no class structure to make it exact
    assert 0.0 <= row["win_rate_vs_reference"] <= 1.0 and json.loads((out / "config.json").read_text())["judge"] == "learned-gpm"


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--k", "1"], "k_samples must be an int >= 2, got 1"),
        (["--iterations", "0"], "iterations must be an int >= 1"),
        (["--noise", "0.9"], r"noise must be a finite number in \[0, 0.5\]"),
        (["--algo", "inpo", "--eta", "0.05", "--tau", "0.1"], "inpo needs tau < eta"),
        (["--judge", "pairrm"], "unknown judge 'pairrm'; allowed: bt, cycle, noisy, length"),
        (["--prompts", "p.jsonl"], "--prompts is the prompts file of a real model: give --model DIR too"),
        (["--model", "m"], "--model needs --prompts FILE"),
        (["--model", "{tmp}/nothing", "--prompts", "p.jsonl"], "nothing is not a folder"),
        (["--lora-rank", "2"], "--lora-rank trains adapters of a real model"),
        (["--top-p", "0"], r"top_p must be a finite number in \(0, 1\]"),
        (["--judge-model", "{tmp}/nothing"], "nothing"),
    ],
)
def test_prefgame_bad_input_exits_2(tmp_path, capsys, extra, message):
    extra = [e.replace("{tmp}", str(tmp_path)) for e in extra]
    assert main(["prefgame", "--out", str(tmp_path / "x"), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gigastep-jax prefgame: error: ")
    assert len(err.strip().splitlines()) == 1
    import re

    assert re.search(message, err)
    assert not (tmp_path / "x" / "metrics.jsonl").exists()
