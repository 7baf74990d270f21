"""`gigastep-jax train`, `eval` and `render`: battles from the shell.

The train flags are generated from `TrainConfig`, `runner.RunOptions` and `loggers.LogOptions` (`flags.py`), so every
field of the learner is reachable and has one default, the dataclass's.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from algorithms import loggers, run_folder, validate
from algorithms.cli import flags
from gigastep_jax.policies import SCRIPTED

SCENARIO_HELP = "a name from gigastep_jax.list_scenarios()"
DEFAULT_SCENARIO = "identical_5_vs_5_fobs_vec_void_disc"


def _render(args: argparse.Namespace) -> int:
    import jax
    import numpy as np

    import gigastep_jax as gj

    for flag in ("scale", "fps"):
        validate.integer(f"--{flag}", getattr(args, flag), 1)
    if args.max_steps is not None:
        validate.integer("--max-steps", args.max_steps, 1)
    if Path(args.out).is_dir():
        raise ValueError(f"--out {args.out} is a folder; give the GIF's file name")
    run_folder.prepare(Path(args.out).parent)  # checked before the battle is played
    env = gj.make(args.scenario)  # unknown names raise ValueError with close matches
    policy = gj.policies.by_team(_policy(args.team_a), _policy(args.team_b))
    states, final = gj.render.play(env, jax.random.PRNGKey(args.seed), policy, args.max_steps)
    frames = gj.render.render_states(env, states, scale=args.scale)
    path = gj.render.save_gif(frames, args.out, fps=args.fps)
    alive = np.asarray(env.team_alive(jax.tree_util.tree_map(lambda a: a[-1], states)))
    winner = {0: "team A", 1: "team B", -1: "nobody (draw or time-out)"}[int(final["winner"])]
    outcome = dict(
        scenario=args.scenario,
        team_a=args.team_a,
        team_b=args.team_b,
        seed=args.seed,
        steps=final["length"],
        terminated=bool(final["terminated"]),
        truncated=bool(final["truncated"]),
        winner=int(final["winner"]),
        alive_a=int(alive[0]),
        alive_b=int(alive[1]),
        gif=str(path),
    )
    run_folder.write_json(Path(args.out).with_suffix(".json"), outcome)
    print(json.dumps(outcome))
    print(f"{args.team_a} (A) vs {args.team_b} (B): winner {winner} after {final['length']} steps; GIF at {path}",
          file=sys.stderr)
    return 0


def _policy(spec: str):
    """A scripted policy by name, or a trained one: RUN_DIR (its last checkpoint) or RUN_DIR@STEP."""
    import gigastep_jax as gj

    if spec in SCRIPTED:
        return gj.policies.get(spec)
    from algorithms.marl.policy import load_policy, parse_run_spec

    if not parse_run_spec(spec)[0].is_dir():
        raise ValueError(f"unknown team {spec!r}: neither a scripted policy ({', '.join(SCRIPTED)}) nor a run "
                         f"folder (RUN_DIR or RUN_DIR@STEP)")
    return load_policy(spec)


EVAL_SPEC_HELP = (
    f"a comma-separated list of scripted policies KIND[:eps=E][:gain=G], KIND one of {', '.join(SCRIPTED)}, "
    "and trained ones, RUN_DIR (its last checkpoint) or RUN_DIR@STEP (e.g. random,chaser:eps=0.5,runs/demo@3)"
)


def _eval_population(policies: str, scenario: str):
    """POLICIES argument -> (env, game, stacked params, names).

    A run directory alone (from `gigastep-jax train`) gives its checkpoints plus random and chaser,
    on the run's own scenario. Otherwise a comma-separated list of scripted specs and trained
    policies (RUN_DIR for its last checkpoint, RUN_DIR@STEP), on the trained policies' scenario if
    there are any, else on `scenario`.
    """
    import gigastep_jax as gj
    from algorithms.evaluation import game, scripted

    if Path(policies).is_dir():
        from algorithms.marl import runner

        return runner.run_population(policies)
    items = [item.strip() for item in policies.split(",")]
    trained = [item for item in items if item and ("/" in item or "@" in item or Path(item).is_dir())]
    if trained:
        return _mixed_population(items, trained)
    env = gj.make(scenario)  # unknown names raise ValueError with close matches
    try:
        population, names = scripted.scripted_population(items)
    except ValueError as e:
        raise ValueError(f"{e}; a trained policy is a run folder, RUN_DIR or RUN_DIR@STEP") from None
    return env, game.BattleGame(env, scripted.scripted_apply), population, names


def _mixed_population(items: list[str], trained: list[str]):
    """Trained checkpoints and scripted specs as one population (the networks must share a shape)."""
    from algorithms.evaluation import game
    from algorithms.marl import population
    from algorithms.marl.policy import load_actor, parse_run_spec

    for item in trained:
        if not parse_run_spec(item)[0].is_dir():
            raise ValueError(f"no such run folder {item!r}; POLICIES is a folder written by gigastep-jax train, "
                             f"or a comma-separated list of RUN_DIR, RUN_DIR@STEP and scripted policies "
                             f"KIND[:eps=E][:gain=G], KIND one of {', '.join(SCRIPTED)}")
    loaded = {item: load_actor(item) for item in trained}
    learner = loaded[trained[0]][0]
    for item, (other, _, _) in loaded.items():
        if other.config.replace(total_steps=0, seed=0) != learner.config.replace(total_steps=0, seed=0):
            raise ValueError(f"{item} was trained with another scenario or network than {trained[0]}: one "
                             f"cross-play needs policies of one shape ({other.env.name} vs {learner.env.name})")
    like = loaded[trained[0]][1]
    members, names = [], []
    for item in items:
        if item in loaded:
            _, actor, step = loaded[item]
            members.append(population.network_member(actor))
            names.append(f"{parse_run_spec(item)[0].name}@{step}")
        else:
            members.append(population.scripted_member(like, item))
            names.append(item)
    apply = population.make_apply(learner.ac)
    return learner.env, game.BattleGame(learner.env, apply), population.stack_members(members), names


def _eval(args: argparse.Namespace) -> int:
    validate.integer("--games", args.games, 1)
    if args.max_steps is not None:
        validate.integer("--max-steps", args.max_steps, 1)
    population = _eval_population(args.policies, args.scenario)
    with run_folder.exclusive(args.out):  # checked before any battle is played
        return _evaluate(args, *population)


def _evaluate(args: argparse.Namespace, env, game, population, names: list[str]) -> int:

    import jax
    from rich.console import Console
    from rich.table import Table

    from algorithms import evaluation
    from algorithms.evaluation.game import BattleGame

    args.scenario = env.name
    out = Path(args.out)
    console = Console(stderr=True)
    if args.max_steps is not None:
        game = BattleGame(env, game.apply_fn, max_steps=args.max_steps)
    p = len(names)
    with console.status(f"compiling and playing {p}x{p} pairs x {args.games} battles of {args.scenario} ..."):
        matrix = evaluation.payoff_matrix(game, population, args.games, jax.random.PRNGKey(args.seed), names=names)
    with console.status("ratings, Nash equilibrium and figures ..."):
        report = evaluation.evaluation_report(matrix)
        report.update(scenario=args.scenario, games_per_pair=args.games, seed=args.seed)
        paths = evaluation.save_report(matrix, report, out)
        figures = evaluation.write_figures(matrix, report, out)

    table = Table(title=f"{args.scenario}: {p} policies, {args.games} battles per ordered pair (seed {args.seed})")
    for column in ("policy", "Elo", "Bradley-Terry [95 %]", "Nash weight", "exploitability", "mean score"):
        table.add_column(column, justify="left" if column == "policy" else "right", no_wrap=True)
    for i, name in enumerate(names):
        lo, hi = (bound if v is None else f"{v:.0f}"
                  for v, bound in zip(report["bradley_terry_interval"][i], ("-inf", "inf")))
        table.add_row(
            name,
            f"{report['elo'][i]:.0f}",
            f"{report['bradley_terry'][i]:.0f} [{lo}, {hi}]",
            f"{report['nash_strategy'][i]:.3f}",
            f"{report['exploitability'][i]:.3f}",
            f"{report['mean_win_rate'][i]:.3f}",
        )
    stdout = Console()
    if not stdout.is_terminal:  # piped or captured: no 80-column wrapping of the table
        stdout = Console(width=160)
    stdout.print(table)
    files = [str(v) for v in paths.values()] + list(figures.values())
    console.print(f"Nash value {report['nash_value']:.3f}; wrote {', '.join(files)}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from rich.console import Console

    from algorithms.marl import distributed, runner
    from algorithms.marl.config import TrainConfig

    processes = flags.build(args, distributed.DistributedOptions)
    config = flags.build(args, TrainConfig)
    options = flags.build(args, runner.RunOptions)
    log_options = flags.build(args, loggers.LogOptions)
    if processes.enabled:  # before anything else uses JAX
        processes.initialize()
    console = Console(stderr=True)
    summary = runner.train(config, args.out, resume=args.resume, **vars(options), **vars(log_options))
    if not distributed.is_main():  # process 0 reports the run
        return 0
    final = summary.get("final_eval", {})
    if final:
        console.print("final policy (wins/draws/losses): " + ", ".join(
            f"vs {k} {v['wins']}/{v['draws']}/{v['losses']}" for k, v in final.items()))
    first = summary.get("final_vs_first")
    if first:
        console.print(f"final policy vs the first checkpoint over {first['games']} battles: "
                      f"{first['wins']}/{first['draws']}/{first['losses']} (wins/draws/losses)")
    cross = summary.get("crossplay")
    if cross:
        console.print(f"latest checkpoint vs first: score {cross['latest_vs_first']:.3f} (draws count 1/2); figures: "
                      + ", ".join(cross["figures"].values()))
    print(json.dumps(dict(run=summary["run"], final_eval={k: v["win_rate"] for k, v in final.items()},
                          latest_vs_first=cross["latest_vs_first"] if cross else None)))
    return 0


def _exploit(args: argparse.Namespace) -> int:
    from rich.console import Console

    from algorithms.marl.exploiter import train_exploiter

    result = train_exploiter(args.run, args.out, budget=args.budget, target=args.target, init=args.init,
                             slots=args.slots, games=args.games, resume=args.resume)
    f = result["final"]
    Console(stderr=True).print(
        f"exploiter ({result['budget_env_steps']:,} env-steps, {result['budget']:.0%} of the run) against the "
        f"{args.target} policy: {f['wins']}/{f['draws']}/{f['losses']} (wins/draws/losses), score {f['score']:.3f}; "
        f"figure {result['figure']}")
    print(json.dumps(dict(run=result["run"], target=args.target, score=f["score"], wins=f["wins"],
                          draws=f["draws"], losses=f["losses"])))
    return 0


def add_parsers(sub) -> None:
    """Register render, train and eval on the `gigastep-jax` sub-command parsers."""
    from algorithms.marl import distributed, runner
    from algorithms.marl.config import TrainConfig

    render = sub.add_parser("render", help="play one battle of scripted or trained teams and write a GIF")
    render.add_argument("scenario", help=SCENARIO_HELP)
    render.add_argument("--out", default="battle.gif", help="GIF path (the outcome goes beside it as .json)")
    team_help = f"{', '.join(SCRIPTED)}, or a trained policy: RUN_DIR (its last checkpoint) or RUN_DIR@STEP"
    render.add_argument("--team-a", default="chaser", help=team_help)
    render.add_argument("--team-b", default="random", help=team_help)
    render.add_argument("--seed", type=int, default=0)
    render.add_argument("--max-steps", type=int, default=None, help="cap on steps (default: the scenario's limit)")
    render.add_argument("--scale", type=int, default=3, help="pixels per observation pixel")
    render.add_argument("--fps", type=int, default=20)
    render.set_defaults(func=_render)

    tr = sub.add_parser("train", help="self-play MAPPO/IPPO: checkpoints, metrics, cross-play figures")
    tr.add_argument("--out", default="runs/identical_5_vs_5", help="run folder (checkpoints, metrics, figures)")
    tr.add_argument("--resume", action="store_true", help="continue the run in --out from its latest checkpoint")
    flags.add_flags(tr, TrainConfig, aliases=dict(total_steps=("--steps",), learning_rate=("--lr",)),
                    group="learner (TrainConfig)")
    flags.add_flags(tr, runner.RunOptions, group="evaluation during the run (RunOptions)")
    flags.add_flags(tr, loggers.LogOptions, group="experiment loggers beside metrics.jsonl (LogOptions)")
    flags.add_flags(tr, distributed.DistributedOptions,
                    group="several processes, one run (jax.distributed; docs/distributed.md). Start every process "
                          "with the same flags but --process-id; --distributed alone under SLURM (srun) or Open MPI")
    tr.set_defaults(func=_train)

    ev = sub.add_parser("eval", help="cross-play payoff matrix, ratings and Nash equilibrium of a set of policies")
    ev.add_argument("policies", metavar="POLICIES",
                    help=EVAL_SPEC_HELP + "; or a RUN_DIR alone (all its checkpoints, random and chaser)")
    ev.add_argument("--scenario", default=DEFAULT_SCENARIO, help=SCENARIO_HELP)
    ev.add_argument("--games", type=int, default=64, help="battles per ordered pair (half with each policy as team A)")
    ev.add_argument("--out", default="out/eval", help="folder for matrix.json/.csv, report.json and the figures")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--max-steps", type=int, default=None, help="cap on steps (default: the scenario's limit)")
    ev.set_defaults(func=_eval)

    ex = sub.add_parser("exploit", help="train a fixed-budget best response to a run's final policy or Nash mixture")
    ex.add_argument("run", metavar="RUN_DIR", help="a folder written by gigastep-jax train")
    ex.add_argument("--target", default="final", help="final: the last checkpoint; nash: the Nash mixture of the "
                                                      "run's cross-play")
    ex.add_argument("--init", default="final", help="final: start from the run's final parameters; scratch: fresh")
    ex.add_argument("--budget", type=float, default=0.1, help="the exploiter's updates as a fraction of the run's")
    ex.add_argument("--slots", type=int, default=16, help="pool slots the target mixture is spread over")
    ex.add_argument("--games", type=int, default=1000, help="battles of the trained exploiter against each target")
    ex.add_argument("--out", default=None, help="the exploiter's folder (default RUN_DIR/exploiter-TARGET)")
    ex.add_argument("--resume", action="store_true", help="continue a killed exploiter from its last checkpoint")
    ex.set_defaults(func=_exploit)
