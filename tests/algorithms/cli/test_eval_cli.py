"""`gigastep-jax eval`: a cross-play evaluation of scripted policies from the command line."""

from __future__ import annotations

import csv
import json

import pytest

from algorithms.cli import main

FILES = ["matrix.json", "matrix.csv", "report.json", "payoff_heatmap.png", "winrate_vs_earlier.png",
         "ratings.png", "nash_mixture.png"]


def test_eval_scripted(tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["eval", "random,chaser", "--games", "16", "--out", str(out), "--seed", "1"]) == 0
    for name in FILES:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    for name in FILES[3:]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    matrix = json.loads((out / "matrix.json").read_text())
    report = json.loads((out / "report.json").read_text())
    assert matrix["names"] == report["names"] == ["random", "chaser"]
    assert matrix["n_games"] == [[16, 16], [16, 16]]  # the diagonal is played too
    rate = matrix["win_rate"]
    assert rate[1][0] > 0.7 and rate[0][1] < 0.3  # chaser beats random from both sides of the matrix
    assert report["nash_strategy"][1] > 0.99 and report["exploitability"][0] > 0.2
    assert report["elo"][1] > report["elo"][0] and report["bradley_terry"][1] > report["bradley_terry"][0]
    assert report["scenario"] == "identical_5_vs_5_fobs_vec_void_disc" and report["games_per_pair"] == 16
    with open(out / "matrix.csv") as f:
        assert next(csv.reader(f)) == ["policy", "random", "chaser"]
    shown = capsys.readouterr().out
    assert "chaser" in shown and "Nash weight" in shown and "exploitability" in shown


@pytest.mark.parametrize(
    "policies, message",
    [
        ("random,sniper", "unknown scripted policy 'sniper' in 'sniper'; allowed kinds: random, chaser, circler"),
        ("chaser:speed=2", "allowed options: eps=VALUE, gain=VALUE"),
        ("random,,chaser", "empty policy spec"),
    ],
)
def test_eval_bad_spec_exits_2(tmp_path, capsys, policies, message):
    assert main(["eval", policies, "--games", "4", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gigastep-jax eval: error: ") and message in err
    assert len(err.strip().splitlines()) == 1  # one line, no trace
    assert not (tmp_path / "matrix.json").exists()


def test_eval_of_a_folder_without_checkpoints_exits_2(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    assert main(["eval", str(run), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "holds no checkpoints" in err and "gigastep-jax train" in err


@pytest.mark.parametrize("args, message", [(["--games", "0"], "--games must be an int >= 1, got 0"),
                                           (["--scenario", "identical_5_vs_5_nope"], "identical_5_vs_5")])
def test_eval_bad_options_exit_2(tmp_path, capsys, args, message):
    assert main(["eval", "random,chaser", "--out", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err
