"""The README's Python examples run as written: every ```python block, in order, in one fresh folder,
as a reader running them would (the trained-policy example loads the run the training example wrote)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_examples_run_in_order(tmp_path, monkeypatch):
    assert len(BLOCKS) >= 5
    monkeypatch.chdir(tmp_path)  # the examples write battle.gif and runs/
    for index, block in enumerate(BLOCKS):
        namespace: dict = {}
        exec(compile(block, f"README.md python block {index}", "exec"), namespace)
        if "frames" in namespace:  # the environment example drew a battle
            assert namespace["frames"].ndim == 4 and (tmp_path / "battle.gif").stat().st_size > 0
        if "pz" in namespace:  # the adapters example: a PettingZoo episode played to its end
            assert namespace["pz"].agents == [] and set(namespace["dones"]) == {*namespace["env"].agents, "__all__"}
            assert namespace["obs"].shape == (2, *namespace["gym"].env.obs_shape)
        if "summary" in namespace:  # the training example wrote a run
            final = namespace["summary"]["final_eval"]["chaser"]
            assert final["wins"] + final["draws"] + final["losses"] == final["games"] == 64
            assert (tmp_path / "runs" / "2v2" / "checkpoints").is_dir()
            for gif in ("final_vs_chaser.gif", "final_vs_first.gif"):  # a finished run's battles to watch
                assert (tmp_path / "runs" / "2v2" / gif).stat().st_size > 0
        if hasattr(namespace.get("policy"), "checkpoint"):  # the trained policy played a battle
            assert namespace["policy"].checkpoint == 2 and namespace["final"]["length"] >= 1
        if "exact" in namespace:  # the preference example: the exact SPPO average nears the Nash
            from algorithms.preference import BIASED_RPS, exploitability

            assert exploitability(BIASED_RPS, namespace["exact"].average) < 0.01
            assert len(namespace["run"].metrics) == 3
        if "tiny_run" in namespace:  # the real-model example: a GPT-2-format model made, trained, resumable
            rows = namespace["tiny_run"].metrics
            assert len(rows) == 2 and 0 < rows[-1]["response_length"] <= 16
            assert 0.0 <= rows[-1]["lc_win_rate_vs_reference"] <= 1.0
            assert (tmp_path / "out" / "tiny-gpt2" / "model.safetensors").exists()
            assert (tmp_path / "out" / "sppo-tiny" / "data" / "iteration_0002.jsonl").exists()
