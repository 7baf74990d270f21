"""notebooks/03_preference_game.ipynb runs top to bottom with a small budget in a real kernel: the cycle
section with all five algorithms, the length section with two of its four (each one more compile)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

from tests.conftest import REPO
from tests.notebooks.conftest import execute, inject, stdout_of

NOTEBOOK = REPO / "notebooks" / "03_preference_game.ipynb"


def test_preference_notebook_runs(tmp_path):
    out_dir = tmp_path / "pg"
    nb = inject(nbformat.read(NOTEBOOK, as_version=4),
                f"ITERATIONS = 2\nEVAL_SAMPLES = 512\nD_MODEL, LAYERS = 32, 1\nPAYOFF_GAMES = 32\n"
                f"LENGTH_ITERATIONS = 2\nLENGTH_ALGORITHMS = ('iterative_dpo',)\nLENGTH_EVAL_SAMPLES = 64\n"
                f"OUT_DIR = {str(out_dir)!r}")
    nb = execute(nb, tmp_path)
    for i, cell in enumerate(nb.cells):
        errors = [o for o in cell.get("outputs", []) if o["output_type"] == "error"]
        assert not errors, f"cell {i} raised {errors[0]['ename']}: {errors[0]['evalue']}"

    summary = json.loads(stdout_of(nb.cells[-1]))
    assert summary["iterations"] == 2 and summary["eval_samples"] == 512
    assert sorted(summary["final"]) == ["dpo", "inpo", "iterative_dpo", "spo", "sppo"]
    for algorithm, final in summary["final"].items():
        assert 0.0 <= final["exploitability"] <= 0.5 + 1e-6, algorithm  # 0.5: one class, always beaten
        assert 0.0 <= final["exploitability_average"] <= 0.5 + 1e-6, algorithm
    assert summary["payoff_names"] == ["t0", "t1", "t2"]
    assert abs(sum(summary["nash_strategy"]) - 1.0) < 1e-6 and len(summary["elo"]) == 3
    for figure in summary["figures"]:
        path = Path(figure)
        assert path.parent == out_dir and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", figure
    assert len(summary["figures"]) == 6
    for algorithm in summary["final"]:
        assert len((out_dir / algorithm / "metrics.jsonl").read_text().splitlines()) == 2

    # the length-biased judge on the real causal LM: mean lengths in (0, 16] tokens, win rates are probabilities
    assert summary["length_iterations"] == 2 and sorted(summary["length"]) == ["iterative_dpo"]  # one in the test: each costs a compile
    for algorithm, final in summary["length"].items():
        assert 0.0 < final["response_length"] <= 16.0, algorithm
        assert 0.0 <= final["win_rate_vs_reference"] <= 1.0, algorithm
        assert 0.0 <= final["lc_win_rate_vs_reference"] <= 1.0, algorithm
        assert len((out_dir / f"length-{algorithm}" / "metrics.jsonl").read_text().splitlines()) == 2
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 4  # the exploitability curves, the heatmap, the win rate against earlier iterates, length
