"""Evaluation throughput: cross-play battles per second and the cost of the ratings.

Prints one JSON object per configuration:
- `crossplay`: a full 16 x 16 payoff matrix of identical_5_vs_5_fobs_vec_void_disc battles between
  16 scripted policies (chaser with 16 exploration rates), all pairs in ONE compiled call
  (`BattleGame.play_matrix`); compile seconds apart from run seconds, best of 2 runs after the
  compile. Early exit (the batch stops once every battle is over) against a fixed 500-step masked
  scan, which plays the same battles.
- `ratings`: wall time of `nash` (LP), `nash_iterative`, `bradley_terry` (with its bootstrap) and
  `elo` on random symmetric payoff / win matrices of 16, 128 and 1024 policies. Items that may run
  long run in a child process and are abandoned after 60 s (said so in the JSON).

    python benchmarks/eval_throughput.py                 # everything (about 3 minutes on 2 cores)
    python benchmarks/eval_throughput.py --only crossplay
    python benchmarks/eval_throughput.py --smoke         # 2 x 2 policies, 1 game, 16-policy ratings (a check)
    python benchmarks/eval_throughput.py --run out/demo  # also: a run's checkpoints + random + chaser,
                                                         # what `gigastep-jax eval out/demo` plays
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np

SCENARIO = "identical_5_vs_5_fobs_vec_void_disc"
POLICIES = 16
LIMIT_S = 60.0


def _device() -> dict:
    """Device, CPU model and count, load, JAX version: env_throughput.py's description of the machine."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import env_throughput  # noqa: PLC0415  (imported late: the ratings' child processes skip JAX)

    return env_throughput.device_info()


def crossplay(games_per_pair: int, early_exit: bool, policies: int = POLICIES) -> dict:
    import jax

    import gigastep_jax as gj
    from algorithms.evaluation.game import BattleGame, stack
    from algorithms.evaluation.scripted import scripted_apply, scripted_params

    env = gj.make(SCENARIO)
    game = BattleGame(env, scripted_apply, early_exit=early_exit)
    epsilons = np.linspace(0.0, 0.75, policies)
    population = stack([scripted_params("chaser", float(e)) for e in epsilons])
    key = jax.random.PRNGKey(0)
    t0 = time.perf_counter()
    compiled = game._matrix.lower(key, population, population, games_per_pair).compile()
    compile_s = time.perf_counter() - t0
    best, rate = float("inf"), None
    for r in range(2):
        t0 = time.perf_counter()
        outcomes = jax.block_until_ready(compiled(jax.random.PRNGKey(r + 1), population, population))
        best = min(best, time.perf_counter() - t0)
        rate = np.asarray(outcomes).mean(-1)
    battles = policies * policies * games_per_pair
    return dict(
        benchmark="eval_throughput", figure="crossplay_battles_per_s", scenario=SCENARIO,
        policies=f"chaser with epsilon in linspace(0, 0.75, {policies})", matrix=[policies, policies],
        games_per_pair=games_per_pair, battles_per_call=battles, early_exit=early_exit,
        max_steps=game.max_steps, battles_per_s=round(battles / best, 1), seconds_per_run=round(best, 3),
        compile_s=round(compile_s, 2), repeats=2,
        diagonal_mean=round(float(np.diag(rate).mean()), 3),  # ½ in expectation: a sanity check
        chaser_vs_most_random=round(float(rate[0, -1]), 3), **_device(),
    )


# ----------------------------------------------------------------------------- ratings
def random_game(p: int, games_per_pair: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(payoff float64[P, P] symmetric constant-sum with ½ diagonal, wins float64[P, P] sampled)."""
    rng = np.random.default_rng(seed)
    upper = np.triu(rng.uniform(size=(p, p)), 1)
    payoff = upper + np.tril(1.0 - upper.T, -1)
    np.fill_diagonal(payoff, 0.5)
    won = np.triu(rng.binomial(games_per_pair, payoff), 1).astype(np.float64)
    wins = won + np.tril(games_per_pair - won.T, -1)
    np.fill_diagonal(wins, 0.0)
    return payoff, wins


def _rating_call(name: str, p: int, games_per_pair: int):
    from algorithms import ratings

    payoff, wins = random_game(p, games_per_pair)
    t0 = time.perf_counter()
    if name == "nash_lp":
        strategy, _ = ratings.nash(payoff, symmetric=True)
        extra = dict(exploitability=ratings.exploitability(payoff, strategy), support=int((strategy > 1e-6).sum()))
    elif name == "nash_iterative":
        strategy, _, gap = ratings.nash_iterative(payoff, iters=20_000, tol=1e-4)
        extra = dict(gap=gap, support=int((strategy > 1e-6).sum()))
    elif name == "bradley_terry":
        ratings.bradley_terry(wins, n_bootstrap=200)
        extra = dict(n_bootstrap=200)
    elif name == "elo":
        games = ratings.games_from_wins(wins)
        ratings.elo(games, p, n_shuffles=100)
        extra = dict(n_games=len(games), n_shuffles=100)
    else:
        raise ValueError(name)
    return time.perf_counter() - t0, {k: (round(float(v), 6) if isinstance(v, float) else v) for k, v in extra.items()}


def _child(queue, name, p, games_per_pair):
    queue.put(_rating_call(name, p, games_per_pair))


def timed_rating(name: str, p: int, games_per_pair: int, isolate: bool) -> dict:
    """Wall seconds of one ratings call; isolated ones run in a child killed after LIMIT_S."""
    row = dict(benchmark="eval_throughput", figure=f"{name}_seconds", policies=p, games_per_pair=games_per_pair)
    if not isolate:
        seconds, extra = _rating_call(name, p, games_per_pair)
        return dict(row, seconds=round(seconds, 4), **extra)
    ctx = mp.get_context("spawn")  # the child runs numpy / scipy only
    queue = ctx.Queue()
    child = ctx.Process(target=_child, args=(queue, name, p, games_per_pair), daemon=True)
    child.start()
    try:
        seconds, extra = queue.get(timeout=LIMIT_S + 30.0)  # + the child's start-up
        child.join()
    except Exception:  # queue.Empty: over the limit
        child.terminate()
        child.join()
        return dict(row, seconds=None, skipped=f"took more than {LIMIT_S:.0f} s; abandoned")
    if seconds > LIMIT_S:
        return dict(row, seconds=round(seconds, 2), note=f"over the {LIMIT_S:.0f} s budget")
    return dict(row, seconds=round(seconds, 4), **extra)


def crossplay_run(run_dir: str, games_per_pair: int) -> dict:
    """Cross-play of a training run's checkpoints with random and chaser (trained networks, the
    population `gigastep-jax eval RUN` plays), compile apart, best of 2."""
    import jax

    from algorithms.marl import runner

    env, game, population, names = runner.run_population(run_dir)
    key = jax.random.PRNGKey(0)
    t0 = time.perf_counter()
    compiled = game._matrix.lower(key, population, population, games_per_pair).compile()
    compile_s = time.perf_counter() - t0
    best = float("inf")
    for r in range(2):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(jax.random.PRNGKey(r + 1), population, population))
        best = min(best, time.perf_counter() - t0)
    p = len(names)
    battles = p * p * games_per_pair
    return dict(benchmark="eval_throughput", figure="crossplay_battles_per_s", scenario=env.name, run=run_dir,
                policies=names, matrix=[p, p], games_per_pair=games_per_pair, battles_per_call=battles,
                early_exit=True, batch=game.batch, max_steps=game.max_steps, battles_per_s=round(battles / best, 1),
                seconds_per_run=round(best, 3), compile_s=round(compile_s, 2), repeats=2, **_device())


def ratings_rows(sizes=((16, 64), (128, 16), (1024, 2))):
    import scipy

    from algorithms import ratings  # noqa: F401  (fail early if missing)

    for p, games in sizes:
        for name in ("nash_lp", "nash_iterative", "bradley_terry", "elo"):
            row = timed_rating(name, p, games, isolate=p >= 1024)
            yield dict(row, numpy_version=np.__version__, scipy_version=scipy.__version__, **_device())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["crossplay", "ratings"], nargs="*")
    parser.add_argument("--games", type=int, default=32, help="battles per ordered pair (early exit)")
    parser.add_argument("--games-fixed", type=int, default=8, help="battles per ordered pair (fixed 500-step scan)")
    parser.add_argument("--smoke", action="store_true", help="2 x 2 policies, 1 game each, ratings of 16 (a check, not a figure)")
    parser.add_argument("--run", help="a run folder (gigastep-jax train): cross-play of its checkpoints too")
    args = parser.parse_args(argv)
    if args.smoke:
        print(json.dumps(crossplay(1, early_exit=True, policies=2)), flush=True)
        for row in ratings_rows(sizes=((16, 8),)):
            print(json.dumps(row), flush=True)
        return
    groups = args.only or ["crossplay", "ratings"]
    if "crossplay" in groups:
        print(json.dumps(crossplay(args.games, early_exit=True)), flush=True)
        print(json.dumps(crossplay(args.games_fixed, early_exit=False)), flush=True)
        if args.run:
            print(json.dumps(crossplay_run(args.run, args.games)), flush=True)
    if "ratings" in groups:
        for row in ratings_rows():
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
