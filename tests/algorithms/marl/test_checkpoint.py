"""Checkpoints: corrupt or mismatched checkpoints are clear errors (kills and resumes:
test_failures.py)."""

from __future__ import annotations

import jax
import pytest

from algorithms.marl import checkpoint, runner
from algorithms.marl.learner import make_learner
from tests.algorithms.marl.conftest import CHUNKED


def test_corrupt_and_mismatched_checkpoints_are_clear_errors(tmp_path):
    cfg = CHUNKED
    runner.train(cfg, tmp_path / "run", stop_after=1, eval_games=0, final_games=0, crossplay_games=0, progress=False)
    with pytest.raises(checkpoint.CheckpointError, match="different configuration.*hidden: saved 16, asked 32"):
        runner.train(cfg.replace(hidden=32), tmp_path / "run", resume=True, progress=False)
    for f in (tmp_path / "run" / "checkpoints" / "1" / "state").rglob("*"):
        if f.is_file():
            f.write_bytes(b"garbage")
    learner = make_learner(cfg)
    with pytest.raises(checkpoint.CheckpointError, match=r"corrupt .*delete the folder .*checkpoints/1 to resume"):
        checkpoint.restore(tmp_path / "run" / "checkpoints", 1, learner.init(jax.random.PRNGKey(0)))
    with pytest.raises(checkpoint.CheckpointError, match="no checkpoint 7"):
        checkpoint.restore(tmp_path / "run" / "checkpoints", 7, learner.init(jax.random.PRNGKey(0)))
    with pytest.raises(checkpoint.CheckpointError, match="holds no checkpoints"):
        runner.run_population(tmp_path / "nothing")
