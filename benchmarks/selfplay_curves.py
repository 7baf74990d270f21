"""Does self-play keep getting stronger? The curves of one run of the default recipe, and its exploiter.

Trains (or resumes, or only reads with --summarise) a run with `gigastep-jax train`'s runner, then a
fixed-budget exploiter against its final policy (`algorithms.marl.exploiter`), and prints one JSON
object: per checkpoint the score against each held-out scripted policy (random, chaser, circler:
never met in training by the default recipe), the win rate against all earlier checkpoints and the
Bradley-Terry rating with its 95 % interval; the final policy's wins, draws and losses over
--final-games battles per scripted policy; the exploiter's. Writes selfplay_curves.png into the run
folder (yardstick scores and win rate against earlier checkpoints over env steps; the ratings with
the exploiter beside them are the exploiter's figure, exploiter-final/exploiter.png).

    python benchmarks/selfplay_curves.py --out out/demo-long --total-steps 48000000   # make demo-long
    python benchmarks/selfplay_curves.py --out runs/pobs --scenario identical_5_vs_5_pobs_vec_void_disc --recurrent
    python benchmarks/selfplay_curves.py --out out/demo --summarise                   # an existing run

Every TrainConfig field is a flag (as in `gigastep-jax train`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import jax
import numpy as np

from algorithms.cli import flags
from algorithms.evaluation.payoff import PayoffMatrix
from algorithms.marl import checkpoint, exploiter, runner
from algorithms.marl.config import TrainConfig

YARDSTICKS = ("random", "chaser", "circler")


def summarise(out: Path, exploit: dict | None) -> dict:
    """The curves of a finished run folder (metrics.jsonl, crossplay/, final_eval.json)."""
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    report = json.loads((out / "crossplay" / "report.json").read_text())
    matrix = PayoffMatrix.from_dict(json.loads((out / "crossplay" / "matrix.json").read_text()))
    won, played = matrix.vs_earlier()
    config = json.loads((out / "config.json").read_text())
    final = json.loads((out / "final_eval.json").read_text())
    bt = report["bradley_terry"]
    best = int(np.argmax(bt))
    lo_last, hi_last = report["bradley_terry_interval"][-1]
    curves = dict(
        env_steps=[r["env_steps"] for r in rows],
        wall_s=[r["wall_s"] for r in rows],
        entropy=[round(r["entropy"], 3) for r in rows],
        **{f"eval_vs_{y}": [r.get(f"eval_vs_{y}") for r in rows] for y in YARDSTICKS},
        vs_earlier=[None] + [round(w / g, 3) for w, g in zip(won, played)],
        bradley_terry=[round(b, 1) for b in bt],
        bradley_terry_interval=report["bradley_terry_interval"],
    )
    return dict(
        benchmark="selfplay_curves", run=str(out), scenario=config["scenario"], total_env_steps=rows[-1]["env_steps"],
        training_s=rows[-1]["wall_s"], compile_s=rows[0].get("compile_s"), num_envs=config["num_envs"],
        scripted_in_training=list(config["scripted_opponents"]) if config["scripted_fraction"] > 0 else [],
        final={y: {k: final[y][k] for k in ("wins", "draws", "losses", "games", "score_as_a", "score_as_b")
                   if k in final[y]} | dict(score=final[y]["win_rate"]) for y in YARDSTICKS},
        eval_games_per_checkpoint=int(rows[0].get("eval_wins_vs_random", 0) + rows[0].get("eval_draws_vs_random", 0)
                                      + rows[0].get("eval_losses_vs_random", 0)),
        crossplay_games_per_pair=int(matrix.n_games[0, 1]),
        latest_vs_first=round(float(matrix.pooled_win_rate()[-1, 0]), 3),
        final_vs_first=_final_vs_first(out),
        min_vs_earlier=round(float((won / played).min()), 3),
        last_rating_is_best_or_within_interval=bool(best == len(bt) - 1 or (hi_last is None or hi_last >= bt[best])),
        best_rated=report["names"][best], last_rating_interval=[lo_last, hi_last],
        nash_strategy=[round(p, 3) for p in report["nash_strategy"]],
        curves=curves,
        exploiter=None if exploit is None else dict(
            target=exploit["target"], init=exploit["init"], budget=exploit["budget"],
            env_steps=exploit["budget_env_steps"], **{k: exploit["final"][k] for k in ("wins", "draws", "losses",
                                                                                       "games", "score")},
            curve=[(c["env_steps"], round(c["score"], 3)) for c in exploit["curve"]]),
        device=str(jax.devices()[0].device_kind), platform=jax.default_backend(),
        cpu=platform.processor() or platform.machine(), cpu_count=os.cpu_count(), jax_version=jax.__version__,
        date=time.strftime("%Y-%m-%d", time.gmtime()),
    )


def _final_vs_first(out: Path) -> dict | None:
    """The last checkpoint against the first over the final battles (wins, draws, losses), from summary.json."""
    path = out / "summary.json"
    return json.loads(path.read_text()).get("final_vs_first") if path.is_file() else None


def plot(summary: dict, path: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = summary["curves"]
    steps = np.asarray(c["env_steps"]) / 1e6
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for y in YARDSTICKS:
        left.plot(steps, c[f"eval_vs_{y}"], "o-", label=f"vs {y} (held out)" if not summary["scripted_in_training"]
                  else f"vs {y}")
    left.axhline(0.5, color="gray", ls=":")
    left.set(ylim=(0, 1.02), xlabel="env steps (M)", ylabel=f"score ({summary['eval_games_per_checkpoint']} battles)",
             title=f"{summary['scenario']}: yardsticks")
    left.legend(fontsize=8)
    right.plot(steps[1:], c["vs_earlier"][1:], "o-", label="win rate vs all earlier checkpoints")
    right.axhline(0.6, color="r", ls="--", label="0.6")
    right.axhline(0.5, color="gray", ls=":")
    right.set(ylim=(0, 1.02), xlabel="env steps (M)", title="self-play progress (cross-play, pooled)")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="the run folder (resumed if it holds checkpoints)")
    parser.add_argument("--summarise", action="store_true", help="read a finished run; train nothing")
    parser.add_argument("--eval-games", type=int, default=64, help="battles per yardstick after each checkpoint")
    parser.add_argument("--final-games", type=int, default=1000)
    parser.add_argument("--crossplay-games", type=int, default=32)
    parser.add_argument("--exploiter-budget", type=float, default=0.1, help="0: no exploiter")
    parser.add_argument("--exploiter-games", type=int, default=1000)
    flags.add_flags(parser, TrainConfig, group="learner (TrainConfig)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if not args.summarise:
        config = flags.build(args, TrainConfig)
        finished = checkpoint.steps(out / "checkpoints")[-1:] == [config.checkpoints]
        if not finished or not (out / "crossplay" / "report.json").is_file():
            runner.train(config, out, resume=True, eval_games=args.eval_games, final_games=args.final_games,
                         crossplay_games=args.crossplay_games)
    exploit = None
    if args.exploiter_budget > 0:
        done = out / "exploiter-final" / "exploiter.json"
        exploit = json.loads(done.read_text()) if done.is_file() else exploiter.train_exploiter(
            out, budget=args.exploiter_budget, games=args.exploiter_games, resume=True)
    summary = summarise(out, exploit)
    summary["figure"] = plot(summary, out / "selfplay_curves.png")
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
