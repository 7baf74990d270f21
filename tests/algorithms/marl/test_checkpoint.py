"""Checkpoints: a killed run resumes to the same parameters; corrupt or mismatched checkpoints are
clear errors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest

from algorithms.marl import checkpoint, runner
from algorithms.marl.config import TrainConfig
from algorithms.marl.learner import make_learner
from tests.algorithms.marl.conftest import TINY
from tests.conftest import REPO


TINY_ARGS = ["--scenario", TINY.scenario, "--num-envs", "16", "--rollout-steps", "8", "--epochs", "1",
             "--minibatches", "2", "--hidden", "16", "--pool-size", "2", "--snapshot-every", "1", "--opponent-groups", "2",
             "--checkpoints", "4", "--steps", str(16 * 8 * 4), "--eval-games", "0", "--final-games", "0",
             "--crossplay-games", "0"]


# A run of the command line's configuration that kills itself (SIGKILL, no clean-up) right after
# the checkpoint and metrics row of chunk 2 are written.
KILLED_AT_2 = """
import os, signal
from algorithms.marl import runner
from algorithms.marl.config import TrainConfig
kill = lambda row: row["chunk"] == 2 and os.kill(os.getpid(), signal.SIGKILL)
runner.train(TrainConfig.from_dict({cfg}), {out!r}, eval_games=0, final_games=0, crossplay_games=0, progress=False,
             on_chunk=kill)
"""


def test_killed_run_resumes_to_the_same_parameters(tmp_path, capsys):
    from algorithms.cli import build_parser, flags, main

    killed = tmp_path / "killed"
    cfg = flags.build(build_parser().parse_args(["train", *TINY_ARGS]), TrainConfig)
    assert cfg.opponent_groups == 2 and cfg.checkpoints == 4
    proc = subprocess.run([sys.executable, "-c", KILLED_AT_2.format(cfg=repr(cfg.to_dict()), out=str(killed))],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert checkpoint.steps(killed / "checkpoints") == [1, 2]
    assert main(["train", *TINY_ARGS, "--out", str(killed)]) == 2  # refuses to overwrite a run
    assert "--resume" in capsys.readouterr().err
    assert main(["train", *TINY_ARGS, "--out", str(killed), "--resume"]) == 0

    # The same run never killed.
    clean = tmp_path / "clean"
    runner.train(cfg, clean, eval_games=0, final_games=0, crossplay_games=0, progress=False)
    like = make_learner(cfg).init(jax.random.PRNGKey(0))
    a, _ = checkpoint.restore(clean / "checkpoints", 4, like)
    b, _ = checkpoint.restore(killed / "checkpoints", 4, like)
    for x, y in zip(jax.tree_util.tree_leaves(a.params), jax.tree_util.tree_leaves(b.params)):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.key, b.key)
    rows = [json.loads(line) for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert [r["chunk"] for r in rows] == [1, 2, 3, 4]  # no chunk twice, none missing

    # the run folder is a population for `gigastep-jax eval`: its checkpoints and the scripted policies
    assert main(["eval", str(killed), "--games", "4", "--max-steps", "30", "--out", str(tmp_path / "eval")]) == 0
    matrix = json.loads((tmp_path / "eval" / "matrix.json").read_text())
    assert matrix["names"] == ["ckpt1", "ckpt2", "ckpt3", "ckpt4", "random", "chaser"]


def test_corrupt_and_mismatched_checkpoints_are_clear_errors(tmp_path):
    cfg = TINY.replace(checkpoints=1, total_steps=TINY.steps_per_update)
    runner.train(cfg, tmp_path / "run", eval_games=0, final_games=0, crossplay_games=0, progress=False)
    with pytest.raises(checkpoint.CheckpointError, match="different configuration.*hidden: saved 16, asked 32"):
        runner.train(cfg.replace(hidden=32), tmp_path / "run", resume=True, progress=False)
    for f in (tmp_path / "run" / "checkpoints" / "1" / "state").rglob("*"):
        if f.is_file():
            f.write_bytes(b"garbage")
    learner = make_learner(cfg)
    with pytest.raises(checkpoint.CheckpointError, match="corrupt"):
        checkpoint.restore(tmp_path / "run" / "checkpoints", 1, learner.init(jax.random.PRNGKey(0)))
    with pytest.raises(checkpoint.CheckpointError, match="no checkpoint 7"):
        checkpoint.restore(tmp_path / "run" / "checkpoints", 7, learner.init(jax.random.PRNGKey(0)))
    with pytest.raises(checkpoint.CheckpointError, match="holds no checkpoints"):
        runner.run_population(tmp_path / "nothing")
