"""`gigastep-jax prefgame`: one self-play run of the preference game, from the shell.

    gigastep-jax prefgame --algo sppo --judge cycle --iterations 30 --out out/prefgame

Writes out/metrics.jsonl (one JSON object per iteration: exploitability of the iterate and of the
average of iterates, win rate against the reference, KL to it, ...), out/iterates/iterate_NNNN
(orbax), out/config.json, out/curves.png and, with --payoff-games > 0, the payoff matrix over the
iterates with its report and figures (algorithms.evaluation, algorithms.plots).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ALGOS = ("sppo", "spo", "inpo", "nash_md", "dpo", "ipo", "simpo")
JUDGES = ("bt", "cycle", "noisy")


def _check(args: argparse.Namespace) -> None:
    for name, low in (("iterations", 1), ("prompts", 1), ("k", 2), ("eval_samples", 4), ("payoff_games", 0),
                      ("sft_steps", 0), ("epochs", 1), ("minibatches", 1), ("d_model", 1), ("layers", 1),
                      ("n_prompts", 1), ("payoff_iterates", 2)):
        value = getattr(args, name)
        if value < low:
            raise ValueError(f"--{name.replace('_', '-')} must be >= {low}, got {value}")
    if not 0.0 <= args.noise <= 0.5:
        raise ValueError(f"--noise must be in [0, 0.5], got {args.noise}")


def _hyper(args: argparse.Namespace) -> dict:
    """The learner's hyper-parameters given on the command line (the rest keep LearnerConfig's defaults)."""
    hyper = dict(prompts=args.prompts, k_samples=args.k, epochs=args.epochs, minibatches=args.minibatches,
                 lr=args.lr)
    for name in ("eta", "tau", "beta", "gamma", "clip_eps"):
        if getattr(args, name) is not None:
            hyper[name] = getattr(args, name)
    return hyper


def _payoff(args, result, out: Path) -> dict:
    """Payoff matrix over (up to --payoff-iterates) iterates, its report and figures."""
    import jax
    import numpy as np

    from algorithms import evaluation
    from algorithms.evaluation import plots
    from algorithms.preference.game import PreferenceGame

    total = len(result.iterates)
    picks = np.unique(np.linspace(0, total - 1, min(args.payoff_iterates, total)).round().astype(int))
    population = jax.tree_util.tree_map(lambda a: a[picks], result.population())
    names = [f"t{t}" for t in picks]
    game = PreferenceGame(result.lm_config, result.judge)
    matrix = evaluation.payoff_matrix(game, population, args.payoff_games, jax.random.PRNGKey(args.seed + 1),
                                      names=names)
    report = evaluation.evaluation_report(matrix)
    evaluation.save_report(matrix, report, out)
    plots.plot_payoff_heatmap(matrix, out / "payoff_heatmap.png")
    plots.plot_ratings(names, report["bradley_terry"], report["bradley_terry_interval"], out / "ratings.png",
                       label="Bradley-Terry score (anchor t0)")
    plots.plot_nash_mixture(names, report["nash_strategy"], out / "nash_mixture.png")
    return report


def _prefgame(args: argparse.Namespace) -> int:
    _check(args)
    import jax
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from algorithms.preference import figures, lm
    from algorithms.preference.learners import LearnerConfig
    from algorithms.preference.run import make_judge, run_selfplay

    config = lm.LMConfig(d_model=args.d_model, n_layers=args.layers, d_mlp=4 * args.d_model,
                         n_heads=max(1, min(4, args.d_model // 16)), n_prompts=args.n_prompts,
                         prefix_mod=0 if args.judge == "bt" else 3)
    judge = make_judge(args.judge, config.vocab, config.length, noise=args.noise,
                       permute_by_prompt=args.n_prompts > 1)
    learner_config = LearnerConfig(algo=args.algo, **_hyper(args))  # bad values: ValueError here
    out = Path(args.out)
    console = Console(stderr=True)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TextColumn("{task.fields[status]}"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"{args.algo} on {args.judge}", total=args.iterations, status="compiling ...")

        def show(t, row):
            expl = row.get("exploitability")
            status = "" if expl is None else f"expl {expl:.3f} (avg {row['exploitability_average']:.3f}) "
            status += f"win vs ref {row['win_rate_vs_reference']:.3f} KL {row['kl_to_reference']:.2f}"
            progress.update(task, advance=1, status=status)

        result = run_selfplay(config, judge, learner_config, args.iterations, jax.random.PRNGKey(args.seed),
                              sft_steps=args.sft_steps, eval_samples=args.eval_samples, out_dir=out, callback=show)
    files = [str(out / "metrics.jsonl"), str(out / "iterates"),
             figures.plot_curves(result.metrics, out / "curves.png", title=f"{args.algo}, judge {judge.name}")]
    summary = dict(algo=args.algo, judge=args.judge, iterations=args.iterations, final=result.metrics[-1])
    if args.payoff_games:
        with console.status("payoff matrix over the iterates ..."):
            report = _payoff(args, result, out)
        summary["payoff"] = dict(names=report["names"], nash_strategy=report["nash_strategy"], elo=report["elo"])
        files += [str(out / n) for n in ("matrix.json", "report.json", "payoff_heatmap.png", "ratings.png")]
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))
    console.print("wrote " + ", ".join(files))
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register `prefgame` on the `gigastep-jax` sub-command parsers."""
    p = subparsers.add_parser("prefgame", help="LLM self-play on a small LM: SPPO, SPO, INPO, Nash-MD, DPO, IPO, SimPO")
    p.add_argument("--algo", choices=ALGOS, default="sppo")
    p.add_argument("--judge", choices=JUDGES, default="cycle",
                   help="bt: Bradley-Terry over a per-token reward; cycle: biased RPS over (sum of tokens) mod 3; "
                        "noisy: cycle with labels flipped with probability --noise")
    p.add_argument("--iterations", type=int, default=30)
    p.add_argument("--prompts", type=int, default=32, help="prompts per iteration (B)")
    p.add_argument("--k", type=int, default=8, help="responses sampled per prompt (K)")
    p.add_argument("--n-prompts", type=int, default=1, help="distinct prompts; > 1 permutes the judge's classes per prompt")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--minibatches", type=int, default=4)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--eta", type=float, default=None, help="SPPO / Nash-MD step, INPO's eta (default: LearnerConfig's)")
    p.add_argument("--tau", type=float, default=None)
    p.add_argument("--beta", type=float, default=None)
    p.add_argument("--gamma", type=float, default=None)
    p.add_argument("--clip-eps", type=float, default=None)
    p.add_argument("--noise", type=float, default=0.1, help="label noise of --judge noisy")
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--sft-steps", type=int, default=50, help="SFT steps that make the reference (0: the fresh, uniform model)")
    p.add_argument("--eval-samples", type=int, default=4096, help="samples per measurement (>= 4096 for +-0.01)")
    p.add_argument("--payoff-games", type=int, default=256, help="games per cell of the payoff matrix over iterates (0: none)")
    p.add_argument("--payoff-iterates", type=int, default=8, help="iterates (evenly spaced) in that matrix")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out/prefgame")
    p.set_defaults(func=_prefgame)
    return p
