"""The benchmark scripts still run: each one's smallest configuration, as a subprocess.

Not timed tests (the figures live in benchmarks/RESULTS.md): they check that every script prints
one JSON object per configuration with the fields RESULTS.md is built from, and positive rates.
The comparison with the original Gigastep runs ours only, unless a local copy of the original is
named by GIGASTEP_ORIGINAL (it is never a dependency).
"""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

BENCH = REPO / "benchmarks"


def run_script(name: str, *args: str) -> list[dict]:
    out = subprocess.run(
        [sys.executable, str(BENCH / name), *args], capture_output=True, text=True, timeout=300, check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert rows, out.stdout
    return rows


def check_machine(row: dict) -> None:
    for key in ("device", "platform", "cpu", "cpu_count", "jax_version"):
        assert row[key], (key, row)


def test_env_throughput_smoke():
    rows = run_script("env_throughput.py", "--smoke")
    assert [r["mode"] for r in rows] == ["plain", "autoreset"]
    for r in rows:
        check_machine(r)
        assert r["agent_steps_per_s"] > 0 and r["env_steps_per_s"] > 0
        assert r["agent_steps_per_s"] == pytest.approx(r["env_steps_per_s"] * r["n_agents"], rel=1e-3)
        assert r["compile_s"] > 0 and r["seconds_per_run"] > 0
    assert 0.0 <= rows[0]["finished_fraction"] <= 1.0


def test_compare_original_smoke():
    original = os.environ.get("GIGASTEP_ORIGINAL")
    args = ["--smoke"] + (["--original", original] if original else [])
    (row,) = run_script("compare_original.py", *args)
    check_machine(row)
    assert row["config"] == "main" and row["target_speedup"] == 3.0
    assert row["ours"]["agent_steps_per_s"] > 0 and row["ours"]["compile_s"] > 0
    if original:
        assert row["original"]["agent_steps_per_s"] > 0 and row["speedup"] > 0
    else:
        assert row["original"] is None and row["speedup"] is None


def test_eval_throughput_smoke():
    rows = run_script("eval_throughput.py", "--smoke")
    cross, *ratings = rows
    check_machine(cross)
    assert cross["figure"] == "crossplay_battles_per_s" and cross["battles_per_call"] == 4
    assert cross["battles_per_s"] > 0 and cross["compile_s"] > 0 and 0.0 <= cross["diagonal_mean"] <= 1.0
    assert {r["figure"] for r in ratings} == {"nash_lp_seconds", "nash_iterative_seconds", "bradley_terry_seconds", "elo_seconds"}
    for r in ratings:
        check_machine(r)
        assert r["policies"] == 16 and r["seconds"] > 0


@pytest.mark.slow  # 15 s of compiling for a script whose adapters tests/gigastep_jax/test_adapters.py checks
def test_adapter_overhead_smoke():
    rows = run_script("adapter_overhead.py", "--smoke")
    assert [(r["regime"], r["api"]) for r in rows] == [
        ("python_loop", "native"), ("python_loop", "jaxmarl"), ("python_loop", "pettingzoo"),
        ("python_loop", "gymnasium"), ("compiled", "native"), ("compiled", "jaxmarl"),
        ("compiled", "jaxmarl_logwrapper")]
    for r in rows:
        check_machine(r)
        assert r["relative_to_native"] > 0
        assert r["us_per_step"] > 0 if r["regime"] == "python_loop" else (r["agent_steps_per_s"] > 0 and r["compile_s"] > 0)
    assert rows[0]["relative_to_native"] == rows[4]["relative_to_native"] == 1.0


def check_lm_rows(rows: list[dict], benches: list[str]) -> None:
    """prefgame_lm_throughput.py's rows: the model, batch and length, compile apart, positive rates."""
    assert [r["bench"] for r in rows] == benches
    for r in rows:
        check_machine(r)
        assert r["model"] == "smoke-gpt2" and r["params"] > 0 and r["batch"] == 8 and r["length"] == 8
        assert r["compile_s"] > 0
    by = {r["bench"]: r for r in rows}
    if "generate" in by:
        g = by["generate"]
        assert g["tokens"] == 64 and 0 < g["content_tokens"] <= g["tokens"]
        assert g["generated_tokens_per_s"] >= g["content_tokens_per_s"] > 0
    if "fwd_bwd" in by:
        assert by["fwd_bwd"]["tokens"] == 64 and by["fwd_bwd"]["train_tokens_per_s"] > 0
    if "iteration" in by:
        it = by["iteration"]
        assert it["algorithm"] == "sppo" and it["pairs_from"] == "policy" and it["trained_tokens"] == 64
        assert it["iteration_s"] > 0 and it["generation_alone_s"] > 0 and it["generated_tokens_per_s"] > 0


@pytest.mark.slow  # the default suite's time budget; the learner and generation run in tests/algorithms/preference
def test_prefgame_lm_throughput_smoke():  # about 7 s: generation and forward+backward, no learner compile
    rows = run_script("prefgame_lm_throughput.py", "--smoke", "--repeats", "1", "--only", "generate", "fwd_bwd")
    check_lm_rows(rows, ["generate", "fwd_bwd"])


@pytest.mark.slow  # the learner's update adds about 8 s of compiling
def test_prefgame_lm_throughput_smoke_with_iteration():
    rows = run_script("prefgame_lm_throughput.py", "--smoke", "--repeats", "1")
    check_lm_rows(rows, ["generate", "fwd_bwd", "iteration"])
