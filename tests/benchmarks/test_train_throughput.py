"""benchmarks/train_throughput.py still runs: its quick configuration shrunk to a tiny batch, as a
subprocess. A check that every field RESULTS.md is built from is there and positive, not a figure."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

SCRIPT = REPO / "benchmarks" / "train_throughput.py"
RATES = ("env_steps_per_s", "agent_steps_per_s", "trained_agent_steps_per_s", "raw_env_steps_per_s",
         "raw_agent_steps_per_s")
SECONDS = ("seconds_per_update", "compile_s", "rollout_s", "env_s", "update_s")
SHARES = ("share_env", "share_forward", "share_update", "share_other")


@pytest.mark.slow  # 30 s of compiling; run_all's quick suite (slow too) runs the script as well
def test_train_throughput_quick_smoke():
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--scenario", "identical_1_vs_1_fobs_vec_void_disc",
         "--num-envs", "16", "--rollout-steps", "8", "--hidden", "16", "--minibatches", "2", "--repeats", "1"],
        capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert len(rows) == 1, out.stdout
    (r,) = rows
    assert r["benchmark"] == "train_throughput" and r["scenario"] == "identical_1_vs_1_fobs_vec_void_disc"
    assert (r["num_envs"], r["seeds"], r["batch"], r["rollout_steps"], r["hidden"], r["n_agents"]) == (16, 1, 16, 8, 16, 2)
    assert r["repeats"] == 1 and r["updates_per_run"] >= 1
    for key in ("device", "platform", "cpu", "cpu_count", "jax_version"):
        assert r[key], key
    for key in RATES + SECONDS:
        assert r[key] > 0, (key, r[key])
    assert all(v > 0 for v in r["compile_parts_s"].values()) and set(r["compile_parts_s"]) == {"rollout", "env", "update"}
    # every agent acts in every environment step; the learner trains on at most all of them
    assert r["agent_steps_per_s"] == pytest.approx(r["env_steps_per_s"] * r["n_agents"], rel=1e-3)
    assert r["trained_agent_steps_per_s"] <= r["agent_steps_per_s"] * 1.001
    assert r["raw_agent_steps_per_s"] == pytest.approx(r["raw_env_steps_per_s"] * r["n_agents"], rel=1e-3)
    # the shares of one update add up to 1 (other is the remainder; each part alone is finite)
    assert sum(r[k] for k in SHARES) == pytest.approx(1.0, abs=0.01)
    assert r["share_env"] > 0 and r["share_update"] > 0
