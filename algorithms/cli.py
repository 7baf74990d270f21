"""`gigastep-jax` command line: render (train, eval, bench and prefgame join as they land)."""

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
