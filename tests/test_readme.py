"""The README's Python examples run as written (each ```python block, in order, in a fresh folder)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_examples():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples write battle.gif and runs/
    namespace: dict = {}
    exec(compile(BLOCKS[index], f"README.md python block {index}", "exec"), namespace)
    if "frames" in namespace:  # the environment example drew a battle
        assert namespace["frames"].ndim == 4 and (tmp_path / "battle.gif").stat().st_size > 0
    if "summary" in namespace:  # the training example wrote a run
        final = namespace["summary"]["final_eval"]["chaser"]
        assert final["wins"] + final["draws"] + final["losses"] == final["games"] == 64
        assert (tmp_path / "runs" / "2v2" / "checkpoints").is_dir()
        for gif in ("final_vs_chaser.gif", "final_vs_first.gif"):  # a finished run's battles to watch
            assert (tmp_path / "runs" / "2v2" / gif).stat().st_size > 0
    if "exact" in namespace:  # the preference example: the exact SPPO average nears the Nash
        from algorithms.preference import BIASED_RPS, exploitability

        assert exploitability(BIASED_RPS, namespace["exact"].average) < 0.01
        assert len(namespace["run"].metrics) == 5
