"""Preference-game throughput: sampled tokens per second, judged pairs per second, one SPPO iteration.

Prints one JSON object per configuration (compile seconds apart from run seconds; run seconds are
the best of `--repeats` calls after the compile; every output is reduced into the timed result so
XLA cannot drop work as dead code):
- `sample`: `lm.sample` (KV-cached decode, one `lax.scan` over the 8 positions) of B responses;
- `judge`: the class-cycle and the Bradley-Terry judge over every pair of K = 8 responses for B/8
  prompts (`judge_matrix_batch`, B·8 ordered pairs);
- `sppo_iteration`: one compiled `learner.update` at the tests' scale (32 prompts × K = 8 samples,
  8 epochs × 4 minibatches of Adam steps, the class-cycle judge), for the tests' small model and
  the default ~0.1 M-parameter model.

    python benchmarks/prefgame_throughput.py            # about a minute on 2 cores
    python benchmarks/prefgame_throughput.py --smoke    # tiny sizes, a few seconds
"""

from __future__ import annotations

import argparse
import json
import platform
import time

SMALL = dict(d_model=32, n_layers=1, d_mlp=64, n_heads=2, prefix_mod=3)
DEFAULT = dict(prefix_mod=3)


def _device() -> dict:
    import jax

    return dict(device=str(jax.devices()[0].device_kind), platform=jax.default_backend(),
                cpu=platform.processor() or platform.machine(), jax_version=jax.__version__)


def _timed(fn, *args, repeats: int):
    """(compile seconds, best run seconds) of a jitted fn whose outputs are blocked on."""
    import jax

    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    compile_s = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - start)
    return compile_s, best


def bench_sample(model: dict, batch: int, repeats: int) -> dict:
    import jax
    import jax.numpy as jnp

    from algorithms.preference import lm

    config = lm.LMConfig(**model)
    params = lm.init_params(jax.random.PRNGKey(0), config)
    x = jnp.zeros(batch, jnp.int32)

    @jax.jit
    def run(key):
        y, logp = lm.sample(config, params, key, x)
        return y.sum() + logp.sum()  # keep every token alive

    compile_s, run_s = _timed(run, jax.random.PRNGKey(1), repeats=repeats)
    tokens = batch * config.length
    return dict(bench="sample", params=lm.param_count(params), batch=batch, tokens=tokens, compile_s=round(compile_s, 3),
                run_s=round(run_s, 5), sampled_tokens_per_s=round(tokens / run_s), **_device())


def bench_judge(name: str, batch: int, repeats: int) -> dict:
    import jax

    from algorithms.preference import judges

    judge = judges.class_cycle(16) if name == "cycle" else judges.bradley_terry(16, length=8)
    k = 8
    prompts = max(1, batch // k)
    ys = jax.random.randint(jax.random.PRNGKey(0), (prompts, k, 8), 0, 16)
    x = jax.numpy.zeros(prompts, jax.numpy.int32)
    run = jax.jit(lambda x, ys: judges.judge_matrix_batch(judge, x, ys).sum())
    compile_s, run_s = _timed(run, x, ys, repeats=repeats)
    pairs = prompts * k * k
    return dict(bench="judge", judge=name, batch=batch, pairs=pairs, compile_s=round(compile_s, 3),
                run_s=round(run_s, 6), judged_pairs_per_s=round(pairs / run_s), **_device())


def bench_sppo(model: dict, label: str, repeats: int, prompts: int = 32) -> dict:
    import jax

    from algorithms.preference import judges, lm
    from algorithms.preference.learners import LearnerConfig, make_learner

    config = lm.LMConfig(**model)
    learner_config = LearnerConfig(algorithm="sppo", prompts=prompts, k_samples=8, epochs=8, minibatches=4, learning_rate=3e-3, eta=2.0)
    learner = make_learner(config, judges.class_cycle(16), learner_config)
    state = learner.init(lm.init_params(jax.random.PRNGKey(0), config))
    compile_s, run_s = _timed(lambda s, k: learner.update(s, k)[0].params, state, jax.random.PRNGKey(1),
                              repeats=repeats)
    return dict(bench="sppo_iteration", model=label, params=lm.param_count(state.params), prompts=prompts, k_samples=8,
                batch=prompts * 8, adam_steps=8 * 4, compile_s=round(compile_s, 3), iteration_s=round(run_s, 4),
                **_device())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (a check that the script runs)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    batches = [256] if args.smoke else [1024, 4096]
    models = [("small", SMALL)] if args.smoke else [("small", SMALL), ("default", DEFAULT)]
    for label, model in models:
        for batch in batches:
            print(json.dumps(dict(model=label, **bench_sample(model, batch, args.repeats))), flush=True)
    for name in ("cycle", "bt"):
        for batch in batches:
            print(json.dumps(bench_judge(name, batch, args.repeats)), flush=True)
    for label, model in models:
        print(json.dumps(bench_sppo(model, label, args.repeats, prompts=4 if args.smoke else 32)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
