"""Trained policies as first-class objects: load a run's checkpoint as `policy(key, env, state)`, play
it under jit and vmap, render it and cross-play it from the shell beside scripted policies."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

import algorithms
import gigastep_jax as gj
from algorithms.cli import main
from algorithms.marl import checkpoint, runner
from tests.algorithms.marl.conftest import TINY

KEY = jax.random.PRNGKey(0)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("trained") / "run"
    runner.train(TINY, out, eval_games=0, final_games=0, crossplay_games=0, progress=False)
    return out


def test_a_checkpoint_acts_like_a_scripted_policy(run):
    env = gj.make(TINY.scenario)
    _, state = jax.jit(env.reset)(KEY)  # the states compiled: dispatching reset op by op costs more
    policy = algorithms.load_policy(run)
    assert (policy.checkpoint, policy.scenario) == (TINY.checkpoints, TINY.scenario)
    action = jax.jit(policy, static_argnums=1)(KEY, env, state)
    assert action.shape == (env.n_agents,) and action.dtype == jnp.int32 and bool(((action >= 0) & (action < 27)).all())
    states = jax.jit(jax.vmap(env.reset))(jax.random.split(KEY, 3))[1]
    batch = jax.jit(jax.vmap(policy, in_axes=(0, None, 0)), static_argnums=1)(jax.random.split(KEY, 3), env, states)
    assert batch.shape == (3, env.n_agents)
    greedy = algorithms.load_policy(run, greedy=True)
    np.testing.assert_array_equal(greedy(KEY, env, state), greedy(jax.random.PRNGKey(9), env, state))  # the mode
    # a named checkpoint, as an argument or as RUN_DIR@STEP, is that checkpoint's actor
    first, also_first = algorithms.load_policy(run, checkpoint=1, greedy=True), algorithms.load_policy(f"{run}@1", greedy=True)
    np.testing.assert_array_equal(first(KEY, env, state), also_first(KEY, env, state))
    states, final = gj.render.play(env, KEY, gj.policies.by_team(policy, gj.policies.chaser), max_steps=20)
    assert states.x.shape == (21, env.n_agents) and final["length"] <= 20


def test_clear_errors(run, tmp_path):
    with pytest.raises(ValueError, match="no such run folder"):
        algorithms.load_policy(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(checkpoint.CheckpointError, match="holds no checkpoints"):
        algorithms.load_policy(tmp_path / "empty")
    with pytest.raises(checkpoint.CheckpointError, match=r"has no checkpoint 7; it has \[1, 2\]"):
        algorithms.load_policy(f"{run}@7")
    with pytest.raises(ValueError, match="RUN_DIR@STEP with STEP a whole number"):
        algorithms.load_policy(f"{run}@last")
    policy = algorithms.load_policy(run)
    other = gj.make("identical_5_vs_5_fobs_vec_void_disc")
    state = jax.jit(other.reset_state)(KEY)
    with pytest.raises(ValueError, match="was trained on identical_2_vs_2_fobs_vec_void_disc .* differs"):
        policy(KEY, other, state)


def test_render_and_eval_take_trained_policies(run, tmp_path, capsys):
    gif = tmp_path / "battle.gif"
    assert main(["render", TINY.scenario, "--team-a", str(run), "--team-b", "chaser", "--max-steps", "30",
                 "--fps", "20", "--out", str(gif)]) == 0
    outcome = json.loads(gif.with_suffix(".json").read_text())
    assert outcome["team_a"] == str(run) and outcome["steps"] <= 30
    with Image.open(gif) as image:
        assert image.n_frames >= 2 and image.info["duration"] == 50  # 20 frames per second
    capsys.readouterr()
    out = tmp_path / "eval"
    # six policies, 4 games, 30 steps: the cross-play test_failures.py evaluates a run folder with, compiled once
    assert main(["eval", f"{run}@1,{run},random,chaser:eps=0.5,circler,chaser", "--games", "4", "--max-steps", "30",
                 "--out", str(out)]) == 0
    matrix = json.loads((out / "matrix.json").read_text())
    assert matrix["names"] == ["run@1", "run@2", "random", "chaser:eps=0.5", "circler", "chaser"]
    assert np.asarray(matrix["n_games"]).min() == 4


@pytest.mark.parametrize("fps, delay", [(20, 50), (10, 100), (4, 250)])
def test_gif_frame_delay_is_read_back(tmp_path, fps, delay):
    frames = np.zeros((3, 8, 8, 3), np.uint8)
    frames[1, 2, 2], frames[2, 5, 5] = 255, 128  # distinct frames (GIF writers merge repeats)
    path = gj.render.save_gif(frames, tmp_path / "f.gif", fps=fps)
    with Image.open(path) as image:
        assert image.info["duration"] == delay
    with pytest.raises(ValueError, match=r"fps must be a number in \(0, 100\]"):
        gj.render.save_gif(frames, tmp_path / "g.gif", fps=0)
