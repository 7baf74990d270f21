"""Bad input on the command line ends in one line on stderr and exit code 2, before any work (no
battle played, no folder written): the output places, the render options, a missing run folder."""

from __future__ import annotations

import pytest

from algorithms.cli import main

SCENARIO = "identical_2_vs_2_fobs_vec_void_disc"


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "taken"
    path.write_text("not a folder")
    return path


@pytest.mark.parametrize("argv, message", [
    (["train", "--scenario", SCENARIO, "--out", "{file}"], "is an existing file, not a folder"),
    (["eval", "random,chaser", "--games", "2", "--out", "{file}"], "is an existing file, not a folder"),
    (["prefgame", "--iterations", "1", "--out", "{file}"], "is an existing file, not a folder"),
    (["train", "--scenario", SCENARIO, "--out", "{file}/run"], "cannot create the folder"),
    (["render", SCENARIO, "--out", "{file}/battle.gif"], "is an existing file, not a folder"),
    (["render", SCENARIO, "--out", "{tmp}"], "is a folder; give the GIF's file name"),
    (["render", SCENARIO, "--scale", "0"], "--scale must be an int >= 1, got 0"),
    (["render", SCENARIO, "--fps", "0"], "--fps must be an int >= 1, got 0"),
    (["render", SCENARIO, "--max-steps", "0"], "--max-steps must be an int >= 1, got 0"),
    (["eval", "random,chaser", "--max-steps", "0"], "--max-steps must be an int >= 1, got 0"),
    (["eval", "{tmp}/no_such_run"], "no such run folder"),
    (["eval", "my_run"], "unknown scripted policy 'my_run'"),
    (["eval", "my_run"], "a trained policy is a run folder, RUN_DIR or RUN_DIR@STEP"),
    (["eval", "random,runs/missing@3"], "no such run folder 'runs/missing@3'"),
    (["render", SCENARIO, "--team-a", "sniper"], "unknown team 'sniper': neither a scripted policy"),
    (["eval", "{file}"], "no such run folder"),
    (["train", "--eval-games", "-1"], "eval_games must be an int >= 0, got -1"),
    (["exploit", "{tmp}/no_such_run"], "holds no checkpoints"),
    (["exploit", "{tmp}", "--budget", "2"], "budget must be a finite number in (0, 1], got 2.0"),
    (["exploit", "{tmp}", "--target", "best"], "unknown target 'best'; allowed: final, nash"),
    (["exploit", "{tmp}", "--init", "warm"], "unknown init 'warm'; allowed: final, scratch"),
])
def test_one_line_and_exit_2(argv, message, a_file, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a default --out lands here, if anything is written at all
    before = sorted(p.name for p in tmp_path.iterdir())
    argv = [a.format(file=a_file, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"gigastep-jax {argv[0]}: error: ") and message in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
