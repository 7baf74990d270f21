"""A training run on disk: compiled chunks, checkpoints, metrics, evaluation and figures.

    gigastep-jax train --scenario NAME --steps N --out runs/NAME [--resume]

writes into the run folder:
    checkpoints/<c>/     orbax checkpoint after chunk c (the whole TrainState, config, metrics)
    metrics.jsonl        one JSON object per chunk (steps, wall-clock, win rates, losses)
    config.json          the run's configuration
    crossplay/           matrix.json/.csv, report.json and the figures of the checkpoints' cross-play
    final_eval.json      the last policy against random, chaser and circler
Python only orchestrates between compiled chunks; every chunk is one `jit` call.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable

import jax
import numpy as np

from algorithms import evaluation
from algorithms.marl import checkpoint, population
from algorithms.evaluation import game, plots
from algorithms.marl.config import TrainConfig
from algorithms.marl.learner import Learner, make_train, shard, summarize

YARDSTICKS = ("random", "chaser", "circler")


class Evaluator:
    """Battles of actor params against the yardsticks and against each other (compiled once)."""

    def __init__(self, learner: Learner, games: int, max_steps: int | None = None):
        self.learner = learner
        self.games = games
        make = lambda scripted: population.make_apply(learner.actor, learner.layout, learner.env.discrete,  # noqa: E731
                                                      memory_size=learner.memory_size, scripted=scripted)
        self.game = game.BattleGame(learner.env, make(True), max_steps=max_steps)
        self.network_game = game.BattleGame(learner.env, make(False), max_steps=max_steps)  # checkpoints only
        self.like = learner.init_params(jax.random.PRNGKey(0))["actor"]
        self.yardsticks = population.stack_members([population.scripted_member(self.like, s) for s in YARDSTICKS])

    def vs_yardsticks(self, actor_params, key: jax.Array, games: int | None = None) -> dict[str, dict]:
        """{yardstick: {"win_rate", "wins", "draws", "losses", "games"}} for one policy."""
        me = population.stack_members([population.network_member(actor_params)])
        out = np.asarray(self.game.play_matrix(key, me, self.yardsticks, games or self.games))[0]
        return {name: dict(win_rate=float(o.mean()), wins=int((o == 1).sum()), draws=int((o == 0.5).sum()),
                           losses=int((o == 0).sum()), games=int(o.size)) for name, o in zip(YARDSTICKS, out)}

    def crossplay(self, actors: list, names: list[str], key: jax.Array, games: int) -> evaluation.PayoffMatrix:
        members = population.stack_members([population.network_member(a) for a in actors])
        return evaluation.payoff_matrix(self.network_game, members, games, key, names=names)


def _write_json(path: Path, obj) -> None:
    """Atomic: write a temporary file, then rename over the target."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def _rewrite_metrics(path: Path, keep_chunks: int) -> list[dict]:
    """Keep the metric lines of the first `keep_chunks` chunks (a resumed run redoes the rest)."""
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a line cut off by a kill
                continue
            if row.get("chunk", 0) <= keep_chunks:
                rows.append(row)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    os.replace(tmp, path)
    return rows


def _append(path: Path, row: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())


def train(config: TrainConfig, out: str | Path, *, resume: bool = False, eval_games: int = 64,
          final_games: int = 1000, crossplay_games: int = 64, devices: int | None = None,
          stop_after: int | None = None, on_chunk: Callable[[dict], None] | None = None, progress: bool = True) -> dict:
    """Run (or resume) a training run into `out`; returns the summary (also in summary.json).

    eval_games: battles against each yardstick after every chunk (0: none); final_games: battles
    of the last policy against each yardstick; crossplay_games: battles per ordered pair of checkpoints;
    stop_after: stop after this many chunks in this call (tests); devices: split the batch over this
    many local devices (default all).
    """
    out = Path(out)
    learner = make_train(config)  # checks the config before anything compiles
    ckpt_dir = out / "checkpoints"
    done = checkpoint.steps(ckpt_dir)
    if done and not resume:
        raise ValueError(f"{out} already holds a run ({len(done)} checkpoints): pass --resume to continue it, "
                         f"or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    mngr = checkpoint.manager(ckpt_dir)
    state = jax.jit(learner.init)(jax.random.PRNGKey(config.seed))
    start = 0
    if done:
        checkpoint.check_compatible(checkpoint.saved_config(ckpt_dir, done[-1]), config)
        state, _ = checkpoint.restore(ckpt_dir, done[-1], state)
        start = done[-1]
    rows = _rewrite_metrics(out / "metrics.jsonl", start)
    _write_json(out / "config.json", config.to_dict())
    devs = jax.devices()[: devices or len(jax.devices())]
    if len(devs) > 1:
        state = shard(state, devs)
    evaluator = Evaluator(learner, max(eval_games, 1))
    elapsed = rows[-1]["wall_s"] if rows else 0.0
    end = config.checkpoints if stop_after is None else min(config.checkpoints, start + stop_after)
    bar = _progress(progress, config, start)
    with bar:
        task = bar.add_task("training", total=config.checkpoints, completed=start, info="compiling ...")
        # Compiled ahead of the clock, so wall_s and env_steps_per_s are training alone and the
        # compile time is a figure of its own (the first row's compile_s).
        t0 = time.perf_counter()
        chunk = learner.chunk.lower(state).compile() if start < end else None
        compile_s = time.perf_counter() - t0
        for c in range(start, end):
            t0 = time.perf_counter()
            state, sums = chunk(state)
            jax.block_until_ready(state.params)
            chunk_s = time.perf_counter() - t0
            elapsed += chunk_s
            row = dict(chunk=c + 1, update=int(state.update), env_steps=int(state.update) * config.steps_per_update,
                       wall_s=round(elapsed, 3), chunk_s=round(chunk_s, 3),
                       env_steps_per_s=round(config.updates_per_chunk * config.steps_per_update / chunk_s, 1),
                       **summarize(sums, config.updates_per_chunk))
            if c == start:
                row["compile_s"] = round(compile_s, 2)
            if eval_games:
                ev = evaluator.vs_yardsticks(state.params["actor"], jax.random.PRNGKey(1_000_000 + c), eval_games)
                row.update({f"eval_vs_{k}": v["win_rate"] for k, v in ev.items()})
            checkpoint.save(mngr, c + 1, state, config, row)
            _append(out / "metrics.jsonl", row)
            if os.environ.get("GIGASTEP_JAX_TEST_PAUSE"):  # lets the kill-and-resume test kill mid-run
                time.sleep(float(os.environ["GIGASTEP_JAX_TEST_PAUSE"]))
            rows.append(row)
            if on_chunk is not None:
                on_chunk(row)
            bar.update(task, completed=c + 1, info=_progress_info(row))
    summary = dict(run=str(out), chunks=end, config=config.to_dict(), last=rows[-1] if rows else None)
    if end < config.checkpoints:
        return summary
    summary.update(finish(out, learner, evaluator, final_games, crossplay_games))
    _write_json(out / "summary.json", summary)
    return summary


def finish(out: Path, learner: Learner, evaluator: Evaluator, final_games: int, crossplay_games: int) -> dict:
    """The last policy against the yardsticks, and the cross-play of every checkpoint with figures."""
    ckpt_dir = out / "checkpoints"
    steps = checkpoint.steps(ckpt_dir)
    like = jax.jit(learner.init)(jax.random.PRNGKey(0))
    actors = [checkpoint.restore(ckpt_dir, s, like)[0].params["actor"] for s in steps]
    result = {}
    if final_games:
        final = evaluator.vs_yardsticks(actors[-1], jax.random.PRNGKey(7), final_games)
        _write_json(out / "final_eval.json", final)
        result["final_eval"] = final
    if crossplay_games and len(actors) > 1:
        names = [f"ckpt{s}" for s in steps]
        matrix = evaluator.crossplay(actors, names, jax.random.PRNGKey(11), crossplay_games)
        report = evaluation.evaluation_report(matrix)
        cdir = out / "crossplay"
        evaluation.save_report(matrix, report, cdir)
        figures = dict(
            heatmap=plots.plot_payoff_heatmap(matrix, cdir / "payoff_heatmap.png"),
            winrate_vs_earlier=plots.plot_winrate_vs_earlier(matrix, cdir / "winrate_vs_earlier.png"),
            ratings=plots.plot_ratings(names, report["bradley_terry"], report["bradley_terry_interval"],
                                       cdir / "ratings.png", label="Bradley-Terry score (anchor ckpt1)"),
            nash=plots.plot_nash_mixture(names, report["nash_strategy"], cdir / "nash_mixture.png"),
        )
        rate = matrix.pooled_win_rate()
        result["crossplay"] = dict(latest_vs_first=float(rate[-1, 0]), vs_first=[float(r) for r in rate[:, 0]],
                                   figures=figures)
    return result


def _progress_info(row: dict) -> str:
    parts = [f"{row['env_steps_per_s'] * 1:,.0f} env-steps/s"]
    for k, label in (("win_rate_vs_pool", "pool"), ("eval_vs_random", "random"), ("eval_vs_chaser", "chaser")):
        if k in row:
            parts.append(f"{label} {row[k]:.2f}")
    return "  ".join(parts)


def _progress(enabled: bool, config: TrainConfig, start: int):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("{task.fields[info]}"), disable=not enabled, transient=False)


def run_population(run_dir: str | Path, yardsticks: tuple[str, ...] = ("random", "chaser")):
    """A run folder's checkpoints (and yardsticks) as one population: (env, game, members, names)."""
    ckpt_dir = Path(run_dir) / "checkpoints"
    steps = checkpoint.steps(ckpt_dir)
    if not steps:
        raise checkpoint.CheckpointError(f"{run_dir} holds no checkpoints (expected {ckpt_dir}/<step>/ from "
                                         f"gigastep-jax train)")
    config = checkpoint.saved_config(ckpt_dir, steps[-1])
    learner = make_train(config)
    like = jax.jit(learner.init)(jax.random.PRNGKey(0))
    actors = [checkpoint.restore(ckpt_dir, s, like)[0].params["actor"] for s in steps]
    members = [population.network_member(a) for a in actors]
    members += [population.scripted_member(like.params["actor"], y) for y in yardsticks]
    apply = population.make_apply(learner.actor, learner.layout, learner.env.discrete, memory_size=learner.memory_size)
    names = [f"ckpt{s}" for s in steps] + list(yardsticks)
    return learner.env, game.BattleGame(learner.env, apply), population.stack_members(members), names
