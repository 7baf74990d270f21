"""A training run on disk: compiled chunks, checkpoints, metrics, evaluation and figures.

    gigastep-jax train --scenario NAME --steps N --out runs/NAME [--resume]

writes into the run folder:
    checkpoints/<c>/     orbax checkpoint after chunk c (the whole TrainState, config, metrics)
    metrics.jsonl        one JSON object per chunk (steps, wall-clock, scores, losses)
    config.json          the run's configuration
    crossplay/           matrix.json/.csv, report.json and the figures of the checkpoints' cross-play
    final_eval.json      the last policy against every scripted policy: wins, draws, losses
    summary.json         all of it, with final_vs_first: the last checkpoint against the first
    final_vs_chaser.gif, final_vs_first.gif   the last policy (team A) against chaser and the first checkpoint
    tensorboard/, wandb/ with --tensorboard / --wandb: the metrics rows again, for those tools (`algorithms.loggers`)
Python only orchestrates between compiled chunks; every chunk is one `jit` call. Files are written
by `algorithms.run_folder` (atomically).

Several processes (`algorithms.marl.distributed`, docs/distributed.md): every process calls `train`
with the same arguments after `distributed.initialize`; the batch is split over the devices of
every process, each process writes its shards of the checkpoints, process 0 alone writes the rest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import time
from pathlib import Path
from typing import Callable

import jax
import numpy as np

import gigastep_jax as gj
from algorithms import evaluation, loggers, run_folder, validate
from algorithms.evaluation import game
from algorithms.marl import checkpoint, distributed, population
from algorithms.marl.config import TrainConfig
from algorithms.marl.learner import Learner, TrainState, make_learner, shard, sharded_chunk, summarize


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How a run is evaluated (none of it changes what is learnt)."""

    eval_games: int = 64  # battles against each scripted policy after every checkpoint (0: none)
    final_games: int = 1000  # battles of the final policy against each scripted policy (> 0: and two GIFs)
    crossplay_games: int = 32  # battles per ordered pair of checkpoints in the final cross-play

    def __post_init__(self):
        for name in ("eval_games", "final_games", "crossplay_games"):
            validate.integer(name, getattr(self, name), 0)


def tally(outcomes: np.ndarray) -> dict:
    """Battle outcomes (1 win, ½ draw or time-out, 0 loss) [..., games] -> wins, draws and losses
    apart, games, "win_rate" (the score: a draw counts ½), and the score as team A and as team B
    (BattleGame puts the policy on team A in even games): in an asymmetric scenario the two differ."""
    o = np.asarray(outcomes)
    return dict(win_rate=float(o.mean()), wins=int((o == 1).sum()), draws=int((o == 0.5).sum()),
                losses=int((o == 0).sum()), games=int(o.size), score_as_a=float(o[..., 0::2].mean()),
                score_as_b=float(o[..., 1::2].mean()) if o.shape[-1] > 1 else None)


class Evaluator:
    """Battles of actor params against the scripted policies and against each other (compiled once)."""

    def __init__(self, learner: Learner, games: int, max_steps: int | None = None):
        self.learner = learner
        self.games = games
        self.game = game.BattleGame(learner.env, population.make_apply(learner.ac), max_steps=max_steps)
        # checkpoints only: the scripted branch, otherwise computed for every member, is left out
        self.network_game = game.BattleGame(learner.env, population.make_apply(learner.ac, scripted=False),
                                            max_steps=max_steps)
        self.like = learner.ac.init(jax.random.PRNGKey(0))["actor"]
        self.scripted = population.stack_members([population.scripted_member(self.like, s)
                                                  for s in gj.policies.SCRIPTED])

    def vs_scripted(self, actor_params, key: jax.Array, games: int | None = None) -> dict[str, dict]:
        """{scripted policy: {"wins", "draws", "losses", "games", "win_rate"}} for one policy;
        "win_rate" is a score: a draw counts ½."""
        me = population.stack_members([population.network_member(actor_params)])
        out = np.asarray(self.game.play_matrix(key, me, self.scripted, games or self.games))[0]
        return {name: tally(o) for name, o in zip(gj.policies.SCRIPTED, out)}

    def versus(self, actor_params, opponent_params, key: jax.Array, games: int) -> dict:
        """One policy against another over `games` battles (half on each side): wins, draws and
        losses of the first, and its score (a draw counts ½)."""
        me, them = (population.stack_members([population.network_member(a)]) for a in (actor_params, opponent_params))
        return tally(np.asarray(self.network_game.play_matrix(key, me, them, games))[0, 0])

    def crossplay(self, actors: list, names: list[str], key: jax.Array, games: int) -> evaluation.PayoffMatrix:
        members = population.stack_members([population.network_member(a) for a in actors])
        return evaluation.payoff_matrix(self.network_game, members, games, key, names=names)


def _open(learner: Learner, out: Path, resume: bool,
          start: Callable[[TrainState], TrainState] | None = None) -> tuple[TrainState, int, list[dict]]:
    """The state to start from (fresh, edited by `start`, or the latest checkpoint's), the chunks done and their
    metric rows. The rows are rebuilt from the checkpoints, which store each chunk's row, so a kill
    between a checkpoint and its row, or a lost metrics.jsonl, loses nothing."""
    config, ckpt_dir = learner.config, out / "checkpoints"
    done = checkpoint.steps(ckpt_dir)
    if done and not resume:
        raise ValueError(f"{out} already holds a run ({len(done)} checkpoints): pass --resume to continue it, "
                         f"or choose another --out")
    # every process starts from the same chunk (a folder that looks different from one process
    # would otherwise deadlock the run's collectives)
    distributed.agree("the checkpoints in the run folder", ",".join(map(str, done)))
    state = learner.init(jax.random.PRNGKey(config.seed))
    if start is not None:  # also before a restore: the checkpoint's tree must match the edited state's
        state = start(state)
    first, rows = 0, []
    if done:
        checkpoint.check_compatible(checkpoint.saved_config(ckpt_dir, done[-1]), config)
        state, _ = checkpoint.restore(ckpt_dir, done[-1], state)
        first, rows = done[-1], [checkpoint.saved_metrics(ckpt_dir, step) for step in done]
    if distributed.is_main():
        run_folder.write_rows(out / "metrics.jsonl", rows)
        run_folder.write_json(out / "config.json", config.to_dict())
    return state, first, rows


def _row(config: TrainConfig, update, sums: dict, chunk: int, chunk_s: float, elapsed: float) -> dict:
    """The metrics row of a finished chunk (`update`: the state's counter)."""
    return dict(chunk=chunk, update=int(update), env_steps=int(update) * config.steps_per_update,
                wall_s=round(elapsed, 3), chunk_s=round(chunk_s, 3),
                env_steps_per_s=round(config.updates_per_chunk * config.steps_per_update / chunk_s, 1),
                **summarize(sums, config.updates_per_chunk))


def train(config: TrainConfig, out: str | Path, *, resume: bool = False, eval_games: int = RunOptions.eval_games,
          final_games: int = RunOptions.final_games, crossplay_games: int = RunOptions.crossplay_games,
          devices: int | None = None, stop_after: int | None = None,
          on_chunk: Callable[[dict], None] | None = None, progress: bool = True,
          tensorboard: bool = False, wandb: bool = False,
          start: Callable[[TrainState], TrainState] | None = None) -> dict:
    """Run (or resume) a training run into `out`; returns the summary (also in summary.json).

    eval_games, final_games, crossplay_games: as in `RunOptions`; stop_after: stop after this many
    chunks in this call; on_chunk(row): called after each chunk's checkpoint and metrics are
    written; devices: split the batch over this many local devices (default all); tensorboard,
    wandb: log the rows there too (`algorithms.loggers`); start(state) -> state: edits a fresh run's
    first state (an exploiter's frozen pool and starting parameters, `algorithms.marl.exploiter`).
    The config is checked before the folder is touched; a second process writing the same folder
    is refused.

    Several processes: call `distributed.initialize(...)` in each, then `train` with the same
    arguments in each (`devices` left out: the batch is split over the devices of every process).
    Each process writes its shards of the checkpoints into `out`, which every process must see
    (a shared filesystem); process 0 alone writes metrics.jsonl, the loggers, the progress bar,
    the final evaluation, figures and summary.json, and every process returns the summary. A
    process that fails or goes silent ends the others (`distributed`); `resume=True` in every
    process continues from the last checkpoint.
    """
    learner = make_learner(config)  # checks the config before anything compiles or is written
    RunOptions(eval_games, final_games, crossplay_games)  # checks them
    log_options = loggers.LogOptions(tensorboard, wandb)
    loggers.check_available(log_options)
    if distributed.multi_process() and devices not in (None, len(jax.devices())):
        raise ValueError(f"devices={devices}: a multi-process run uses the devices of every process "
                         f"({len(jax.devices())}); leave devices out")
    # one writer holds the folder: process 0 (the others write only their checkpoint shards)
    folder = run_folder.exclusive(out) if distributed.is_main() else contextlib.nullcontext(Path(out))
    main = distributed.is_main()
    with distributed.reporting_failures(), folder as out:
        distributed.check_shared_folder(out)
        return _train(learner, out, resume, eval_games, final_games, crossplay_games, devices, stop_after, on_chunk,
                      progress and main, log_options if main else loggers.LogOptions(), start)


def _train(learner: Learner, out: Path, resume: bool, eval_games: int, final_games: int, crossplay_games: int,
           devices: int | None, stop_after: int | None, on_chunk: Callable[[dict], None] | None,
           progress: bool, log_options: loggers.LogOptions,
           first_state: Callable[[TrainState], TrainState] | None) -> dict:
    config = learner.config
    state, start, rows = _open(learner, out, resume, first_state)
    with loggers.RunLoggers(out, log_options, step_key="env_steps", config=config.to_dict(),
                            earlier_rows=rows) as log:
        return _chunks(learner, out, state, start, rows, eval_games, final_games, crossplay_games, devices,
                       stop_after, on_chunk, progress, log)


def _chunks(learner: Learner, out: Path, state: TrainState, start: int, rows: list[dict], eval_games: int,
            final_games: int, crossplay_games: int, devices: int | None, stop_after: int | None,
            on_chunk: Callable[[dict], None] | None, progress: bool, log: loggers.RunLoggers) -> dict:
    config = learner.config
    if progress:
        _console().print(f"training {config.scenario}: {config.num_updates} updates x {config.steps_per_update} "
                         f"env-steps = {config.num_updates * config.steps_per_update:,} env-steps, "
                         f"{config.checkpoints} checkpoints -> {out}")
    devs = jax.devices()[: devices or len(jax.devices())]
    step = learner.chunk
    if len(devs) > 1:
        state = shard(state, devs)
        step = sharded_chunk(learner, state)
    # built when first needed: its network init costs seconds, wasted on a run that evaluates nothing
    evaluator = functools.cache(lambda: Evaluator(learner, max(eval_games, 1)))
    mngr = checkpoint.manager(out / "checkpoints")
    elapsed = rows[-1]["wall_s"] if rows else 0.0
    end = config.checkpoints if stop_after is None else min(config.checkpoints, start + stop_after)
    with _progress(progress) as bar:
        task = bar.add_task("training", total=config.checkpoints, completed=start, info="compiling ...")
        for c in range(start, end):
            # JAX reports its own tracing and compile time, so wall_s and env_steps_per_s are
            # training alone and a chunk that compiled says how long that took (compile_s).
            with _compile_seconds() as compile_s:
                t0 = time.perf_counter()
                state, sums = step(state)
                jax.block_until_ready(state.params)
                chunk_s = time.perf_counter() - t0 - compile_s[0]
            elapsed += chunk_s
            # every process computes the row and the evaluation (process-local, no collectives: the
            # same numbers everywhere); process 0's is written
            row = _row(config, distributed.local_copy(state.update), distributed.local_copy(sums), c + 1, chunk_s,
                       elapsed)
            if compile_s[0]:
                row["compile_s"] = round(compile_s[0], 2)
            if eval_games:
                actor = distributed.local_copy(state.params["actor"])
                ev = evaluator().vs_scripted(actor, jax.random.PRNGKey(1_000_000 + c), eval_games)
                for name, v in ev.items():  # eval_vs_*: the score; then wins, draws and losses apart
                    row.update({f"eval_vs_{name}": v["win_rate"], f"eval_wins_vs_{name}": v["wins"],
                                f"eval_draws_vs_{name}": v["draws"], f"eval_losses_vs_{name}": v["losses"]})
            checkpoint.save(mngr, c + 1, state, config, row)
            if distributed.is_main():
                run_folder.append_row(out / "metrics.jsonl", row)
                log.log(row)
            rows.append(row)
            if on_chunk is not None:
                on_chunk(row)
            bar.update(task, completed=c + 1, info=_progress_info(row))
    summary = dict(run=str(out), chunks=end, config=config.to_dict(), last=rows[-1] if rows else None)
    if end < config.checkpoints:
        return summary
    if not distributed.is_main():  # process 0 evaluates the final policy and writes the figures alone
        distributed.barrier("final evaluation")
        return json.loads((out / "summary.json").read_text())
    if final_games or crossplay_games:
        summary.update(finish(out, learner, evaluator(), final_games, crossplay_games))
    run_folder.write_json(out / "summary.json", summary)
    final = {f"{label}_vs_{name}": v[k] for name, v in summary.get("final_eval", {}).items()
             for k, label in (("wins", "wins"), ("draws", "draws"), ("losses", "losses"), ("win_rate", "score"))}
    if "crossplay" in summary:
        final["latest_vs_first"] = summary["crossplay"]["latest_vs_first"]
    if "final_vs_first" in summary:
        final.update({f"{k}_vs_first" if k != "win_rate" else "score_vs_first": v
                      for k, v in summary["final_vs_first"].items() if k != "games"})
    log.summary(final, step=rows[-1]["env_steps"])
    distributed.barrier("final evaluation")
    return summary


def finish(out: Path, learner: Learner, evaluator: Evaluator, final_games: int, crossplay_games: int) -> dict:
    """The last policy against the scripted policies, and the cross-play of every checkpoint with figures."""
    ckpt_dir = out / "checkpoints"
    steps = checkpoint.steps(ckpt_dir)
    like = learner.init(jax.random.PRNGKey(0))
    actors = [checkpoint.restore(ckpt_dir, s, like)[0].params["actor"] for s in steps]
    result = {}
    if final_games:
        final = evaluator.vs_scripted(actors[-1], jax.random.PRNGKey(7), final_games)
        run_folder.write_json(out / "final_eval.json", final)
        result.update(final_eval=final, gifs=_battle_gifs(out, learner, actors[0], actors[-1]))
    if crossplay_games and len(actors) > 1:
        names = [f"ckpt{s}" for s in steps]
        matrix = evaluator.crossplay(actors, names, jax.random.PRNGKey(11), crossplay_games)
        report = evaluation.evaluation_report(matrix)
        evaluation.save_report(matrix, report, out / "crossplay")
        figures = evaluation.write_figures(matrix, report, out / "crossplay")
        rate = matrix.pooled_win_rate()
        result["crossplay"] = dict(latest_vs_first=float(rate[-1, 0]), vs_first=[float(r) for r in rate[:, 0]],
                                   figures=figures)
    if final_games and len(actors) > 1:  # progress in absolute terms, wins and draws apart
        result["final_vs_first"] = evaluator.versus(actors[-1], actors[0], jax.random.PRNGKey(8), final_games)
    return result


def _battle_gifs(out: Path, learner: Learner, first, last, max_steps: int = 300) -> dict[str, str]:
    """Watchable battles of the final policy (team A) against chaser and against the first
    checkpoint (team B), sampled actions, written beside the figures. None for a recurrent policy,
    whose memory the scripted-policy signature of `render.play` cannot carry."""
    if learner.ac.memory_size:
        return {}
    env, apply = learner.env, population.make_apply(learner.ac, scripted=False)
    as_policy = lambda actor: lambda key, e, state: apply(dict(actor=actor), key, e, state)  # noqa: E731
    gifs = {}
    for name, opponent in (("final_vs_chaser", gj.policies.chaser), ("final_vs_first", as_policy(first))):
        policy = gj.policies.by_team(as_policy(last), opponent)
        states, _ = gj.render.play(env, jax.random.PRNGKey(13), policy, max_steps)
        gifs[name] = gj.render.save_gif(gj.render.render_states(env, states, scale=2), out / f"{name}.gif")
    return gifs


@contextlib.contextmanager
def _compile_seconds():
    """[seconds] JAX spent tracing, lowering and compiling inside the block (its own events)."""
    total = [0.0]

    def listen(event: str, seconds: float, **_):
        if event.startswith("/jax/core/compile/"):
            total[0] += seconds

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        yield total
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)


def _progress_info(row: dict) -> str:
    parts = [f"{row['env_steps_per_s'] * 1:,.0f} env-steps/s"]
    for k, label in (("score_vs_pool", "pool"), ("eval_vs_random", "random"), ("eval_vs_chaser", "chaser")):
        if k in row:
            parts.append(f"{label} {row[k]:.2f}")
    return "  ".join(parts)


def _console():
    from rich.console import Console

    return Console(stderr=True)


def _progress(enabled: bool):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("{task.fields[info]}"), disable=not enabled, transient=False)


def run_population(run_dir: str | Path, scripted: tuple[str, ...] = ("random", "chaser")):
    """A run folder's checkpoints (and scripted policies) as one population: (env, game, members, names)."""
    ckpt_dir = Path(run_dir) / "checkpoints"
    steps = checkpoint.steps(ckpt_dir)
    if not steps:
        raise checkpoint.CheckpointError(f"{run_dir} holds no checkpoints (expected {ckpt_dir}/<step>/ from "
                                         f"gigastep-jax train)")
    config = checkpoint.saved_config(ckpt_dir, steps[-1])
    learner = make_learner(config)
    like = learner.init(jax.random.PRNGKey(0))
    actors = [checkpoint.restore(ckpt_dir, s, like)[0].params["actor"] for s in steps]
    members = [population.network_member(a) for a in actors]
    members += [population.scripted_member(like.params["actor"], name) for name in scripted]
    apply = population.make_apply(learner.ac)
    names = [f"ckpt{s}" for s in steps] + list(scripted)
    return learner.env, game.BattleGame(learner.env, apply), population.stack_members(members), names
