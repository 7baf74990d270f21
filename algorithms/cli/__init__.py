"""`gigastep-jax` command line: train, eval, render (and prefgame)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _render(args: argparse.Namespace) -> int:
    import jax
    import numpy as np

    import gigastep_jax as gj

    env = gj.make(args.scenario)  # unknown names raise ValueError with close matches
    policy = gj.policies.by_team(gj.policies.get(args.team_a), gj.policies.get(args.team_b))
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
    Path(args.out).with_suffix(".json").write_text(json.dumps(outcome, indent=1))
    print(json.dumps(outcome))
    print(f"{args.team_a} (A) vs {args.team_b} (B): winner {winner} after {final['length']} steps; GIF at {path}",
          file=sys.stderr)
    return 0


EVAL_SPEC_HELP = (
    "a comma-separated list of scripted policies KIND[:eps=E][:gain=G], KIND one of random, chaser, circler "
    "(e.g. random,circler,chaser,chaser:eps=0.5)"
)


def _eval_population(policies: str, scenario: str):
    """POLICIES argument -> (env, game, stacked params, names).

    A run directory (from `gigastep-jax train`) gives its checkpoints plus the yardsticks random and
    chaser, on the run's own scenario; otherwise a list of scripted specs on `scenario`.
    """
    import gigastep_jax as gj
    from algorithms.evaluation import game, scripted

    if Path(policies).is_dir():
        from algorithms.marl import runner

        return runner.run_population(policies)
    env = gj.make(scenario)  # unknown names raise ValueError with close matches
    population, names = scripted.scripted_population([s for s in policies.split(",")])
    return env, game.BattleGame(env, scripted.scripted_apply), population, names


def _eval(args: argparse.Namespace) -> int:
    if args.games < 1:
        raise ValueError(f"--games must be >= 1, got {args.games}")
    env, game, population, names = _eval_population(args.policies, args.scenario)

    import jax
    from rich.console import Console
    from rich.table import Table

    from algorithms import evaluation
    from algorithms.evaluation import plots
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
        figures = dict(
            heatmap=plots.plot_payoff_heatmap(matrix, out / "payoff_heatmap.png"),
            winrate_vs_earlier=plots.plot_winrate_vs_earlier(matrix, out / "winrate_vs_earlier.png"),
            ratings=plots.plot_ratings(names, report["bradley_terry"], report["bradley_terry_interval"],
                                       out / "ratings.png", label=f"Bradley-Terry score (anchor {names[0]})"),
            nash=plots.plot_nash_mixture(names, report["nash_strategy"], out / "nash_mixture.png"),
        )

    table = Table(title=f"{args.scenario}: {p} policies, {args.games} battles per ordered pair (seed {args.seed})")
    for column in ("policy", "Elo", "Bradley-Terry [95 %]", "Nash weight", "exploitability", "mean win rate"):
        table.add_column(column, justify="left" if column == "policy" else "right", no_wrap=True)
    for i, name in enumerate(names):
        lo, hi = report["bradley_terry_interval"][i]
        table.add_row(
            name,
            f"{report['elo'][i]:.0f}",
            f"{report['bradley_terry'][i]:.0f} [{lo:.0f}, {hi:.0f}]",
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

    from algorithms.marl import runner
    from algorithms.marl.config import TrainConfig

    fields = dict(scenario=args.scenario, total_steps=args.steps, num_envs=args.num_envs,
                  rollout_steps=args.rollout_steps, epochs=args.epochs, minibatches=args.minibatches,
                  learning_rate=args.lr, critic=args.critic, credit=args.credit, encoder=args.encoder, hidden=args.hidden,
                  pool_size=args.pool_size, snapshot_every=args.snapshot_every,
                  opponent_sampling=args.opponent_sampling, self_play_fraction=args.self_play_fraction,
                  fixed_fraction=args.fixed_fraction,
                  opponent_groups=args.opponent_groups,
                  fixed_opponents=tuple(f for f in args.fixed_opponents.split(",") if f),
                  checkpoints=args.checkpoints, seed=args.seed, entropy_coef=args.entropy_coef,
                  recurrent=True if args.recurrent else None, anneal_lr=True if args.anneal_lr else None)
    fields = {k: v for k, v in fields.items() if v is not None}
    config = TrainConfig(**fields)
    console = Console(stderr=True)
    console.print(f"training {config.scenario}: {config.num_updates} updates x {config.steps_per_update} env-steps "
                  f"= {config.num_updates * config.steps_per_update:,} env-steps, {config.checkpoints} checkpoints "
                  f"-> {args.out}")
    summary = runner.train(config, args.out, resume=args.resume, eval_games=args.eval_games,
                           final_games=args.final_games, crossplay_games=args.crossplay_games)
    final = summary.get("final_eval", {})
    if final:
        console.print("final policy: " + ", ".join(f"vs {k} {v['win_rate']:.3f} ({v['games']} battles)"
                                                   for k, v in final.items()))
    cross = summary.get("crossplay")
    if cross:
        console.print(f"latest checkpoint vs first: {cross['latest_vs_first']:.3f}; figures: "
                      + ", ".join(cross["figures"].values()))
    print(json.dumps(dict(run=summary["run"], final_eval={k: v["win_rate"] for k, v in final.items()},
                          latest_vs_first=cross["latest_vs_first"] if cross else None)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gigastep-jax", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    render = sub.add_parser("render", help="play one battle of scripted teams and write a GIF")
    render.add_argument("scenario", help="a name from gigastep_jax.list_scenarios()")
    render.add_argument("--out", default="battle.gif", help="GIF path (the outcome goes beside it as .json)")
    choices = ["random", "circler", "chaser"]
    render.add_argument("--team-a", default="chaser", choices=choices)
    render.add_argument("--team-b", default="random", choices=choices)
    render.add_argument("--seed", type=int, default=0)
    render.add_argument("--max-steps", type=int, default=None, help="cap on steps (default: the scenario's limit)")
    render.add_argument("--scale", type=int, default=3, help="pixels per observation pixel")
    render.add_argument("--fps", type=int, default=20)
    render.set_defaults(func=_render)

    tr = sub.add_parser("train", help="self-play MAPPO/IPPO: checkpoints, metrics, cross-play figures")
    tr.add_argument("--scenario", default="identical_5_vs_5_fobs_vec_void_disc", help="a name from gigastep_jax.list_scenarios()")
    tr.add_argument("--steps", type=int, default=None, help="environment steps (default: TrainConfig's)")
    tr.add_argument("--out", default="runs/identical_5_vs_5", help="run folder (checkpoints, metrics, figures)")
    tr.add_argument("--resume", action="store_true", help="continue the run in --out from its latest checkpoint")
    tr.add_argument("--num-envs", type=int, default=None)
    tr.add_argument("--rollout-steps", type=int, default=None)
    tr.add_argument("--epochs", type=int, default=None)
    tr.add_argument("--minibatches", type=int, default=None)
    tr.add_argument("--lr", type=float, default=None)
    tr.add_argument("--entropy-coef", type=float, default=None)
    tr.add_argument("--anneal-lr", action="store_true", help="learning rate falls linearly to 0 over the run")
    tr.add_argument("--critic", default=None, help="mappo (centralised team critic) or ippo")
    tr.add_argument("--credit", default=None, help="team (each agent learns its team's return, dead or alive; "
                    "the default) or agent (its own reward until it dies)")
    tr.add_argument("--encoder", default=None, help="mlp or attention (vector obs), cnn (RGB obs)")
    tr.add_argument("--hidden", type=int, default=None)
    tr.add_argument("--recurrent", action="store_true", help="a GRU actor (for partial observability)")
    tr.add_argument("--pool-size", type=int, default=None)
    tr.add_argument("--snapshot-every", type=int, default=None, help="updates between pool snapshots")
    tr.add_argument("--opponent-sampling", default=None, help="uniform, latest or pfsp")
    tr.add_argument("--opponent-groups", type=int, default=None, help="environment groups, one opponent each per update")
    tr.add_argument("--self-play-fraction", type=float, default=None, help="share of environments against the current policy")
    tr.add_argument("--fixed-fraction", type=float, default=None,
                    help="share of environments against the fixed opponents alone (PFSP among them)")
    tr.add_argument("--fixed-opponents", default="random,chaser,circler", help="scripted opponents in the pool (comma-separated; '' for none)")
    tr.add_argument("--checkpoints", type=int, default=None)
    tr.add_argument("--seed", type=int, default=None)
    tr.add_argument("--eval-games", type=int, default=64, help="battles vs random/chaser/circler after each checkpoint")
    tr.add_argument("--final-games", type=int, default=1000, help="battles of the final policy vs each yardstick")
    tr.add_argument("--crossplay-games", type=int, default=32, help="battles per ordered pair of checkpoints")
    tr.set_defaults(func=_train)

    ev = sub.add_parser("eval", help="cross-play payoff matrix, ratings and Nash equilibrium of a set of policies")
    ev.add_argument("policies", metavar="POLICIES", help=EVAL_SPEC_HELP + "; or a RUN_DIR of gigastep-jax train (its checkpoints and the yardsticks)")
    ev.add_argument("--scenario", default="identical_5_vs_5_fobs_vec_void_disc", help="a name from gigastep_jax.list_scenarios()")
    ev.add_argument("--games", type=int, default=64, help="battles per ordered pair (half with each policy as team A)")
    ev.add_argument("--out", default="out/eval", help="folder for matrix.json/.csv, report.json and the figures")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--max-steps", type=int, default=None, help="cap on steps (default: the scenario's limit)")
    ev.set_defaults(func=_eval)

    from algorithms.cli.prefgame import add_parser as add_prefgame

    add_prefgame(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as e:  # bad input at the edge: one clear line, no trace
        print(f"gigastep-jax {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
