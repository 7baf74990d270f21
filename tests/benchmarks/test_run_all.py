"""benchmarks/run_all.py: the suite's figures from its rows (fast, synthetic rows), and the quick
suite end to end (slow: a few minutes)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

PNG = b"\x89PNG\r\n\x1a\n"


def load():
    spec = importlib.util.spec_from_file_location("run_all", REPO / "benchmarks" / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_figure_is_drawn_from_its_stage_rows(tmp_path):
    run_all = load()
    machine = dict(device="cpu", jax_version="0.10.2")
    rows = [dict(stage="env_batch", batch=b, agent_steps_per_s=1e6 * b ** 0.5, scenario="s", **machine) for b in (1, 64)]
    rows += [dict(stage="team_size", n_agents=n, batch=max(1, 2000 // n), steps=50, seconds_per_run=1e-6 * n * n,
                  **machine) for n in (2, 10, 2000)]
    rows += [dict(stage="learning", variant="mlp", wall_s=w, vs_random=0.5 + w / 10, vs_chaser=0.2, vs_circler=0.3)
             for w in (1.0, 2.0)]
    rows += [dict(stage="crossplay", figure="crossplay_battles_per_s", matrix=[16, 16], games_per_pair=8,
                  early_exit=True, battles_per_s=300.0)]
    rows += [dict(stage="prefgame", bench="sample", model="small", batch=1024, sampled_tokens_per_s=1e6),
             dict(stage="prefgame", bench="judge", judge="bt", batch=1024, judged_pairs_per_s=1e8)]
    figures = run_all.plot(rows, tmp_path)
    assert sorted(f.name for f in figures) == ["cost_vs_team_size.png", "crossplay.png", "learning_curve.png",
                                                "prefgame.png", "throughput_vs_batch.png"]
    for f in figures:
        assert f.read_bytes()[:8] == PNG
    assert run_all.plot([], tmp_path / "none") == []


@pytest.mark.slow
def test_the_quick_suite_writes_results_and_figures(tmp_path):
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run_all.py"), "--quick", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=1200, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["failed"] == [] and len(summary["figures"]) == 5
    rows = [json.loads(line) for line in open(summary["results"])]
    assert {r["stage"] for r in rows} == set(load().STAGES)
    for r in rows:
        assert r["git_commit"] and r["suite_mode"] == "quick" and r["device"] and r["jax_version"], r
