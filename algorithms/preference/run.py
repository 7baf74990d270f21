"""A self-play run of the preference game: reference, iterations, metrics, datasets, iterates, resume.

    judge = make_judge("cycle")
    result = run_selfplay(lm.LMConfig(prefix_mod=3), judge, LearnerConfig(algorithm="sppo"), iterations=30,
                          key=jax.random.PRNGKey(0), out_dir="out/prefgame")
    result.metrics[-1]["exploitability_average"]     # of the mixture of iterates 1..T
    result.population()                              # iterates π_0 = ρ, π_1..π_T stacked [T + 1, ...]

    policy = CausalPolicy.from_jsonl(load_causal_lm("my-model"), "prompts.jsonl")   # a real causal LM
    run_selfplay(policy, judge, LearnerConfig(algorithm="sppo"), 10, key, reference=model.params, out_dir=...)

Python only orchestrates: each iteration is one compiled `learner.update_with_data`, each
measurement one compiled sampler. With out_dir, everything goes into the folder:
- metrics.jsonl: one JSON object per iteration: every learner metric (loss, margins, log-ratios,
  KL, clip fraction, chosen and rejected log-probabilities, the spread of sampled win rates, ...),
  then the measurements: exploitability (of π_t) and exploitability_average (of the uniform mixture
  of π_1..π_t) on judges where it is exact, win_rate_vs_reference (E P(y ≻ y'), y ~ π_t, y' ~ ρ),
  kl_to_reference (nats), response_length (of π_t's samples against ρ, EOS excluded; the
  learner's `sample_length` is that of the iteration's training samples, EOS included),
  lc_win_rate_vs_reference and lc_even_share (variable-length policies, `length`),
  expected_reward (the toy BT judge), class_marginal (class judges, prompt 0), seconds;
- iterates/iterate_NNNN: π_t's parameters (orbax; 0 is ρ);
- data/iteration_NNNN.npz and .jsonl: the iteration's dataset: prompt, the K responses (decoded
  text for a real model), the judge's matrix P [K, K], the win rates P̂, chosen and rejected;
- state/: the learner's state after the last finished iteration (parameters, optimiser state,
  reference, iteration, RNG key and the running measurements), written atomically by orbax.
A run whose folder already holds a state resumes from it (same configuration required); each
iteration's keys derive from the run key and the iteration number alone, so a killed-and-resumed
run ends exactly where an uninterrupted one does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from algorithms import loggers, run_folder, validate
from algorithms.evaluation.game import stack
from algorithms.marl import checkpoint
from algorithms.preference import judges, lm, metrics
from algorithms.preference.learners import LearnerConfig, make_learner
from algorithms.preference.policy import as_policy

JUDGES = ("bt", "cycle", "noisy", "length")


def mean_token_reward(weights, pad_id: int | None) -> Callable:
    """r(x, y) = the mean of w[y_t] over y's content positions: a reward that does not grow with length."""
    w = jnp.asarray(np.asarray(weights, np.float32))

    def reward(x, y):
        m = judges.content_mask(y, pad_id)
        return jnp.where(m, w[y], 0.0).sum() / jnp.maximum(m.sum(), 1)

    return reward


@functools.lru_cache(maxsize=64)  # one Judge per setting: compiled learners and measurements key on it
def make_judge(name: str, vocab: int = 16, length: int = 8, *, noise: float = 0.1,
               permute_by_prompt: bool = False, pad_id: int | None = None,
               length_weight: float = 0.5) -> judges.Judge:
    """The CLI's judges over responses of `length` positions (`pad_id` after a response's end):
    "bt" (Bradley–Terry over r(y) = Σ_t w[y_t], w = linspace(−1, 1, V)), "cycle" (testbed b: biased
    RPS over (Σ_t y_t) mod 3), "noisy" (cycle with labels flipped with probability `noise`) and
    "length" (Bradley–Terry over the mean token weight, which length does not raise, plus
    `length_weight` on the logit per extra token: `judges.length_biased`)."""
    if name == "bt":
        return judges.bradley_terry(vocab, length=length, pad_id=pad_id)
    if name == "cycle":
        return judges.class_cycle(vocab, permute_by_prompt=permute_by_prompt, pad_id=pad_id)
    if name == "noisy":
        return judges.with_noise(judges.class_cycle(vocab, permute_by_prompt=permute_by_prompt, pad_id=pad_id), noise)
    if name == "length":
        base = judges.bradley_terry(vocab, mean_token_reward(np.linspace(-1.0, 1.0, vocab), pad_id), pad_id=pad_id)
        return judges.length_biased(base, length_weight, pad_id)
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
    policy: Any
    judge: judges.Judge

    @property
    def lm_config(self):  # the toy model's config (None for a real model's policy)
        return getattr(self.policy, "config", None)

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
    paths = sorted(p for p in directory.glob("iterate_*") if p.is_dir() and p.name[len("iterate_"):].isdigit())
    if not paths:
        raise ValueError(f"no iterates (iterate_NNNN folders) in {directory}")
    checkpointer = ocp.StandardCheckpointer()
    params = []
    for p in paths:
        try:
            params.append(checkpointer.restore(p, template) if template is not None else checkpointer.restore(p))
        except Exception as e:  # noqa: BLE001  orbax raises many kinds
            raise ValueError(f"iterate {p} is corrupt or does not match the model: {type(e).__name__}: "
                             f"{str(e)[:200]}") from None
    return params, [int(p.name.split("_")[1]) for p in paths]


def export_model(policy, params, path) -> Path:
    """Write a real model's parameters (LoRA adapters merged into the base) as a Hugging Face folder
    (config.json, model.safetensors, tokenizer.json) that `load_causal_lm` and transformers read."""
    from algorithms.preference import hf_format

    if not hasattr(policy, "prompt_tokens"):
        raise ValueError("export_model writes real causal LMs; the toy model's iterates are orbax checkpoints")
    plain = policy.merged(params) if hasattr(policy, "merged") else params
    return hf_format.save_causal_lm(path, policy.config, jax.device_get(plain), policy.tokenizer)


def save_dataset(directory: Path, t: int, data: dict, policy) -> None:
    """Write iteration t's dataset as data/iteration_NNNN.npz (arrays) and .jsonl (one line per
    prompt: prompt id and text, responses decoded, P, P̂, chosen and rejected), each atomically."""
    data = {k: np.asarray(v) for k, v in jax.device_get(data).items()}
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f"iteration_{t:04d}.tmp.npz"
    np.savez_compressed(tmp, **data)
    os.replace(tmp, directory / f"iteration_{t:04d}.npz")
    prompts = getattr(policy, "prompts", ())
    rows = []
    for b in range(data["x"].shape[0]):
        x = int(data["x"][b])
        texts = policy.decode(data["y"][b])
        rows.append(dict(prompt_id=x, prompt=prompts[x] if x < len(prompts) else None, responses=texts,
                         tokens=data["y"][b].tolist(), preference=np.round(data["p"][b], 5).tolist(),
                         win_rate=np.round(data["win"][b], 5).tolist(), chosen=int(data["chosen"][b]),
                         rejected=int(data["rejected"][b])))
    run_folder.write_rows(directory / f"iteration_{t:04d}.jsonl", rows)


def _measure(policy, judge, params, ref_params, key, eval_samples: int, marginals: list,
             best_values: list) -> dict[str, Any]:
    """Metrics of one iterate (see the module docstring); appends to the running marginal lists."""
    k_e, k_w, k_kl, k_r = jax.random.split(key, 4)
    out: dict[str, Any] = {}
    if judge.class_of is not None:
        m = np.asarray(metrics.class_marginal(policy, params, judge, k_e, eval_samples))
        marginals.append(m)
        out["exploitability"] = metrics.lm_exploitability(judge, m)
        out["exploitability_average"] = metrics.mixture_exploitability(judge, marginals)
        out["class_marginal"] = [round(float(v), 5) for v in m[0]]
    elif judge.best_response is not None:  # linear in the policy: the mixture's value is the mean
        value = metrics.best_response_exploitability(policy, params, judge, k_e, eval_samples)
        best_values.append(value)
        out["exploitability"] = value
        out["exploitability_average"] = float(np.mean(best_values))
    games = metrics.head_to_head(policy, params, ref_params, judge, k_w, max(eval_samples // 4, 1))
    out["win_rate_vs_reference"] = float(games["outcome"].mean())
    out["response_length"] = float(games["len_a"].mean())
    if np.ptp(np.concatenate([games["len_a"], games["len_b"]])) > 0:  # lengths vary: control for them
        from algorithms.preference import length
        lc = length.length_controlled_win_rate(games["outcome"], games["len_a"], games["len_b"])
        out["lc_win_rate_vs_reference"] = float(lc["lc_win_rate"])
        out["lc_even_share"] = float(lc["even_share"])  # games within a token of even length: what LC rests on
    out["kl_to_reference"] = metrics.kl_to(policy, params, ref_params, k_kl, max(eval_samples // 4, 1))
    if judge.name == "bt" and getattr(policy, "pad_id", None) is None:
        w = np.linspace(-1.0, 1.0, policy.vocab)
        out["expected_reward"] = metrics.expected_reward(policy, params, w, k_r, max(eval_samples // 4, 1))
    return out


def _run_config(policy, judge, learner_config, iterations, key, eval_samples) -> dict:
    """What a resumed run must share with the run it resumes (config.json)."""
    return dict(policy=policy.describe(), learner=dataclasses.asdict(learner_config), judge=judge.name,
                iterations=int(iterations), eval_samples=int(eval_samples),
                key=np.asarray(jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
                               else key).tolist())


def _resume(out: Path, config: dict, template_state) -> tuple[Any, dict] | None:
    """(state, measurements) of the last finished iteration saved in out/state, or None."""
    steps = checkpoint.steps(out / "state")
    if not steps:
        return None
    saved = json.loads(json.dumps(checkpoint.saved_json(out / "state", steps[-1])))
    wanted = json.loads(json.dumps(config))
    diff = [k for k in wanted if k != "iterations" and saved.get(k) != wanted[k]]
    if diff:
        raise ValueError(f"{out} holds a run with a different configuration ({', '.join(diff)} differ); resume "
                         f"with the same settings or choose another output folder")
    return checkpoint.restore(out / "state", steps[-1], template_state)


def run_selfplay(policy, judge: judges.Judge, learner_config: LearnerConfig, iterations: int,
                 key: jax.Array, *, reference=None, sft_steps: int = 50, eval_samples: int = 4096,
                 out_dir: str | os.PathLike | None = None, save_data: bool = True,
                 callback: Callable[[int, dict], None] | None = None,
                 tensorboard: bool = False, wandb: bool = False) -> RunResult:
    """Run `iterations` iterations of `learner_config.algorithm` from ρ.

    policy: an `lm.LMConfig` (the toy model; ρ is `reference` or `make_reference`) or a
    `policy.Policy` such as `CausalPolicy` (then `reference`, e.g. a loaded model's params, is required).
    Measures every iterate with `eval_samples` samples (>= 4096 for exploitability to ±0.01). With
    out_dir: writes the folder described in the module docstring and resumes a run found there.
    `callback(t, metrics)` is called after every iteration (progress bars). tensorboard, wandb:
    log the rows there too, into out_dir (`algorithms.loggers`; step = the iteration).
    """
    validate.integer("iterations", iterations, 1)
    validate.integer("eval_samples", eval_samples, 4)
    log_options = loggers.LogOptions(tensorboard, wandb)
    if (tensorboard or wandb) and out_dir is None:
        raise ValueError("tensorboard and wandb log into the run folder: pass out_dir")
    loggers.check_available(log_options)
    model = policy
    policy = as_policy(policy)
    k_ref, k_run = jax.random.split(key)
    learner = make_learner(policy, judge, learner_config)  # checks vocabularies and lengths
    if reference is None:
        if not isinstance(model, lm.LMConfig):
            raise ValueError("a real model's run needs reference=<its parameters> (e.g. load_causal_lm(path).params)")
        reference, _ = make_reference(model, k_ref, sft_steps)
    state = learner.init(reference)
    out = None if out_dir is None else Path(out_dir)
    iterates, rows, marginals, best_values = [reference], [], [], []
    start_t = 1
    if out is not None:
        config = _run_config(policy, judge, learner_config, iterations, key, eval_samples)
        carry = dict(state=state, key=jax.random.key_data(k_run) if jnp.issubdtype(k_run.dtype, jax.dtypes.prng_key)
                     else k_run)
        resumed = _resume(out, config, carry)
        if resumed is None:
            for stale in ("state", "iterates", "data"):
                shutil.rmtree(out / stale, ignore_errors=True)
            run_folder.prepare(out / "iterates")
            run_folder.write_rows(out / "metrics.jsonl", [])
            save_iterate(out / "iterates", 0, reference)
        else:
            carry, saved = resumed
            state = carry["state"]
            done = int(state.iteration)
            rows = [r for r in run_folder.read_rows(out / "metrics.jsonl") if r["iteration"] <= done]
            run_folder.write_rows(out / "metrics.jsonl", rows)
            marginals = [np.asarray(m) for m in saved.get("marginals", [])]
            best_values = list(saved.get("best_values", []))
            loaded, steps = load_iterates(out / "iterates", reference)
            iterates = [loaded[steps.index(t)] for t in range(done + 1)]
            start_t = done + 1
        run_folder.write_json(out / "config.json", config)
    log = loggers.RunLoggers(out, log_options, step_key="iteration",
                             config=dict(policy=policy.describe(), learner=dataclasses.asdict(learner_config),
                                         judge=judge.name)) if out is not None else contextlib.nullcontext()
    with log:
        for t in range(start_t, iterations + 1):
            k_step, k_eval = jax.random.split(jax.random.fold_in(k_run, t))
            begin = time.perf_counter()
            state, learner_metrics, data = learner.update_with_data(state, k_step)
            jax.block_until_ready(state.params)
            seconds = time.perf_counter() - begin
            row = dict(iteration=t, algorithm=learner_config.algorithm, seconds=seconds)
            row.update({k: float(v) for k, v in learner_metrics.items()})
            row.update(_measure(policy, judge, state.params, reference, k_eval, int(eval_samples), marginals,
                                best_values))
            iterates.append(state.params)
            rows.append(row)
            if out is not None:
                save_iterate(out / "iterates", t, state.params)
                if save_data:
                    save_dataset(out / "data", t, data, policy)
                run_folder.append_row(out / "metrics.jsonl", row)
                # last: a kill before this line replays iteration t from the state of t − 1
                mngr = checkpoint.manager(out / "state")
                checkpoint.save(mngr, t, dict(state=state, key=carry["key"]), config,
                                dict(marginals=[m.tolist() for m in marginals], best_values=best_values))
                for old in mngr.all_steps():
                    if old < t:
                        mngr.delete(old)
                log.log(row)
            if callback is not None:
                callback(t, row)
    return RunResult(iterates=iterates, metrics=rows, marginals=np.asarray(marginals) if marginals else None,
                     policy=policy, judge=judge)
