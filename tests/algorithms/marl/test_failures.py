"""The failure model (docs/DESIGN.md#failure-model) of a run on disk: a kill at any moment loses
nothing, a second writer is refused, sizes the counters cannot hold are refused before compiling.

A kill is a real SIGKILL of a subprocess, timed by patching one function of the runner in that
subprocess: inside the checkpoint write (when orbax's temporary folder appears), between the
checkpoint and its metrics row, during the evaluation after a chunk, and at a chunk boundary. Each resumed run must
end with the parameters, key, pool and metrics rows of the run never killed.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest

from algorithms import loggers, run_folder
from algorithms.cli import main
from algorithms.marl import checkpoint, runner
from algorithms.marl.config import TrainConfig
from algorithms.marl.learner import make_learner
from tests.algorithms.marl.conftest import CHUNKED, TINY
from tests.conftest import REPO

CONFIG = CHUNKED
OPTIONS = dict(eval_games=4, final_games=0, crossplay_games=0, progress=False, tensorboard=True)
TIMING = ("wall_s", "chunk_s", "env_steps_per_s", "compile_s")  # measured, not computed

PRELUDE = """
import os, signal, threading, time
from pathlib import Path
from algorithms import run_folder
from algorithms.marl import checkpoint, runner
from algorithms.marl.config import TrainConfig
out = Path({out!r})
kill = lambda: os.kill(os.getpid(), signal.SIGKILL)
"""
MOMENTS = {
    # orbax writes checkpoint 2 into a temporary folder; the kill lands while it exists
    "inside_checkpoint_write": """
real_save = checkpoint.save
def save(mngr, step, state, config, metrics):
    def watch():
        while True:
            if any("tmp" in p.name for p in (out / "checkpoints").iterdir()):
                kill()
            time.sleep(0.0002)
    if step == 2:
        threading.Thread(target=watch, daemon=True).start()
    real_save(mngr, step, state, config, metrics)
checkpoint.save = save
""",
    # checkpoint 2 is complete, its row not yet appended to metrics.jsonl
    "between_checkpoint_and_row": """
real_append = run_folder.append_row
run_folder.append_row = lambda path, row: kill() if row["chunk"] == 2 else real_append(path, row)
""",
    # chunk 2 is trained, its evaluation battles are being played
    # chunk 2's checkpoint and row are written: the kill lands at a chunk boundary
    "after_chunk": """
runner_train = runner.train
runner.train = lambda *a, **kw: runner_train(*a, on_chunk=lambda row: row["chunk"] == 2 and kill(), **kw)
""",
    "during_evaluation": """
real_eval, calls = runner.Evaluator.vs_scripted, []
def vs_scripted(self, *args, **kw):
    calls.append(1)
    if len(calls) == 2:
        kill()
    return real_eval(self, *args, **kw)
runner.Evaluator.vs_scripted = vs_scripted
""",
}
RUN = """
runner.train(TrainConfig.from_dict({cfg}), out, **{options})
"""


@pytest.fixture(scope="module")
def never_killed(tmp_path_factory):
    out = tmp_path_factory.mktemp("clean") / "run"
    runner.train(CONFIG, out, **OPTIONS)
    return out


def assert_tensorboard_holds_the_rows(out):
    """The TensorBoard view of a (resumed) run: every numeric entry of every metrics row, once."""
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    seen = loggers.read_tensorboard(out / "tensorboard")
    for key in {k for r in rows for k, v in r.items() if isinstance(v, (int, float)) and k != "env_steps"}:
        assert seen[key] == [(r["env_steps"], pytest.approx(float(r[key]))) for r in rows if key in r], key


def _outcome(out):
    """(state of the last checkpoint, metrics rows without the timing fields)."""
    like = make_learner(CONFIG).init(jax.random.PRNGKey(0))
    state, _ = checkpoint.restore(out / "checkpoints", CONFIG.checkpoints, like)
    rows = [{k: v for k, v in json.loads(line).items() if k not in TIMING}
            for line in (out / "metrics.jsonl").read_text().splitlines()]
    return state, rows


@pytest.mark.parametrize("moment", [
    "between_checkpoint_and_row", "inside_checkpoint_write",
    pytest.param("during_evaluation", marks=pytest.mark.slow),  # resumes like inside_checkpoint_write: slow suite
])  # after_chunk: the command-line test
def test_a_kill_at_any_moment_loses_nothing(moment, tmp_path, never_killed):
    out = tmp_path / "run"
    code = PRELUDE.format(out=str(out)) + MOMENTS[moment] + RUN.format(cfg=repr(CONFIG.to_dict()), options=OPTIONS)
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    done = checkpoint.steps(out / "checkpoints")
    assert done == ([1, 2] if moment in ("between_checkpoint_and_row", "after_chunk") else [1]), done
    runner.train(CONFIG, out, resume=True, **OPTIONS)

    (killed, killed_rows), (clean, clean_rows) = _outcome(out), _outcome(never_killed)
    for leaf_k, leaf_c in zip(jax.tree_util.tree_leaves((killed.params, killed.pool, killed.key, killed.update)),
                              jax.tree_util.tree_leaves((clean.params, clean.pool, clean.key, clean.update))):
        np.testing.assert_array_equal(leaf_k, leaf_c)
    assert [r["chunk"] for r in killed_rows] == [1, 2, 3, 4]
    assert killed_rows == clean_rows  # every row, as the run never killed wrote it
    assert_tensorboard_holds_the_rows(out)


# The command line's spelling of CONFIG and OPTIONS.
CLI = ["--scenario", TINY.scenario, "--num-envs", "16", "--rollout-steps", "8", "--epochs", "1", "--minibatches", "2",
       "--hidden", "16", "--opponent-groups", "2", "--pool-size", "2", "--snapshot-every", "1",
       "--self-play-fraction", "0.5", "--scripted-fraction", "0", "--steps", str(CONFIG.total_steps),
       "--checkpoints", "4", "--eval-games", "4", "--final-games", "0", "--crossplay-games", "0",
       "--scripted-opponents", "random,chaser,circler"]


def test_the_command_line_resumes_a_killed_run(tmp_path, capsys, never_killed):
    """`gigastep-jax train` refuses to overwrite a run, resumes it with --resume to the run never
    killed, and the run folder is a population for `gigastep-jax eval`."""
    from algorithms.cli import build_parser, flags

    assert flags.build(build_parser().parse_args(["train", *CLI]), TrainConfig) == CONFIG
    out = tmp_path / "run"
    code = PRELUDE.format(out=str(out)) + MOMENTS["after_chunk"] + RUN.format(cfg=repr(CONFIG.to_dict()),
                                                                              options=OPTIONS)
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert main(["train", *CLI, "--out", str(out)]) == 2  # refuses to overwrite a run
    assert "--resume" in capsys.readouterr().err
    assert main(["train", *CLI, "--out", str(out), "--resume", "--tensorboard"]) == 0
    assert _outcome(out)[1] == _outcome(never_killed)[1]
    assert_tensorboard_holds_the_rows(out)
    np.testing.assert_array_equal(_outcome(out)[0].key, _outcome(never_killed)[0].key)
    assert main(["eval", str(out), "--games", "4", "--max-steps", "30", "--out", str(tmp_path / "eval")]) == 0
    matrix = json.loads((tmp_path / "eval" / "matrix.json").read_text())
    assert matrix["names"] == ["ckpt1", "ckpt2", "ckpt3", "ckpt4", "random", "chaser"]


def test_a_lost_metrics_log_is_rebuilt_from_the_checkpoints(tmp_path, never_killed):
    out = tmp_path / "run"
    runner.train(CONFIG, out, stop_after=3, **OPTIONS)
    (out / "metrics.jsonl").unlink()
    runner.train(CONFIG, out, resume=True, **OPTIONS)
    assert _outcome(out)[1] == _outcome(never_killed)[1]


TRAIN_ARGS = ["--scenario", TINY.scenario, "--num-envs", "16", "--minibatches", "2", "--steps", "128", "--checkpoints", "1"]


@pytest.mark.parametrize("command", [["train", *TRAIN_ARGS], ["eval", "random,chaser", "--games", "2"],
                                     ["prefgame", "--iterations", "1"]])
def test_a_second_writer_is_refused_at_once(command, tmp_path, capsys):
    out = tmp_path / "busy"
    with run_folder.exclusive(out):
        assert main([*command, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is being written by another writer" in err[0], err
    assert sorted(p.name for p in out.iterdir()) == [".lock"]  # nothing written


def test_a_killed_writer_leaves_no_stuck_lock(tmp_path):
    out = tmp_path / "run"
    code = (f"import os, signal\nfrom algorithms import run_folder\nrun_folder.exclusive({str(out)!r}).__enter__()\n"
            f"os.kill(os.getpid(), signal.SIGKILL)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL and (out / ".lock").exists()
    with run_folder.exclusive(out) as folder:  # the kernel released the dead process's lock
        assert folder == out


def test_sizes_the_counters_cannot_hold_are_refused_before_anything(tmp_path, capsys):
    out = tmp_path / "absurd"
    assert main(["train", "--steps", str(10**15), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "more than the int32 step counters hold" in err and "total_steps must be at most" in err
    assert not out.exists()  # refused before the folder was made
