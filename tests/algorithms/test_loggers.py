"""Experiment loggers (`algorithms.loggers`): TensorBoard event files read back, a resumed writer
leaving each row once, W&B's calls (a recording stand-in, and the real package where installed),
and clear errors for a missing package."""

from __future__ import annotations

import importlib
import json
import sys
import time
import types

import pytest

from algorithms import loggers

ROWS = [dict(env_steps=256 * (i + 1), chunk=i + 1, score_vs_chaser=0.25 * i, loss=1.0 / (i + 1), scenario="x",
             compile_s=None) for i in range(4)]


def test_tensorboard_holds_every_numeric_entry_of_every_row(tmp_path):
    with loggers.RunLoggers(tmp_path, loggers.LogOptions(tensorboard=True), step_key="env_steps") as log:
        for row in ROWS:
            log.log(row)
        log.summary({"score_vs_chaser": 0.75, "wins_vs_chaser": 12, "name": "ckpt4"}, step=1024)
    seen = loggers.read_tensorboard(tmp_path / "tensorboard")
    assert set(seen) == {"chunk", "score_vs_chaser", "loss", "final/score_vs_chaser", "final/wins_vs_chaser"}
    assert seen["loss"] == [(r["env_steps"], pytest.approx(r["loss"])) for r in ROWS]
    assert seen["final/wins_vs_chaser"] == [(1024, 12.0)]


def test_a_resumed_writer_leaves_each_row_once(tmp_path):
    """A killed writer logged rows 1-3 (row 3 past the last checkpoint); the resumed run restarts
    from the checkpoint of row 2, logs rows 1-2 again, then new values for rows 3 and 4."""
    options = loggers.LogOptions(tensorboard=True)
    with loggers.RunLoggers(tmp_path, options, step_key="env_steps") as log:
        for row in ROWS[:3]:
            log.log(row)
    again = [dict(r, loss=-r["loss"]) for r in ROWS[2:]]  # the redone chunks differ from the lost ones
    time.sleep(1.1)  # event files are named by the second they were opened
    with loggers.RunLoggers(tmp_path, options, step_key="env_steps", earlier_rows=ROWS[:2]) as log:
        for row in again:
            log.log(row)
    seen = loggers.read_tensorboard(tmp_path / "tensorboard")
    expect = ROWS[:2] + again
    assert seen["loss"] == [(r["env_steps"], pytest.approx(r["loss"])) for r in expect]
    assert len(list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))) == 2


class FakeRun:
    def __init__(self, calls):
        self.calls, self.summary = calls, {}

    def log(self, values, step):
        self.calls.append(("log", step, dict(values)))

    def finish(self):
        self.calls.append(("finish",))


@pytest.fixture
def fake_wandb(monkeypatch):
    """A stand-in `wandb` module that records init, log and finish."""
    calls = []
    module = types.ModuleType("wandb")

    def init(**kwargs):
        calls.append(("init", kwargs))
        module.run = FakeRun(calls)
        return module.run

    module.init = init
    monkeypatch.setitem(sys.modules, "wandb", module)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    return module, calls


def test_wandb_logs_offline_and_resumes_its_run_past_its_last_step(tmp_path, fake_wandb):
    module, calls = fake_wandb
    options = loggers.LogOptions(wandb=True)
    with loggers.RunLoggers(tmp_path, options, step_key="env_steps", config={"lr": 0.1}) as log:
        for row in ROWS[:3]:
            log.log(row)
    init = calls[0][1]
    assert init["mode"] == "offline" and init["dir"] == str(tmp_path) and init["config"] == {"lr": 0.1}
    assert [c[1] for c in calls if c[0] == "log"] == [256, 512, 768]
    assert calls[1][2] == {"chunk": 1.0, "score_vs_chaser": 0.0, "loss": 1.0}  # numbers only, not the step
    assert calls[-1] == ("finish",)
    calls.clear()
    # Resumed from the checkpoint of row 2: the same W&B run, and only the rows past step 768.
    with loggers.RunLoggers(tmp_path, options, step_key="env_steps", earlier_rows=ROWS[:2]) as log:
        for row in ROWS[2:]:
            log.log(row)
        log.summary({"score_vs_chaser": 0.5}, step=1024)
    assert calls[0][1]["id"] == init["id"] and calls[0][1]["resume"] == "allow"
    assert [c[1] for c in calls if c[0] == "log"] == [1024]
    assert module.run.summary == {"score_vs_chaser": 0.5}


def test_missing_packages_are_named_before_a_run(monkeypatch, tmp_path):
    real = importlib.import_module

    def refuse(name, *args):
        if name in ("tensorboardX", "wandb"):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", refuse)
    with pytest.raises(ImportError, match=r"--tensorboard needs the tensorboardX package: pip install"):
        loggers.check_available(loggers.LogOptions(tensorboard=True))
    with pytest.raises(ImportError, match="--wandb needs the wandb package: pip install wandb"):
        loggers.RunLoggers(tmp_path, loggers.LogOptions(wandb=True), step_key="step")
    with pytest.raises(ValueError, match="tensorboard must be True or False, got 'yes'"):
        loggers.LogOptions(tensorboard="yes")


def test_a_corrupt_wandb_record_is_a_clear_error(tmp_path, fake_wandb):
    (tmp_path / "wandb_run.json").write_text("{not json")
    with pytest.raises(ValueError, match="wandb_run.json is corrupt .* delete it"):
        loggers.RunLoggers(tmp_path, loggers.LogOptions(wandb=True), step_key="step")


@pytest.mark.skipif(importlib.util.find_spec("wandb") is None, reason="wandb is optional and not installed")
def test_the_real_wandb_writes_an_offline_run(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    with loggers.RunLoggers(tmp_path, loggers.LogOptions(wandb=True), step_key="env_steps") as log:
        for row in ROWS:
            log.log(row)
    run_id = json.loads((tmp_path / "wandb_run.json").read_text())
    assert run_id["last_step"] == ROWS[-1]["env_steps"]
    (record,) = (tmp_path / "wandb").glob(f"offline-run-*-{run_id['id']}/run-{run_id['id']}.wandb")
    data = record.read_bytes()
    assert b"score_vs_chaser" in data and b"loss" in data
