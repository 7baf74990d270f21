"""A self-play run on the language model: reference by SFT, iterations, metrics, orbax iterates.

    judge = make_judge("cycle")
    result = run_selfplay(lm.LMConfig(prefix_mod=3), judge, LearnerConfig(algorithm="sppo"), iterations=30,
                          key=jax.random.PRNGKey(0), out_dir="out/prefgame")
    result.metrics[-1]["exploitability_average"]     # of the mixture of iterates 1..T
    result.population()                              # iterates π_0 = ρ, π_1..π_T stacked [T + 1, ...]

Python only orchestrates: each iteration is one compiled `learner.update`, each measurement one
compiled sampler. Metrics per iteration (one JSON object per line in out_dir/metrics.jsonl):
iteration, loss, exploitability (of π_t), exploitability_average (of the uniform mixture of π_1..π_t),
win_rate_vs_reference (E P(y ≻ y'), y ~ π_t, y' ~ ρ), kl_to_reference (nats), expected_reward (BT
judge), class_marginal (class judges, prompt 0), seconds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from pathlib import Path
from typing import Any, Callable

import jax
import numpy as np
import orbax.checkpoint as ocp

from algorithms import loggers, run_folder, validate
from algorithms.evaluation.game import stack
from algorithms.preference import judges, lm, metrics
from algorithms.preference.learners import LearnerConfig, make_learner

JUDGES = ("bt", "cycle", "noisy")


def make_judge(name: str, vocab: int = 16, length: int = 8, *, noise: float = 0.1,
               permute_by_prompt: bool = False) -> judges.Judge:
    """The CLI's judges: "bt" (Bradley–Terry over r(y) = Σ_t w[y_t], w = linspace(−1, 1, V)),
    "cycle" (testbed b: biased RPS over (Σ_t y_t) mod 3) and "noisy" (cycle with labels flipped with
    probability `noise`)."""
    if name == "bt":
        return judges.bradley_terry(vocab, length=length)
    if name == "cycle":
        return judges.class_cycle(vocab, permute_by_prompt=permute_by_prompt)
    if name == "noisy":
        return judges.with_noise(judges.class_cycle(vocab, permute_by_prompt=permute_by_prompt), noise)
    raise ValueError(f"unknown judge {name!r}; allowed: {', '.join(JUDGES)}")


def make_reference(config: lm.LMConfig, key: jax.Array, sft_steps: int = 50, batch: int = 64):
    """ρ: a fresh model (the uniform-token policy) fine-tuned for `sft_steps` steps on uniform data
    generated in code (0 steps: the fresh model). Returns (params, final SFT loss or None)."""
    k_init, k_sft = jax.random.split(key)
    params = lm.init_params(k_init, config)
    if sft_steps == 0:
        return params, None
    params, losses = lm.sft(config, params, k_sft, lm.uniform_data(config), steps=sft_steps, batch=batch)
    return params, float(losses[-1])


@dataclasses.dataclass
class RunResult:
    """iterates: [π_0 = ρ, π_1, ..., π_T] parameter pytrees; metrics: one dict per iteration;
    marginals: float[T, X, C] class marginals of π_1..π_T (class judges; else None)."""

    iterates: list
    metrics: list
    marginals: np.ndarray | None
    lm_config: lm.LMConfig
    judge: judges.Judge

    def population(self):
        """The iterates stacked along a leading axis [T + 1, ...] (a population of algorithms.evaluation.game)."""
        return stack(self.iterates)


def save_iterate(directory: str | os.PathLike, t: int, params) -> Path:
    """Write iterate t with orbax to directory/iterate_{t:04d}; returns that path."""
    path = Path(directory).resolve() / f"iterate_{t:04d}"
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(path, params, force=True)
    checkpointer.wait_until_finished()
    return path


def load_iterates(directory: str | os.PathLike, template=None) -> tuple[list, list[int]]:
    """(parameter pytrees, their iteration numbers) of every iterate saved in directory, in order."""
    directory = Path(directory).resolve()
    paths = sorted(p for p in directory.glob("iterate_*") if p.is_dir())
    if not paths:
        raise ValueError(f"no iterates (iterate_NNNN folders) in {directory}")
    checkpointer = ocp.StandardCheckpointer()
    params = [checkpointer.restore(p, template) if template is not None else checkpointer.restore(p) for p in paths]
    return params, [int(p.name.split("_")[1]) for p in paths]


def _measure(config, judge, params, ref_params, key, eval_samples: int, marginals: list,
             best_values: list) -> dict[str, Any]:
    """Metrics of one iterate (see the module docstring); appends to the running marginal lists."""
    k_e, k_w, k_kl, k_r = jax.random.split(key, 4)
    out: dict[str, Any] = {}
    if judge.class_of is not None:
        m = np.asarray(metrics.class_marginal(config, params, judge, k_e, eval_samples))
        marginals.append(m)
        out["exploitability"] = metrics.lm_exploitability(judge, m)
        out["exploitability_average"] = metrics.mixture_exploitability(judge, marginals)
        out["class_marginal"] = [round(float(v), 5) for v in m[0]]
    elif judge.best_response is not None:  # linear in the policy: the mixture's value is the mean
        value = metrics.best_response_exploitability(config, params, judge, k_e, eval_samples)
        best_values.append(value)
        out["exploitability"] = value
        out["exploitability_average"] = float(np.mean(best_values))
    out["win_rate_vs_reference"] = metrics.win_rate(config, params, ref_params, judge, k_w, eval_samples // 4)
    out["kl_to_reference"] = metrics.kl_to(config, params, ref_params, k_kl, eval_samples // 4)
    if judge.name == "bt":
        w = np.linspace(-1.0, 1.0, config.vocab)
        out["expected_reward"] = metrics.expected_reward(config, params, w, k_r, eval_samples // 4)
    return out


def run_selfplay(config: lm.LMConfig, judge: judges.Judge, learner_config: LearnerConfig, iterations: int,
                 key: jax.Array, *, reference=None, sft_steps: int = 50, eval_samples: int = 4096,
                 out_dir: str | os.PathLike | None = None,
                 callback: Callable[[int, dict], None] | None = None,
                 tensorboard: bool = False, wandb: bool = False) -> RunResult:
    """Run `iterations` iterations of `learner_config.algorithm` from ρ (`reference`, or `make_reference`).

    Measures every iterate with `eval_samples` samples (>= 4096 for exploitability to ±0.01). With
    out_dir: writes out_dir/metrics.jsonl (one line per iteration, rewritten from scratch), the
    iterates as orbax checkpoints out_dir/iterates/iterate_NNNN (0 is ρ) and out_dir/config.json.
    `callback(t, metrics)` is called after every iteration (progress bars). tensorboard, wandb:
    log the rows there too, into out_dir (`algorithms.loggers`; step = the iteration).
    """
    validate.integer("iterations", iterations, 1)
    validate.integer("eval_samples", eval_samples, 4)
    log_options = loggers.LogOptions(tensorboard, wandb)
    if (tensorboard or wandb) and out_dir is None:
        raise ValueError("tensorboard and wandb log into the run folder: pass out_dir")
    loggers.check_available(log_options)
    k_ref, k_run = jax.random.split(key)
    learner = make_learner(config, judge, learner_config)  # checks vocabularies and lengths
    if reference is None:
        reference, _ = make_reference(config, k_ref, sft_steps)
    state = learner.init(reference)
    out = None if out_dir is None else Path(out_dir)
    if out is not None:
        run_folder.prepare(out / "iterates")
        run_folder.write_rows(out / "metrics.jsonl", [])
        run_folder.write_json(out / "config.json", dict(lm=dataclasses.asdict(config),
                                                        learner=dataclasses.asdict(learner_config),
                                                        judge=judge.name, iterations=int(iterations)))
        save_iterate(out / "iterates", 0, reference)
    iterates, rows, marginals, best_values = [reference], [], [], []
    log = loggers.RunLoggers(out, log_options, step_key="iteration",
                             config=dict(lm=dataclasses.asdict(config), learner=dataclasses.asdict(learner_config),
                                         judge=judge.name)) if out is not None else contextlib.nullcontext()
    with log:
        for t in range(1, iterations + 1):
            k_step, k_eval = jax.random.split(jax.random.fold_in(k_run, t))
            start = time.perf_counter()
            state, learner_metrics = learner.update(state, k_step)
            jax.block_until_ready(state.params)
            seconds = time.perf_counter() - start
            row = dict(iteration=t, algorithm=learner_config.algorithm, loss=float(learner_metrics["loss"]),
                       seconds=seconds)
            row.update(_measure(config, judge, state.params, reference, k_eval, int(eval_samples), marginals, best_values))
            iterates.append(state.params)
            rows.append(row)
            if out is not None:
                save_iterate(out / "iterates", t, state.params)
                run_folder.append_row(out / "metrics.jsonl", row)
                log.log(row)
            if callback is not None:
                callback(t, row)
    return RunResult(iterates=iterates, metrics=rows, marginals=np.asarray(marginals) if marginals else None,
                     lm_config=config, judge=judge)
