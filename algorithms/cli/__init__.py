"""`gigastep-jax`, the command line: train, eval and render (battles, `battle.py`) and prefgame
(the preference game, `prefgame.py`). Bad input ends with one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    from algorithms.cli import battle, prefgame

    parser = argparse.ArgumentParser(prog="gigastep-jax", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    battle.add_parsers(sub)
    prefgame.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as e:  # bad input at the edge: one clear line, no trace
        print(f"gigastep-jax {args.command}: error: {e}", file=sys.stderr)
        return 2


