"""`gigastep-jax prefgame`: one self-play run of the preference game, from the shell.

    gigastep-jax prefgame --algorithm sppo --judge cycle --iterations 30 --out out/prefgame
    gigastep-jax prefgame --model DIR --prompts prompts.jsonl --algo sppo --out out/my-model

With --model, the policy is the causal LM in DIR (config.json, safetensors weights, tokenizer.json;
GPT-2 or Llama family, `algorithms.preference.hf_format.load_causal_lm`) answering the prompts of a
JSON-lines file ({"prompt": "..."} per line), with --max-new-tokens, --temperature and --top-p;
without it, the toy model of `lm`. --judge-model DIR uses a learned preference model
(`preference_models.save_preference_model`) instead of a judge written in code. A run folder that
already holds a run with the same settings is resumed (a killed run ends as if never killed).

Writes out/metrics.jsonl (one JSON object per iteration: exploitability of the iterate and of the
average of iterates, win rate against the reference, KL to it, ...), out/iterates/iterate_NNNN
(orbax), out/config.json, out/curves.png and, with --payoff-games > 0, the payoff matrix over the
iterates with its report and figures (algorithms.evaluation); with --tensorboard / --wandb, the
rows again in out/tensorboard, out/wandb (`algorithms.loggers`). Flags are generated from
`PrefgameOptions`, `LogOptions`, `LearnerConfig` and `LMConfig` (`flags.py`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from algorithms import loggers, run_folder, validate
from algorithms.cli import flags

JUDGES = ("bt", "cycle", "noisy", "length")


@dataclasses.dataclass(frozen=True)
class PrefgameOptions:
    """The run around the learner: model, prompts, judge, measurements."""

    model: str = ""  # folder of a causal LM in the Hugging Face format (GPT-2 or Llama); "" for the toy model
    prompts: str = ""  # JSON-lines file of prompts ({"prompt": "..."} per line), with --model
    judge: str = "cycle"  # bt: Bradley-Terry over a per-token reward; cycle: biased RPS over (sum of tokens) mod 3; noisy: cycle with labels flipped with probability noise; length: a length-neutral reward plus a bias toward longer responses
    judge_model: str = ""  # folder of a learned preference model (overrides --judge)
    lora_rank: int = 0  # > 0: train LoRA adapters of this rank on q and v (the base frozen), with --model
    lora_alpha: float = 16.0  # LoRA's scale: W + (alpha / rank) A B
    shard_model: bool = False  # split a --model's heads and MLP over the local devices (tensor parallel; causal_lm.shard_params)
    length_weight: float = 0.5  # the length judge's bias: logit of P(y > y') grows by this per extra token
    iterations: int = 30  # self-play iterations
    noise: float = 0.1  # label noise of the noisy judge, in [0, 0.5]
    sft_steps: int = 50  # SFT steps that make the reference (0: the fresh, uniform model)
    eval_samples: int = 4096  # samples per measurement (>= 4096 for exploitability to +-0.01)
    payoff_games: int = 256  # games per cell of the payoff matrix over iterates (0: none)
    payoff_iterates: int = 8  # iterates (evenly spaced) in that matrix
    seed: int = 0  # of the reference, the iterations and the measurements

    def __post_init__(self):
        validate.choice("judge", self.judge, JUDGES)
        if self.prompts and not self.model:
            raise ValueError("--prompts is the prompts file of a real model: give --model DIR too")
        if self.model and not self.prompts:
            raise ValueError("--model needs --prompts FILE (a JSON-lines file of {\"prompt\": ...} objects)")
        validate.number("length_weight", self.length_weight)
        validate.integer("lora_rank", self.lora_rank, 0)
        if self.lora_rank and not self.model:
            raise ValueError("--lora-rank trains adapters of a real model: give --model DIR too")
        if self.shard_model and not self.model:
            raise ValueError("--shard-model splits a real model over the local devices: give --model DIR too")
        for name, low in (("iterations", 1), ("sft_steps", 0), ("eval_samples", 4), ("payoff_games", 0),
                          ("payoff_iterates", 2), ("seed", 0)):
            validate.integer(name, getattr(self, name), low)
        validate.number("noise", self.noise, low=0.0, high=0.5)


def _payoff(options: "PrefgameOptions", result, out: Path) -> dict:
    """Payoff matrix over (up to --payoff-iterates) iterates, its report and figures."""
    import jax
    import numpy as np

    from algorithms import evaluation
    from algorithms.preference.game import PreferenceGame

    total = len(result.iterates)
    picks = np.unique(np.linspace(0, total - 1, min(options.payoff_iterates, total)).round().astype(int))
    population = jax.tree_util.tree_map(lambda a: a[picks], result.population())
    names = [f"t{t}" for t in picks]
    game = PreferenceGame(result.policy, result.judge)
    matrix = evaluation.payoff_matrix(game, population, options.payoff_games, jax.random.PRNGKey(options.seed + 1),
                                      names=names)
    report = evaluation.evaluation_report(matrix)
    evaluation.save_report(matrix, report, out)
    evaluation.write_figures(matrix, report, out)
    return report


def _configs(args: argparse.Namespace):
    """(options, LMConfig, LearnerConfig, SamplingConfig) from the flags; LMConfig's d_mlp
    (4 x d_model), n_heads (d_model / 16, 1 to 4) and prefix_mod (3 for the class judges) follow
    d_model and the judge unless given."""
    from algorithms.preference import lm
    from algorithms.preference.generation import SamplingConfig
    from algorithms.preference.learners import LearnerConfig

    options = flags.build(args, PrefgameOptions)
    d_model = flags.given(args, lm.LMConfig).get("d_model", lm.LMConfig.d_model)
    derived = dict(d_mlp=4 * d_model, n_heads=max(1, min(4, d_model // 16)),
                   prefix_mod=0 if options.judge in ("bt", "length") else 3)
    return (options, flags.build(args, lm.LMConfig, **derived), flags.build(args, LearnerConfig),
            flags.build(args, SamplingConfig))


def _policy_and_judge(options: PrefgameOptions, config, sampling):
    """(policy, judge, reference params or None): the toy model, or the causal LM of --model with the prompts of --prompts."""
    from algorithms.preference import preference_models
    from algorithms.preference.run import make_judge

    reference = None
    if options.model:
        from algorithms.preference.hf_format import load_causal_lm
        from algorithms.preference.policy import CausalPolicy

        model = load_causal_lm(options.model)
        policy = CausalPolicy.from_jsonl(model, options.prompts, sampling)
        reference = model.params
        if options.shard_model:
            import jax

            from algorithms.preference.causal_lm import shard_params

            mesh = jax.make_mesh((jax.local_device_count(),), ("model",), axis_types=(jax.sharding.AxisType.Auto,))
            reference = shard_params(model.config, reference, mesh)
        if options.lora_rank:
            import jax

            from algorithms.preference.policy import LoRAPolicy

            policy = LoRAPolicy(policy, options.lora_rank, options.lora_alpha)
            reference = policy.init_params(model.params, jax.random.PRNGKey(options.seed + 2))
        vocab, length, pad_id = policy.vocab, policy.length, policy.pad_id
    else:
        policy, vocab, length, pad_id = config, config.vocab, config.length, None
    if options.judge_model:
        judge = preference_models.load_preference_model(options.judge_model)
    else:
        judge = make_judge(options.judge, vocab, length, noise=options.noise, pad_id=pad_id,
                           length_weight=options.length_weight,
                           permute_by_prompt=(policy.n_prompts if options.model else config.n_prompts) > 1)
    return policy, judge, reference


def _prefgame(args: argparse.Namespace) -> int:
    configs = _configs(args)  # bad values: ValueError here, before compiling
    with run_folder.exclusive(args.out):  # one writer per folder, checked before anything runs
        return _run(args, *configs)


def _run(args: argparse.Namespace, options: PrefgameOptions, config, learner_config, sampling) -> int:
    import jax
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from algorithms.preference import figures
    from algorithms.preference.run import run_selfplay

    policy, judge, reference = _policy_and_judge(options, config, sampling)
    out = Path(args.out)
    console = Console(stderr=True)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TextColumn("{task.fields[status]}"), TimeElapsedColumn())
    name = learner_config.algorithm
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"{name} on {options.judge}", total=options.iterations, status="compiling ...")

        def show(t, row):
            expl = row.get("exploitability")
            status = "" if expl is None else f"expl {expl:.3f} (avg {row['exploitability_average']:.3f}) "
            status += f"win vs ref {row['win_rate_vs_reference']:.3f} KL {row['kl_to_reference']:.2f}"
            progress.update(task, advance=1, status=status)

        result = run_selfplay(policy, judge, learner_config, options.iterations, jax.random.PRNGKey(options.seed),
                              reference=reference, sft_steps=options.sft_steps, eval_samples=options.eval_samples, out_dir=out,
                              callback=show, **vars(flags.build(args, loggers.LogOptions)))
    files = [str(out / "metrics.jsonl"), str(out / "iterates"), str(out / "data"),
             figures.plot_curves(result.metrics, out / "curves.png", title=f"{name}, judge {judge.name}")]
    if options.model:  # the final policy as a model folder anyone can load (adapters merged)
        from algorithms.preference.run import export_model

        files.append(str(export_model(result.policy, result.iterates[-1], out / "model")))
    summary = dict(algorithm=name, judge=options.judge_model or options.judge, model=options.model or "toy", iterations=options.iterations,
                   final=result.metrics[-1])
    if options.payoff_games:
        with console.status("payoff matrix over the iterates ..."):
            report = _payoff(options, result, out)
        summary["payoff"] = dict(names=report["names"], nash_strategy=report["nash_strategy"], elo=report["elo"])
        files += [str(out / n) for n in ("matrix.json", "report.json", "payoff_heatmap.png", "ratings.png")]
    run_folder.write_json(out / "summary.json", summary)
    print(json.dumps(summary))
    console.print("wrote " + ", ".join(files))
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register `prefgame` on the `gigastep-jax` sub-command parsers."""
    from algorithms.preference import lm
    from algorithms.preference.generation import SamplingConfig
    from algorithms.preference.learners import LearnerConfig

    p = subparsers.add_parser("prefgame", help="LLM self-play (SPPO, SPO, INPO, Nash-MD; DPO, IPO, SimPO, iterative "
                                               "DPO / IPO, DNO) on a causal LM from a local folder or the toy LM")
    p.add_argument("--out", default="out/prefgame")
    flags.add_flags(p, PrefgameOptions, group="the run (PrefgameOptions)")
    flags.add_flags(p, loggers.LogOptions, group="experiment loggers beside metrics.jsonl (LogOptions)")
    flags.add_flags(p, LearnerConfig, aliases=dict(algorithm=("--algo",), k_samples=("--k",),
                                                   learning_rate=("--lr",)),
                    rename=dict(prompts="--batch-prompts"), group="the learner (LearnerConfig)")
    flags.add_flags(p, SamplingConfig, group="sampling from a --model (SamplingConfig)")
    flags.add_flags(p, lm.LMConfig, aliases=dict(n_layers=("--layers",)),
                    group="the language model (LMConfig; d_mlp, n_heads, prefix_mod follow d_model and the judge)")
    p.set_defaults(func=_prefgame)
    return p
